import { expect } from "chai";
import hre, { deployments, ethers } from "hardhat";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { deployProtocol, ftns, impersonate } from "../support/fixtures";

describe("Marketplace tasks", () => {
  const fixture = deployments.createFixture(async () => {
    const protocol = await deployProtocol();
    const treasury = await impersonate(await protocol.timelock.getAddress());
    for (const user of protocol.users.slice(0, 3)) await protocol.token.connect(treasury).transfer(user.address, ftns(1_000));
    return { ...protocol, treasury };
  });

  async function quietly<T>(fn: () => Promise<T>): Promise<T> {
    const log = console.log;
    console.log = () => undefined;
    try {
      return await fn();
    } finally {
      console.log = log;
    }
  }

  it("lists, opens with a permit, signs and charges a receipt, closes and withdraws", async () => {
    const { marketplace, token, users } = await fixture();
    const [provider, renter] = users; // accounts 1 and 2
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "prsm-"));
    await quietly(async () => {
      const listingId: bigint = await hre.run("market:list", {
        metadata: "ipfs://bafy-demo", category: "code", unit: "token", price: "0.01", bond: "100", from: "1",
        contentHash: "", royaltyRecipient: "", royaltyBps: "0",
      });
      const escrowId: bigint = await hre.run("market:open", { listing: listingId.toString(), deposit: "20", cap: "", duration: "600", from: "2" });
      const file = path.join(dir, "receipt.json");
      await hre.run("market:sign-receipt", { escrow: escrowId.toString(), units: "500", sequence: "1", validFor: "3600", out: file, from: "2" });
      expect(await hre.run("market:charge", { receipt: file, from: "1" })).to.equal(ftns(5));
      await time.increase(700);
      await hre.run("market:close", { escrow: escrowId.toString(), from: "" });
      const balanceBefore = await token.balanceOf(provider.address);
      const owed: bigint = await hre.run("market:withdraw", { for: "", from: "1" });
      expect(await token.balanceOf(provider.address)).to.equal(balanceBefore + owed);
      expect(owed).to.equal((ftns(5) * 9_750n) / 10_000n);
      await hre.run("market:show", { escrow: escrowId.toString(), listing: "" });
    });
    expect(await token.balanceOf(renter.address)).to.equal(ftns(1_000) - ftns(5));
    expect((await marketplace.getListing(await marketplace.listingCount())).metadataURI).to.equal("ipfs://bafy-demo");
  });

  it("disputes an attested charge", async () => {
    const { marketplace, treasury, users } = await fixture();
    const verifier = await (await ethers.getContractFactory("MockAttestationVerifier")).deploy();
    await marketplace.connect(treasury).setAttestationVerifier(await verifier.getAddress());
    await quietly(async () => {
      const escrowId: bigint = await hre.run("market:open", { listing: "1", deposit: "10", cap: "", duration: "600", from: "2" });
      await verifier.approve(escrowId, 1_000n, 1n, ethers.ZeroHash);
      await marketplace.chargeWithAttestation(escrowId, 1_000n, 1n, ethers.ZeroHash, "0x");
      await hre.run("market:dispute", { charge: (await marketplace.chargeCount()).toString(), from: "2" });
    });
    expect((await marketplace.getCharge(await marketplace.chargeCount())).status).to.equal(2n);
    void users;
  });

  it("rejects bad input with a clear message", async () => {
    await fixture();
    const message = (e: Error) => e.message;
    expect(await hre.run("market:list", { metadata: "x", category: "music", unit: "token", price: "1", bond: "1" }).catch(message)).to.match(/--category must be one of/);
    expect(await hre.run("market:list", { metadata: "x", category: "code", unit: "byte", price: "1", bond: "1" }).catch(message)).to.match(/--unit must be one of/);
    expect(await hre.run("market:open", { listing: "x", deposit: "1" }).catch(message)).to.match(/--listing: "x" is not a whole number/);
    expect(await hre.run("market:open", { listing: "1", deposit: "lots" }).catch(message)).to.match(/--deposit: "lots" is not an FTNS amount/);
    expect(await hre.run("market:charge", { receipt: "/missing.json" }).catch(message)).to.match(/--receipt \/missing.json/);
    expect(await hre.run("market:withdraw", { from: "5" }).catch(message)).to.match(/has no unclaimed payouts/);
    expect(await hre.run("market:show", { escrow: "77" }).catch(message)).to.match(/No escrow 77/);
  });
});
