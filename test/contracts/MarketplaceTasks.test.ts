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
      await hre.run("market:sign-receipt", { escrow: escrowId.toString(), units: "500", validFor: "3600", out: file, from: "2" });
      expect(Object.keys(JSON.parse(fs.readFileSync(file, "utf8")))).to.deep.equal(["escrowId", "cumulativeUnits", "deadline", "signature"]);
      expect(await hre.run("market:charge", { receipt: file, from: "1" })).to.equal(ftns(5));
      expect((await marketplace.getEscrow(escrowId)).units).to.equal(500n);
      // The same receipt again accounts no new usage.
      await expect(hre.run("market:charge", { receipt: file, from: "1" })).to.be.revertedWithCustomError(marketplace, "NoNewUsage");
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

  it("opens at the listing's price, and refuses a price above --max-price, a deposit below the minimum, a duration above the maximum", async () => {
    const { marketplace } = await fixture();
    const { pricePerUnit } = await marketplace.getListing(1);
    const maxDuration = await marketplace.maxEscrowDuration();
    const open = (extra: Record<string, string>) =>
      quietly(() => hre.run("market:open", { listing: "1", deposit: "10", cap: "", duration: "600", from: "2", ...extra }));
    const escrowId: bigint = await open({ maxPrice: ethers.formatEther(pricePerUnit) });
    expect((await marketplace.getEscrow(escrowId)).pricePerUnit).to.equal(pricePerUnit);
    await expect(open({ maxPrice: ethers.formatEther(pricePerUnit - 1n) }))
      .to.be.revertedWithCustomError(marketplace, "PriceAboveMaximum")
      .withArgs(1n, pricePerUnit, pricePerUnit - 1n);
    const tooSmall = ethers.formatEther((await marketplace.minEscrowDeposit()) - 1n);
    expect(await open({ deposit: tooSmall }).catch((e: Error) => e.message)).to.match(/--deposit: at least/);
    expect(await open({ duration: (maxDuration + 1n).toString() }).catch((e: Error) => e.message)).to.match(/--duration: at most/);
    await open({ duration: maxDuration.toString() });
  });

  async function attestedCharge(f: Awaited<ReturnType<typeof fixture>>) {
    const verifier = await (await ethers.getContractFactory("MockAttestationVerifier")).deploy();
    await f.marketplace.connect(f.treasury).setAttestationVerifier(await verifier.getAddress());
    const escrowId: bigint = await quietly(() => hre.run("market:open", { listing: "1", deposit: "10", cap: "", duration: "3600", from: "2" }));
    await verifier.approve(escrowId, 1_000n, 1n, ethers.ZeroHash);
    await f.marketplace.chargeWithAttestation(escrowId, 1_000n, 1n, ethers.ZeroHash, "0x");
    return { escrowId, chargeId: await f.marketplace.chargeCount() };
  }

  it("disputes an attested charge, approving the dispute bond, and applies the default after the deadline", async () => {
    const f = await fixture();
    const { marketplace, token, users } = f;
    const renter = users[1]; // account 2
    const { chargeId, escrowId } = await attestedCharge(f);
    const { disputeBond, disputeResolutionPeriod } = await marketplace.getTerms((await marketplace.getEscrow(escrowId)).termsId);
    expect(disputeBond).to.equal(ftns(1));
    const balanceBefore = await token.balanceOf(renter.address);
    const resolveBy: bigint = await quietly(() => hre.run("market:dispute", { charge: chargeId.toString(), from: "2" }));
    expect(await token.balanceOf(renter.address)).to.equal(balanceBefore - disputeBond);
    const charge = await marketplace.getCharge(chargeId);
    expect(charge.status).to.equal(2n);
    expect(charge.resolveBy).to.equal(resolveBy);
    expect(resolveBy).to.equal(BigInt(await time.latest()) + disputeResolutionPeriod);

    const message = (e: Error) => e.message;
    await expect(quietly(() => hre.run("market:resolve-expired", { charge: chargeId.toString(), from: "" })))
      .to.be.revertedWithCustomError(marketplace, "DisputeDeadlineNotReached");
    await time.increaseTo(resolveBy + 1n);
    const provider = (await marketplace.getListing(1)).provider;
    const payoutBefore = await marketplace.payoutOf(provider);
    expect(await quietly(() => hre.run("market:resolve-expired", { charge: chargeId.toString(), from: "5" }))).to.equal(charge.amount);
    expect((await marketplace.getCharge(chargeId)).status).to.equal(3n);
    const fee = (charge.amount * 250n + 9_999n) / 10_000n;
    expect(await marketplace.payoutOf(provider)).to.equal(payoutBefore + charge.amount - fee + disputeBond);
    expect(await hre.run("market:dispute", { charge: "99" }).catch(message)).to.match(/No charge 99/);
  });

  it("closes an escrow early as the listing's provider, refunding the unspent deposit", async () => {
    const f = await fixture();
    const { marketplace, token, users } = f;
    const renter = users[1]; // account 2
    const { escrowId } = await attestedCharge(f); // a pending charge stands through the close
    const escrow = await marketplace.getEscrow(escrowId);
    await expect(quietly(() => hre.run("market:close-by-provider", { escrow: escrowId.toString(), from: "2" })))
      .to.be.revertedWithCustomError(marketplace, "NotListingProvider");
    const balanceBefore = await token.balanceOf(renter.address);
    const provider = (await marketplace.getListing(1)).provider;
    const refund: bigint = await quietly(() => hre.run("market:close-by-provider", { escrow: escrowId.toString(), from: provider }));
    expect(refund).to.equal(escrow.deposit - escrow.charged);
    expect(await token.balanceOf(renter.address)).to.equal(balanceBefore + refund);
    expect((await marketplace.getEscrow(escrowId)).status).to.equal(2n);
  });

  it("rejects bad input with a clear message", async () => {
    await fixture();
    const message = (e: Error) => e.message;
    expect(await hre.run("market:list", { metadata: "x", category: "music", unit: "token", price: "1", bond: "1" }).catch(message)).to.match(/--category must be one of/);
    expect(await hre.run("market:list", { metadata: "x", category: "code", unit: "byte", price: "1", bond: "1" }).catch(message)).to.match(/--unit must be one of/);
    expect(await hre.run("market:open", { listing: "x", deposit: "1" }).catch(message)).to.match(/--listing: "x" is not a whole number/);
    expect(await hre.run("market:open", { listing: "1", deposit: "lots" }).catch(message)).to.match(/--deposit: "lots" is not an FTNS amount/);
    expect(await hre.run("market:open", { listing: "1", deposit: "1", maxPrice: "cheap" }).catch(message)).to.match(/--max-price: "cheap" is not an FTNS amount/);
    expect(await hre.run("market:charge", { receipt: "/missing.json" }).catch(message)).to.match(/--receipt \/missing.json/);
    expect(await hre.run("market:withdraw", { from: "5" }).catch(message)).to.match(/has no unclaimed payouts/);
    expect(await hre.run("market:show", { escrow: "77" }).catch(message)).to.match(/No escrow 77/);
    expect(await hre.run("market:close-by-provider", { escrow: "x" }).catch(message)).to.match(/--escrow: "x" is not a whole number/);
    expect(await hre.run("market:resolve-expired", { charge: "x" }).catch(message)).to.match(/--charge: "x" is not a whole number/);
  });
});
