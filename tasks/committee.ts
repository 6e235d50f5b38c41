/**
 * A committee member's own steps, with its own key (`--from`):
 *   npx hardhat committee:bond --amount 50000 --network amoy     # approve + bond (a genesis member bonds what it got)
 *   npx hardhat committee:show --member 0x... --network amoy
 */
import { task } from "hardhat/config";
import type { FTNSToken, FederationCommittee } from "../typechain-types";
import { Deployments } from "../config/deployments";
import { contractAt, parseAddress, parseAmount, signerFor, taskError } from "./support";

task("committee:bond", "Bond FTNS as a (prospective) federation committee member")
  .addParam("amount", "FTNS to bond (e.g. 50000)")
  .addOptionalParam("from", "member account index or address", "")
  .setAction(async (args, hre) => {
    const member = await signerFor(hre, args.from);
    const amount = parseAmount(hre, args.amount, "--amount");
    const committee = await contractAt<FederationCommittee>(hre, Deployments.Committee);
    const token = await contractAt<FTNSToken>(hre, Deployments.Token);
    const balance = await token.balanceOf(member.address);
    if (balance < amount) throw taskError(`${member.address} holds ${hre.ethers.formatEther(balance)} FTNS, less than --amount ${args.amount}`);
    if ((await token.allowance(member.address, await committee.getAddress())) < amount) {
      await (await token.connect(member).approve(await committee.getAddress(), amount)).wait();
    }
    await (await committee.connect(member).bond(amount)).wait();
    const state = await committee.getMember(member.address);
    console.log(`bonded: ${member.address} now has ${hre.ethers.formatEther(state.bond)} FTNS bonded (active: ${state.active})`);
  });

task("committee:show", "Show the committee, or one member")
  .addOptionalParam("member", "a member's address", "")
  .setAction(async (args, hre) => {
    const committee = await contractAt<FederationCommittee>(hre, Deployments.Committee);
    if (args.member) {
      const m = await committee.getMember(parseAddress(hre, args.member, "--member"));
      console.log(`bond ${hre.ethers.formatEther(m.bond)} FTNS, active ${m.active}`);
      return;
    }
    const members = await committee.currentMembers();
    console.log(`epoch ${await committee.currentEpoch()}: ${members.length} members`);
    for (const m of members) console.log(`  ${m}`);
  });
