/**
 * A scripted protocol scenario on the e2e chain, touching every indexed contract through its real entry points:
 * transfers and delegations, a new listing and a price change, charges by renter receipt and by committee
 * attestation, a bonded dispute, a release, a close and a rating, withdrawals, a bonded candidate, and proposals in every
 * lifecycle (executed — admitting the candidate and resolving the dispute —, canceled, defeated, still pending),
 * plus a member leaving the committee. The indexer test checks the tables against the chain afterwards.
 */
import { createTestClient, encodeFunctionData, http, keccak256, toBytes, type Address, type Hex } from "viem";
import { hardhat } from "viem/chains";
import { encodeAttestation, signAttestation } from "../../workers/shared/usage-report";
import { account, deployment, readContract, send, walletFor, type Chain } from "./harness";
import { committeeDomain, PROVIDER } from "./usage";

const E18 = 10n ** 18n;
const COMMITTEE_SIGNERS = [14, 15, 16];
const LISTER = 7;
const ROYALTY = 8;
const CANDIDATE = 9;
const LEAVING_MEMBER = 17;

type Contract = { address: Address; abi: readonly unknown[] };
const token = () => deployment("FTNSToken");
const market = () => deployment("ModelMarketplace");
const committee = () => deployment("FederationCommittee");
const governor = () => deployment("FTNSGovernor");

export interface ScenarioResult {
  escrows: bigint[];
  proposals: bigint[];
  disputedCharge: bigint;
}

