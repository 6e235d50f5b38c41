/**
 * The rehearsal of a live deployment (`npm run deploy:rehearsal`; also run by `npm test`, test/e2e/rehearsal.test.ts):
 * the LIVE profile, unchanged (config/parameters.ts: 2-day timelock, 1-day voting delay, 7-day vote, live quorum
 * and bonds), deployed by the same scripts as Amoy to a local Hardhat node started as chain 80002, with the genesis
 * plan config/genesis/rehearsal.json (Hardhat's public development keys). Then it plays day one:
 *   1. deploy: the first run stops, as on a live network, until the bootstrap committee has bonded;
 *   2. the four members bond what the genesis sent them; the deploy runs again and hands over (roles, empty
 *      timelock queue and day-one liveness audited by deploy/99_handover.ts);
 *   3. a holder from the genesis allocation delegates and proposes a protocol fee change; participants vote; it is
 *      queued, waits the real 2-day delay (time travel) and executes;
 *   4. an early user claims its Merkle allocation, rents a launch listing with it, and a query is charged through
 *      the committee (the provider's report, the renter's authorization and 3 of 4 members' attestations, signed
 *      exactly as the gateway and the consensus nodes sign them) and paid out under the new fee.
 * Throws on the first step that does not work; returns what it measured.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createPublicClient, createWalletClient, defineChain, encodeFunctionData, http, keccak256, toBytes, type Address, type Hex, type PublicClient } from "viem";
import { deploymentsDir } from "../config/deployments";
import { loadGenesis } from "../config/genesis";
import { parametersFor } from "../config/parameters";
import { requestDigest, responseDigest, signAuthorization, usageResultDigest } from "../workers/shared/authorization";
import { encodeAttestation, signAttestation, signProviderReport } from "../workers/shared/usage-report";
import { account, noCompileAfterTestStage, privateKeyOf, Processes, ROOT, waitFor } from "../test/e2e/harness";

const NETWORK = "rehearsal";
const CHAIN_ID = 80002;
const DEPLOYER = 0;
const HOLDER = 1; // the community pool of the rehearsal genesis: 30M FTNS, a participant
const SECOND_VOTER = 2; // the ecosystem fund: 1M FTNS, a participant
const RENTER = 5; // an early user with a 500 FTNS Merkle claim
const COUNCIL = 19;
const MEMBERS = [14, 15, 16, 17];
const BIN = (tool: string) => path.join(ROOT, "node_modules", ".bin", tool);

export interface RehearsalResult {
  firstRunStopped: string;
  handover: string;
  proposalId: bigint;
  feeBps: number;
  escrowId: bigint;
  charged: bigint;
  fee: bigint;
}

export async function rehearse(options: { port?: number; log?: (line: string) => void } = {}): Promise<RehearsalResult> {
  const port = options.port ?? 8846;
  const log = options.log ?? ((line: string) => console.log(line));
  const processes = new Processes();
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), "prsm-rehearsal-"));
  const rpcUrl = `http://127.0.0.1:${port}`;
  const chain = defineChain({ id: CHAIN_ID, name: "rehearsal (chain 80002)", nativeCurrency: { name: "POL", symbol: "POL", decimals: 18 }, rpcUrls: { default: { http: [rpcUrl] } } });
  const publicClient = createPublicClient({ chain, transport: http(rpcUrl), pollingInterval: 50 }) as PublicClient;
  const wallet = (index: number) => createWalletClient({ chain, transport: http(rpcUrl), account: account(index) });
  const deployments = path.join(deploymentsDir(), NETWORK);
  fs.rmSync(deployments, { recursive: true, force: true });

  const env = {
    ...process.env,
    REHEARSAL_RPC_URL: rpcUrl,
    DEPLOYER_PRIVATE_KEY: privateKeyOf(DEPLOYER),
    GUARDIAN_ADDRESS: account(COUNCIL).address,
    SAFETY_COUNCIL_ADDRESS: account(COUNCIL).address,
  };
  const deploy = () => {
    const run = spawnSync(BIN("hardhat"), ["deploy", "--network", NETWORK, ...noCompileAfterTestStage()], { cwd: ROOT, env, encoding: "utf8", timeout: 600_000 });
    fs.appendFileSync(path.join(logDir, "deploy.log"), `${run.stdout}\n${run.stderr}\n`);
    return { ok: run.status === 0, output: `${run.stdout}\n${run.stderr}` };
  };
  const send = async (hash: Hex) => {
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success") throw new Error(`transaction ${hash} reverted`);
  };
  const contract = (name: string) => {
    const { address, abi } = JSON.parse(fs.readFileSync(path.join(deployments, `${name}.json`), "utf8"));
    return { address: address as Address, abi: abi as never };
  };
  const read = <T>(name: string, functionName: string, args: unknown[] = []) =>
    publicClient.readContract({ ...contract(name), functionName, args } as never) as Promise<T>;
  const write = async (from: number, name: string, functionName: string, args: unknown[]) =>
    send(await wallet(from).writeContract({ ...contract(name), functionName, args } as never));
  const travel = async (seconds: number) => {
    await publicClient.request({ method: "evm_increaseTime" as never, params: [seconds] as never });
    await publicClient.request({ method: "evm_mine" as never, params: [] as never });
  };

  try {
    processes.spawn("chain", BIN("hardhat"), ["node", "--hostname", "127.0.0.1", "--port", String(port), "--no-deploy"], { HARDHAT_CHAIN_ID: String(CHAIN_ID) }, path.join(logDir, "chain.log"));
    const id = await waitFor("the rehearsal node", () => publicClient.getChainId(), 60_000, 200);
    if (id !== CHAIN_ID) throw new Error(`the node serves chain ${id}, not ${CHAIN_ID}`);
    log(`rehearsal: local node as chain ${CHAIN_ID} on ${rpcUrl}; logs in ${logDir}`);

    // 1. First run: everything up to the genesis batch, then it waits for the committee to bond.
    const first = deploy();
    const stopped = first.output.match(/the bootstrap committee is not bonded yet[^\n]*/)?.[0];
    if (first.ok || !stopped) throw new Error(`the first deploy run should stop for the committee's bonds:\n${first.output.slice(-3000)}`);
    log(`rehearsal: first deploy run stopped as expected: ${stopped}`);

    // 2. Members bond what the genesis sent them (each with its own key), and the deploy completes.
    const genesis = loadGenesis(NETWORK);
    const committee = contract("FederationCommittee");
    for (const [i, index] of MEMBERS.entries()) {
      const bond = genesis.members[i]!.bond;
      if (genesis.members[i]!.address.toLowerCase() !== account(index).address.toLowerCase()) throw new Error(`genesis member ${i} is not account ${index}`);
      await write(index, "FTNSToken", "approve", [committee.address, bond]);
      await write(index, "FederationCommittee", "bond", [bond]);
    }
    const second = deploy();
    if (!second.ok) throw new Error(`the second deploy run failed:\n${second.output.slice(-4000)}`);
    const handover = second.output.match(/handover: roles as required[^\n]*/)?.[0];
    if (!handover) throw new Error(`the handover did not report its audit:\n${second.output.slice(-3000)}`);
    log(`rehearsal: ${handover}`);

    // 3. Governance on day one: delegate, propose a fee change, vote, queue, wait the real delay, execute.
    const live = parametersFor(NETWORK);
    await write(HOLDER, "FTNSToken", "delegate", [account(HOLDER).address]);
    await write(SECOND_VOTER, "FTNSToken", "delegate", [account(SECOND_VOTER).address]);
    await travel(live.governor.votingDelay > 0 ? 2 : 1);
    const market = contract("ModelMarketplace");
    const calldata = encodeFunctionData({ abi: market.abi, functionName: "setProtocolFee", args: [300] } as never);
    const description = "Rehearsal: protocol fee 250 -> 300 bps";
    const proposalArgs = [[market.address], [0n], [calldata]] as const;
    await write(HOLDER, "FTNSGovernor", "propose", [...proposalArgs, description]);
    const proposalId = await read<bigint>("FTNSGovernor", "hashProposal", [...proposalArgs, keccak256(toBytes(description))]);
    await travel(live.governor.votingDelay + 1);
    await write(HOLDER, "FTNSGovernor", "castVote", [proposalId, 1]);
    await write(SECOND_VOTER, "FTNSGovernor", "castVoteWithReason", [proposalId, 1, "day one works"]);
    await travel(live.governor.votingPeriod + 1);
    const succeeded = await read<number>("FTNSGovernor", "state", [proposalId]);
    if (succeeded !== 4) throw new Error(`the proposal ended in state ${succeeded}, not Succeeded (4)`);
    await write(HOLDER, "FTNSGovernor", "queue", [...proposalArgs, keccak256(toBytes(description))]);
    await travel(live.timelock.minDelay - 60);
    const early = await wallet(HOLDER).writeContract({ ...contract("FTNSGovernor"), functionName: "execute", args: [...proposalArgs, keccak256(toBytes(description))] } as never).then(
      () => "executed",
      () => "refused",
    );
    if (early !== "refused") throw new Error("the timelock executed before its 2-day delay");
    await travel(61);
    await write(SECOND_VOTER, "FTNSGovernor", "execute", [...proposalArgs, keccak256(toBytes(description))]);
    const feeBps = Number(await read<number>("ModelMarketplace", "protocolFeeBps"));
    if (feeBps !== 300) throw new Error(`the executed proposal left the fee at ${feeBps} bps`);
    log(`rehearsal: proposal ${proposalId} proposed, voted, queued, executed after the 2-day delay: fee ${feeBps} bps`);

    // 4. The market on day one: an early user claims, rents a launch listing, a query is charged by the committee.
    const claim = genesis.merkle[0]!;
    const claimName = fs.readdirSync(deployments).find((f) => f.startsWith("GenesisClaim_"))!.replace(/\.json$/, "");
    for (const [index, value] of claim.tree.entries()) {
      if (value[1].toLowerCase() !== account(RENTER).address.toLowerCase()) continue;
      await write(RENTER, claimName, "claim", [value[0], value[1], value[2], claim.tree.getProof(index)]);
    }
    const listing = await read<{ provider: Address; pricePerUnit: bigint }>("ModelMarketplace", "getListing", [1n]);
    if (listing.provider.toLowerCase() !== account(DEPLOYER).address.toLowerCase()) throw new Error("launch listing 1 is not the launch provider's");
    const deposit = 100n * 10n ** 18n;
    await write(RENTER, "FTNSToken", "approve", [market.address, deposit]);
    const now = (await publicClient.getBlock()).timestamp;
    await write(RENTER, "ModelMarketplace", "openEscrow", [1n, deposit, deposit, now + 86_400n, listing.pricePerUnit]);
    const escrowId = await read<bigint>("ModelMarketplace", "escrowCount");

    const [, name, version, domainChainId, verifyingContract] = await read<[Hex, string, string, bigint, Address]>("FederationCommittee", "eip712Domain");
    const domain = { name, version, chainId: Number(domainChainId), verifyingContract };
    const units = 1_200n;
    const body = JSON.stringify({ messages: [{ role: "user", content: "day one" }] });
    const authorization = await signAuthorization(account(RENTER), domain, { escrowId, maxCumulativeUnits: units, requestDigest: requestDigest("/v1/chat/completions", body), deadline: now + 3_600n });
    const resultDigest = usageResultDigest(domain, authorization, responseDigest('{"answer":"day one"}'));
    const report = { escrowId, cumulativeUnits: units, sequence: 1n, resultDigest };
    await signProviderReport(account(DEPLOYER), domain, report); // what the gateway would hand the nodes
    const epoch = await read<bigint>("FederationCommittee", "currentEpoch");
    const members = await read<Address[]>("FederationCommittee", "currentMembers");
    const signatures = new Map<string, Hex>();
    for (const index of MEMBERS.slice(0, 3)) {
      signatures.set(account(index).address.toLowerCase(), await signAttestation(account(index), domain, report, epoch, market.address));
    }
    await write(MEMBERS[0]!, "ModelMarketplace", "chargeWithAttestation", [escrowId, units, 1n, resultDigest, encodeAttestation(epoch, members, signatures)]);
    const escrow = await read<{ charged: bigint; units: bigint }>("ModelMarketplace", "getEscrow", [escrowId]);
    if (escrow.units !== units) throw new Error(`the committee's attestation accounted ${escrow.units} units, not ${units}`);
    const chargeId = await read<bigint>("ModelMarketplace", "chargeCount");
    await travel(live.marketplace.disputeWindow + 1);
    const treasury = await read<Address>("ModelMarketplace", "treasury");
    const treasuryBefore = await read<bigint>("ModelMarketplace", "payoutOf", [treasury]);
    await write(RENTER, "ModelMarketplace", "releaseCharge", [chargeId]);
    const fee = (await read<bigint>("ModelMarketplace", "payoutOf", [treasury])) - treasuryBefore;
    const expectedFee = (escrow.charged * 300n + 9_999n) / 10_000n;
    if (fee !== expectedFee) throw new Error(`the charge paid ${fee} in fees, not ${expectedFee} (300 bps, rounded up)`);
    log(`rehearsal: escrow ${escrowId} on launch listing 1 charged ${escrow.charged} through the committee (3 of ${members.length}), fee ${fee} at 300 bps`);
    return { firstRunStopped: stopped, handover, proposalId, feeBps, escrowId, charged: escrow.charged, fee };
  } finally {
    await processes.stopAll();
  }
}

if (require.main === module) {
  rehearse().then(
    () => console.log("rehearsal: day one works"),
    (error: Error) => {
      console.error(`rehearsal failed: ${error.message}`);
      process.exit(1);
    },
  );
}
