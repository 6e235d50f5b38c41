/**
 * Governance helpers for tests: drive proposals through the plain OpenZeppelin IGovernor ABI, as an external client
 * (Tally-style) would, so the tests also prove that such a client can run the whole lifecycle.
 */
import { artifacts, ethers } from "hardhat";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import type { BaseContract, ContractRunner } from "ethers";

export interface Action {
  target: string;
  value?: bigint;
  data: string;
}

export interface Proposal {
  targets: string[];
  values: bigint[];
  calldatas: string[];
  description: string;
  descriptionHash: string;
  id: bigint;
}

export const ProposalState = {
  Pending: 0n,
  Active: 1n,
  Canceled: 2n,
  Defeated: 3n,
  Succeeded: 4n,
  Queued: 5n,
  Expired: 6n,
  Executed: 7n,
} as const;

export const VoteType = { Against: 0, For: 1, Abstain: 2 } as const;

/** A contract handle that knows only OpenZeppelin's IGovernor ABI. */
export async function asIGovernor(address: string, runner: ContractRunner) {
  const { abi } = await artifacts.readArtifact("@openzeppelin/contracts/governance/IGovernor.sol:IGovernor");
  return new ethers.Contract(address, abi, runner);
}

export async function propose(
  governor: BaseContract,
  proposer: HardhatEthersSigner,
  actions: Action[],
  description: string,
): Promise<Proposal> {
  const client = await asIGovernor(await governor.getAddress(), proposer);
  const targets = actions.map((a) => a.target);
  const values = actions.map((a) => a.value ?? 0n);
  const calldatas = actions.map((a) => a.data);
  await (await client.propose(targets, values, calldatas, description)).wait();
  const descriptionHash = ethers.id(description);
  const id: bigint = await client.getProposalId(targets, values, calldatas, descriptionHash);
  return { targets, values, calldatas, description, descriptionHash, id };
}

/** Moves time to the first second at which voting is open. */
export async function toVotingStart(governor: BaseContract, proposal: Proposal) {
  const client = await asIGovernor(await governor.getAddress(), ethers.provider);
  await time.increaseTo(Number(await client.proposalSnapshot(proposal.id)) + 1);
}

/** Moves time past the (possibly extended) voting deadline. */
export async function toVotingEnd(governor: BaseContract, proposal: Proposal) {
  const client = await asIGovernor(await governor.getAddress(), ethers.provider);
  await time.increaseTo(Number(await client.proposalDeadline(proposal.id)) + 1);
}

export async function queue(governor: BaseContract, proposal: Proposal, signer: HardhatEthersSigner) {
  const client = await asIGovernor(await governor.getAddress(), signer);
  return client.queue(proposal.targets, proposal.values, proposal.calldatas, proposal.descriptionHash);
}

export async function execute(governor: BaseContract, proposal: Proposal, signer: HardhatEthersSigner) {
  const client = await asIGovernor(await governor.getAddress(), signer);
  return client.execute(proposal.targets, proposal.values, proposal.calldatas, proposal.descriptionHash);
}

/** Proposes, votes For with `voters`, queues, waits out the timelock and executes. */
export async function passProposal(
  governor: BaseContract,
  voters: HardhatEthersSigner[],
  actions: Action[],
  description: string,
  timelockDelay: number,
): Promise<Proposal> {
  const proposal = await propose(governor, voters[0], actions, description);
  await toVotingStart(governor, proposal);
  for (const voter of voters) {
    await (await (await asIGovernor(await governor.getAddress(), voter)).castVote(proposal.id, VoteType.For)).wait();
  }
  await toVotingEnd(governor, proposal);
  await (await queue(governor, proposal, voters[0])).wait();
  await time.increase(timelockDelay + 1);
  await (await execute(governor, proposal, voters[0])).wait();
  return proposal;
}

/**
 * ERC-165 interface id as Solidity's `type(I).interfaceId` computes it: the XOR of the selectors the interface
 * declares itself, so functions inherited from `parents` (whose artifacts list them too) are left out.
 */
export async function interfaceId(fullyQualifiedName: string, parents: string[] = []): Promise<string> {
  const selectors = async (name: string) => {
    const iface = new ethers.Interface((await artifacts.readArtifact(name)).abi);
    const out: string[] = [];
    iface.forEachFunction((fn) => out.push(fn.selector));
    return out;
  };
  const inherited = new Set((await Promise.all(parents.map(selectors))).flat());
  let id = 0n;
  for (const selector of await selectors(fullyQualifiedName)) if (!inherited.has(selector)) id ^= BigInt(selector);
  return ethers.toBeHex(id, 4);
}