export async function runScenario(chain: Chain): Promise<ScenarioResult> {
  const tester = createTestClient({ chain: hardhat, mode: "hardhat", transport: http(chain.rpcUrl) });
  const call = async (from: number, c: Contract, functionName: string, args: unknown[] = []) =>
    send(chain, await walletFor(chain, from).writeContract({ ...c, abi: c.abi as never, functionName, args: args as never }));
  const read = <T>(c: Contract, functionName: string, args: unknown[] = []) => readContract<T>(chain, c, functionName, args);
  const now = async () => (await chain.publicClient.getBlock({ blockTag: "latest" })).timestamp;
  const warp = async (seconds: number) => {
    await tester.increaseTime({ seconds });
    await tester.mine({ blocks: 1 });
  };
  const to = (i: number) => account(i).address;

  // ---- token: transfers and delegations (votes must be in place before the proposals' snapshots)
  await call(1, token(), "transfer", [to(2), 1_000n * E18]);
  await call(3, token(), "transfer", [to(4), 500n * E18]);
  for (const [from, delegate] of [[1, 1], [2, 1], [5, 6], [3, 3], [4, 4], [6, 6]]) await call(from, token(), "delegate", [to(delegate)]);
  await call(2, token(), "transfer", [to(5), 100n * E18]); // moves votes from delegate 1 to delegate 6

  // ---- a new listing with a royalty, then a price change
  await call(LISTER, token(), "approve", [market().address, 100n * E18]);
  await call(LISTER, market(), "list", [keccak256(toBytes("scenario model")), "ipfs://scenario-model", 0, 0, 10n ** 15n, to(ROYALTY), 500, 100n * E18]);
  const newListing = await read<bigint>(market(), "listingCount");
  await call(LISTER, market(), "setPrice", [newListing, 2n * 10n ** 15n]);

  // ---- escrows (at each listing's current price, the renter's maximum price per unit)
  const openEscrow = async (renter: number, listingId: bigint, deposit: bigint, lifetime: bigint) => {
    const { pricePerUnit } = await read<{ pricePerUnit: bigint }>(market(), "getListing", [listingId]);
    await call(renter, token(), "approve", [market().address, deposit]);
    await call(renter, market(), "openEscrow", [listingId, deposit, deposit, (await now()) + lifetime, pricePerUnit]);
    return read<bigint>(market(), "escrowCount");
  };
  const receiptEscrow = await openEscrow(1, 1n, 100n * E18, 3_600n);
  const attestedEscrow = await openEscrow(2, newListing, 30n * E18, 3_600n);
  const shortEscrow = await openEscrow(3, 2n, 10n * E18, 100n);

  // charges by renter-signed receipt (submitted by the provider): cumulative units, ordered by the units alone
  const [, marketName, marketVersion, chainId] = await read<[Hex, string, string, bigint, Address]>(market(), "eip712Domain");
  const marketDomain = { name: marketName, version: marketVersion, chainId: Number(chainId), verifyingContract: market().address };
  const chargeByReceipt = async (renter: number, escrowId: bigint, cumulativeUnits: bigint) => {
    const deadline = (await now()) + 3_600n;
    const signature = await account(renter).signTypedData({
      domain: marketDomain,
      types: { UsageReceipt: [
        { name: "escrowId", type: "uint256" }, { name: "cumulativeUnits", type: "uint256" }, { name: "deadline", type: "uint256" },
      ] },
      primaryType: "UsageReceipt",
      message: { escrowId, cumulativeUnits, deadline },
    });
    await call(PROVIDER, market(), "chargeWithReceipt", [escrowId, cumulativeUnits, deadline, signature]);
  };
  await chargeByReceipt(1, receiptEscrow, 100n);
  await chargeByReceipt(1, receiptEscrow, 250n);
  await chargeByReceipt(3, shortEscrow, 10n);

  // charges by committee attestation (three of the four members sign, as consensus nodes would)
  const domain = await committeeDomain(chain);
  const chargeByAttestation = async (escrowId: bigint, cumulativeUnits: bigint, sequence: bigint) => {
    const epoch = await read<bigint>(committee(), "currentEpoch");
    const members = await read<Address[]>(committee(), "currentMembers");
    const report = { escrowId, cumulativeUnits, sequence, resultDigest: keccak256(toBytes(`answers ${escrowId}/${sequence}`)) };
    const signatures = new Map<string, Hex>();
    for (const i of COMMITTEE_SIGNERS) signatures.set(to(i).toLowerCase(), await signAttestation(account(i), domain, report, epoch, market().address));
    await call(COMMITTEE_SIGNERS[0], market(), "chargeWithAttestation", [
      escrowId, cumulativeUnits, sequence, report.resultDigest, encodeAttestation(epoch, members, signatures),
    ]);
    return read<bigint>(market(), "chargeCount");
  };
  const releasedCharge = await chargeByAttestation(attestedEscrow, 40n, 1n);
  const disputedCharge = await chargeByAttestation(attestedEscrow, 90n, 2n);
  // The renter bonds the escrow's dispute bond (its terms', fixed when it opened): the marketplace pulls it.
  const { termsId } = await read<{ termsId: number }>(market(), "getEscrow", [attestedEscrow]);
  const { disputeBond } = await read<{ disputeBond: bigint }>(market(), "getTerms", [termsId]);
  await call(2, token(), "approve", [market().address, disputeBond]);
  await call(2, market(), "disputeCharge", [disputedCharge]);

  // ---- proposals: votes need the snapshot after the delegations above
  await call(CANDIDATE, token(), "approve", [committee().address, 100n * E18]);
  await call(CANDIDATE, committee(), "bond", [100n * E18]);
  const propose = async (from: number, actions: [Contract, string, unknown[]][], description: string) => {
    const targets = actions.map(([c]) => c.address);
    const values = actions.map(() => 0n);
    const calldatas = actions.map(([c, fn, args]) => encodeFunctionData({ abi: c.abi, functionName: fn, args } as never));
    await call(from, governor(), "propose", [targets, values, calldatas, description]);
    const id = await read<bigint>(governor(), "getProposalId", [targets, values, calldatas, keccak256(toBytes(description))]);
    return { id, targets, values, calldatas, descriptionHash: keccak256(toBytes(description)) };
  };
  const admit = await propose(1, [[committee(), "admit", [to(CANDIDATE)]], [market(), "resolveDispute", [disputedCharge, true]]], "Admit a fifth committee member; pay the disputed charge to its provider");
  const withdrawn = await propose(1, [[market(), "setProtocolFee", [300]]], "Raise the protocol fee to 3% (withdrawn by its proposer)");
  const rejected = await propose(6, [[market(), "setProtocolFee", [900]]], "Raise the protocol fee to 9%");
  await call(1, governor(), "cancel", [withdrawn.targets, withdrawn.values, withdrawn.calldatas, withdrawn.descriptionHash]);

  await warp(11); // past the voting delay
  await call(1, governor(), "castVote", [admit.id, 1]);
  await call(6, governor(), "castVoteWithReason", [admit.id, 1, "more nodes, more safety"]);
  await call(3, governor(), "castVote", [admit.id, 0]);
  await call(1, governor(), "castVote", [rejected.id, 0]);
  await call(3, governor(), "castVote", [rejected.id, 0]);
  await call(6, governor(), "castVote", [rejected.id, 1]);
  await call(4, governor(), "castVote", [rejected.id, 2]);

  await warp(301); // voting over; also past the short escrow's expiry + grace and the first charge's dispute window
  await call(5, market(), "releaseCharge", [releasedCharge]);
  await call(5, market(), "closeEscrow", [shortEscrow]);
  await call(3, market(), "rate", [shortEscrow, 4]);
  await call(4, governor(), "queue", [admit.targets, admit.values, admit.calldatas, admit.descriptionHash]);
  await warp(61); // the timelock delay; still before the dispute's deadline (the local resolution period is 600 s)
  await call(4, governor(), "execute", [admit.targets, admit.values, admit.calldatas, admit.descriptionHash]);

  // ---- committee change without governance, withdrawals, and one proposal left pending
  await call(LEAVING_MEMBER, committee(), "leave");
  await call(PROVIDER, market(), "withdraw");
  await call(ROYALTY, market(), "withdraw");
  await call(5, market(), "withdrawFor", [await read<Address>(market(), "treasury")]);
  const pending = await propose(1, [[market(), "setProtocolFee", [200]]], "Lower the protocol fee to 2%");

  return { escrows: [receiptEscrow, attestedEscrow, shortEscrow], proposals: [admit.id, withdrawn.id, rejected.id, pending.id], disputedCharge };
}
