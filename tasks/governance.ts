/**
 * Governance from the command line, through plain contract calls:
 *   npx hardhat gov:delegate --to 0x… [--from 1]
 *   npx hardhat gov:register --account 0x…            (an attestor's call; takes effect 14 days later)
 *   npx hardhat gov:propose --actions proposal.json --description "…"
 *   npx hardhat gov:vote --id 123 --support for [--reason "…"] [--by-sig]
 *   npx hardhat gov:queue --id 123 / gov:execute --id 123 / gov:state --id 123
 * A proposal JSON is an array of { "target": "0x…" | "<deployment name>", "value": "0", "signature":
 * "setQuorum(uint256)", "args": [...] } or { "target": …, "calldata": "0x…" }.
 */
import fs from "node:fs";
import { task, types } from "hardhat/config";
import type { HardhatRuntimeEnvironment } from "hardhat/types";
import type { FTNSGovernor, FTNSToken } from "../typechain-types";
import { Deployments } from "../config/deployments";
import { contractAt, parseAddress, signerFor, taskError } from "./support";

const STATES = ["Pending", "Active", "Canceled", "Defeated", "Succeeded", "Queued", "Expired", "Executed"];
const SUPPORT: Record<string, number> = { against: 0, for: 1, abstain: 2 };

interface ActionSpec {
  target: string;
  value?: string;
  signature?: string;
  args?: unknown[];
  calldata?: string;
}

async function resolveTarget(hre: HardhatRuntimeEnvironment, target: string): Promise<string> {
  if (hre.ethers.isAddress(target)) return hre.ethers.getAddress(target);
  const deployment = await hre.deployments.getOrNull(target);
  if (!deployment) throw taskError(`Action target "${target}" is neither an address nor a deployment name`);
  return deployment.address;
}

