import { expect } from "chai";
import hre, { deployments, ethers } from "hardhat";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { deployProtocol, ftns, impersonate } from "../support/fixtures";
import { passProposal } from "../support/governance";

describe("Governance tasks", () => {
  const fixture = deployments.createFixture(async () => {
    const protocol = await deployProtocol();
    const treasury = await impersonate(await protocol.timelock.getAddress());
    await protocol.token.connect(treasury).transfer(protocol.users[0].address, ftns(10_000));
    await protocol.token.connect(treasury).transfer(protocol.users[1].address, ftns(100));
    return protocol;
  });

  it("runs a proposal from a JSON file through delegate, propose, vote (also by signature), queue and execute", async () => {
    const { governor, users } = await fixture();
    const quiet = console.log;
    console.log = () => undefined;
    try {
      await hre.run("gov:delegate", { to: users[0].address, from: "1" });
      await hre.run("gov:delegate", { to: users[1].address, from: "2" });
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "prsm-")), "actions.json");
      fs.writeFileSync(file, JSON.stringify([{ target: "FTNSGovernor", signature: "setVotingPeriod(uint32)", args: [600] }]));
      await time.increase(1);
      const id: bigint = await hre.run("gov:propose", { actions: file, description: "Longer votes", from: "1" });
      await time.increase(11);
      await hre.run("gov:vote", { id: id.toString(), support: "for", reason: "more time", from: "1", bySig: false, relayer: "" });
      await hre.run("gov:vote", { id: id.toString(), support: "against", reason: "", from: "2", bySig: true, relayer: "15" });
      await time.increaseTo(Number(await governor.proposalDeadline(id)) + 1);
      expect(await hre.run("gov:state", { id: id.toString() })).to.equal("Succeeded");
      await hre.run("gov:queue", { id: id.toString(), from: "" });
      await time.increase(61);
      await hre.run("gov:execute", { id: id.toString(), from: "" });
      expect(await hre.run("gov:state", { id: id.toString() })).to.equal("Executed");
    } finally {
      console.log = quiet;
    }
    expect(await governor.votingPeriod()).to.equal(600n);
    expect(await governor.hasVoted(await governor.getProposalId([await governor.getAddress()], [0n], [governor.interface.encodeFunctionData("setVotingPeriod", [600])], ethers.id("Longer votes")), users[1].address)).to.equal(true);
  });

  it("registers a participant through an attestor, in effect only after the registration delay", async () => {
    const { governor, token, users } = await fixture();
    await token.connect(users[0]).delegate(users[0].address);
    await time.increase(1);
    const attestor = users[16];
    await passProposal(
      governor,
      [users[0]],
      [{ target: await governor.getAddress(), data: governor.interface.encodeFunctionData("setAttestor", [attestor.address, true]) }],
      "Appoint an attestor",
      60,
    );
    const account = users[12].address;
    const quiet = console.log;
    const lines: string[] = [];
    console.log = (line: string) => lines.push(line);
    let since: bigint;
    try {
      since = await hre.run("gov:register", { account, from: attestor.address });
    } finally {
      console.log = quiet;
    }
    expect(since).to.equal(BigInt(await time.latest()) + 14n * 24n * 3600n);
    expect(lines.join("\n")).to.contain(new Date(Number(since) * 1000).toISOString());
    expect(await governor.isParticipant(account)).to.equal(false);
    await time.increaseTo(since);
    expect(await governor.isParticipant(account)).to.equal(true);
  });

  it("rejects bad input with a clear message", async () => {
    await fixture();
    const message = (e: Error) => e.message;
    expect(await hre.run("gov:vote", { id: "1", support: "maybe", from: "1" }).catch(message)).to.match(
      /--support must be for, against or abstain/,
    );
    expect(await hre.run("gov:delegate", { to: "0x12", from: "1" }).catch(message)).to.match(/--to: "0x12" is not an address/);
    expect(await hre.run("gov:propose", { actions: "/nonexistent.json", description: "x" }).catch(message)).to.match(
      /--actions \/nonexistent.json/,
    );
    expect(await hre.run("gov:queue", { id: "12345" }).catch(message)).to.match(/No proposal 12345/);
  });
});