export async function readActions(hre: HardhatRuntimeEnvironment, file: string) {
  let specs: ActionSpec[];
  try {
    specs = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (error) {
    throw taskError(`--actions ${file}: ${(error as Error).message}`);
  }
  if (!Array.isArray(specs) || specs.length === 0) throw taskError(`--actions ${file}: expected a non-empty JSON array`);
  const targets: string[] = [];
  const values: bigint[] = [];
  const calldatas: string[] = [];
  for (const [i, spec] of specs.entries()) {
    targets.push(await resolveTarget(hre, spec.target));
    values.push(BigInt(spec.value ?? "0"));
    if (spec.calldata !== undefined) {
      calldatas.push(spec.calldata);
    } else if (spec.signature) {
      const iface = new hre.ethers.Interface([`function ${spec.signature}`]);
      calldatas.push(iface.encodeFunctionData(iface.getFunction(spec.signature)!, spec.args ?? []));
    } else {
      throw taskError(`--actions ${file}: action ${i} needs "calldata" or "signature" (+ "args")`);
    }
  }
  return { targets, values, calldatas };
}

/** Recovers a proposal's actions from its ProposalCreated event, so queue/execute need only the id. */
async function proposalDetails(hre: HardhatRuntimeEnvironment, governor: FTNSGovernor, id: bigint) {
  const fromBlock = (await hre.deployments.get(Deployments.Governor)).receipt?.blockNumber ?? 0;
  const logs = await governor.queryFilter(governor.filters.ProposalCreated(), fromBlock);
  const log = logs.find((l) => l.args.proposalId === id);
  if (!log) throw taskError(`No proposal ${id} on ${hre.network.name}`);
  const { targets, calldatas, description } = log.args;
  return {
    targets: [...targets],
    values: [...log.args[3]].map((v) => BigInt(v)),
    calldatas: [...calldatas],
    descriptionHash: hre.ethers.id(description),
  };
}

task("gov:delegate", "Delegate your FTNS votes (to yourself to vote directly)")
  .addParam("to", "delegatee address")
  .addOptionalParam("from", "account index or address", "")
  .setAction(async ({ to, from }, hre) => {
    const signer = await signerFor(hre, from);
    const token = await contractAt<FTNSToken>(hre, Deployments.Token);
    await (await token.connect(signer).delegate(parseAddress(hre, to, "--to"))).wait();
    console.log(`${signer.address} delegates to ${to}; votes now ${hre.ethers.formatEther(await token.getVotes(to))} FTNS`);
  });

task("gov:register", "Register a participant (callable by an attestor; effective 14 days later)")
  .addParam("account", "participant address")
  .addOptionalParam("from", "attestor account index or address", "")
  .setAction(async ({ account, from }, hre) => {
    const signer = await signerFor(hre, from);
    const governor = await contractAt<FTNSGovernor>(hre, Deployments.Governor);
    const receipt = await (await governor.connect(signer).registerParticipant(parseAddress(hre, account, "--account"))).wait();
    const event = receipt!.logs.map((l) => governor.interface.parseLog(l)).find((e) => e?.name === "ParticipantRegistered");
    const since = BigInt(event!.args.since);
    // An attestor's registration takes effect after a delay and counts only for proposals created after that.
    console.log(`${account} is registered; it votes on proposals created after ${new Date(Number(since) * 1000).toISOString()}`);
    return since;
  });

task("gov:propose", "Create a proposal from a JSON file of actions")
  .addParam("actions", "path to the actions JSON")
  .addParam("description", "proposal text (its hash is part of the id)")
  .addOptionalParam("from", "account index or address", "")
  .setAction(async ({ actions, description, from }, hre) => {
    const signer = await signerFor(hre, from);
    const governor = await contractAt<FTNSGovernor>(hre, Deployments.Governor);
    const { targets, values, calldatas } = await readActions(hre, actions);
    await (await governor.connect(signer).propose(targets, values, calldatas, description)).wait();
    const id = await governor.getProposalId(targets, values, calldatas, hre.ethers.id(description));
    console.log(`proposal ${id}`);
    console.log(`voting opens at ${new Date(Number(await governor.proposalSnapshot(id)) * 1000).toISOString()}`);
    return id;
  });

task("gov:vote", "Vote on a proposal")
  .addParam("id", "proposal id")
  .addParam("support", "for | against | abstain")
  .addOptionalParam("reason", "a reason, recorded on chain", "")
  .addFlag("bySig", "sign the ballot and have another account (--relayer) submit it: gasless for the voter")
  .addOptionalParam("relayer", "account that submits a --by-sig vote", "")
  .addOptionalParam("from", "voter account index or address", "")
  .setAction(async ({ id, support, reason, bySig, relayer, from }, hre) => {
    const choice = SUPPORT[String(support).toLowerCase()];
    if (choice === undefined) throw taskError(`--support must be for, against or abstain (got "${support}")`);
    const voter = await signerFor(hre, from);
    const governor = await contractAt<FTNSGovernor>(hre, Deployments.Governor);
    const proposalId = BigInt(id);
    let tx;
    if (bySig) {
      const { name, version, chainId, verifyingContract } = await governor.eip712Domain();
      const nonce = await governor.nonces(voter.address);
      const signature = await voter.signTypedData(
        { name, version, chainId, verifyingContract },
        {
          Ballot: [
            { name: "proposalId", type: "uint256" },
            { name: "support", type: "uint8" },
            { name: "voter", type: "address" },
            { name: "nonce", type: "uint256" },
          ],
        },
        { proposalId, support: choice, voter: voter.address, nonce },
      );
      const submitter = await signerFor(hre, relayer);
      tx = await governor.connect(submitter).castVoteBySig(proposalId, choice, voter.address, signature);
    } else {
      tx = await governor.connect(voter).castVoteWithReason(proposalId, choice, reason);
    }
    const receipt = await tx.wait();
    const event = receipt!.logs.map((l) => governor.interface.parseLog(l)).find((e) => e?.name === "VoteCast");
    console.log(`${voter.address} voted ${support} with weight ${event?.args.weight} (quadratic units, 9 decimals)`);
  });

task("gov:queue", "Queue a succeeded proposal in the timelock")
  .addParam("id", "proposal id")
  .addOptionalParam("from", "account index or address", "")
  .setAction(async ({ id, from }, hre) => {
    const governor = await contractAt<FTNSGovernor>(hre, Deployments.Governor);
    const d = await proposalDetails(hre, governor, BigInt(id));
    await (await governor.connect(await signerFor(hre, from)).queue(d.targets, d.values, d.calldatas, d.descriptionHash)).wait();
    console.log(`queued; executable from ${new Date(Number(await governor.proposalEta(BigInt(id))) * 1000).toISOString()}`);
  });

task("gov:execute", "Execute a queued proposal once the timelock delay has passed")
  .addParam("id", "proposal id")
  .addOptionalParam("from", "account index or address", "")
  .setAction(async ({ id, from }, hre) => {
    const governor = await contractAt<FTNSGovernor>(hre, Deployments.Governor);
    const d = await proposalDetails(hre, governor, BigInt(id));
    await (await governor.connect(await signerFor(hre, from)).execute(d.targets, d.values, d.calldatas, d.descriptionHash)).wait();
    console.log("executed");
  });

task("gov:state", "Show a proposal's state and tally")
  .addParam("id", "proposal id")
  .setAction(async ({ id }, hre) => {
    const governor = await contractAt<FTNSGovernor>(hre, Deployments.Governor);
    const proposalId = BigInt(id);
    const state = STATES[Number(await governor.state(proposalId))];
    const [against, forVotes, abstain] = await governor.proposalVotes(proposalId);
    const snapshot = await governor.proposalSnapshot(proposalId);
    console.log(`state: ${state}`);
    console.log(`for ${forVotes}  against ${against}  abstain ${abstain}  quorum ${await governor.quorum(snapshot)} (quadratic units)`);
    console.log(`snapshot ${snapshot}  deadline ${await governor.proposalDeadline(proposalId)}`);
    console.log(`voters: participants registered at ${await governor.proposalRegistrationTimepoint(proposalId)} (just before creation)`);
    return state;
  });

export { types };
