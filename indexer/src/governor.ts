/** FTNSGovernor: proposals with their quadratic tallies and lifecycle, votes, registered participants. */
import { ponder } from "ponder:registry";
import schema from "ponder:schema";
import { gte } from "ponder";
import { encodeAbiParameters, keccak256, toBytes, type Hex } from "viem";
import { recordEvent } from "../lib/record";

const C = "FTNSGovernor";
/** protocol_state key of the governor's current quorum (from QuorumUpdated, which initialisation emits too). */
const QUORUM = "governor-quorum";

ponder.on("FTNSGovernor:ProposalCreated", async ({ event, context }) => {
  const a = event.args;
  await context.db
    .insert(schema.proposal)
    .values({
      id: a.proposalId,
      proposer: a.proposer,
      targets: [...a.targets],
      values: a.values.map((v) => v.toString()),
      calldatas: [...a.calldatas],
      description: a.description,
      voteStart: a.voteStart,
      voteEnd: a.voteEnd,
      lifecycle: "created",
      eta: null,
      timelockOperation: null,
      forWeight: 0n,
      againstWeight: 0n,
      abstainWeight: 0n,
      quorum: (await context.db.find(schema.protocolState, { id: QUORUM }))?.value ?? 0n,
      voteCount: 0,
      createdAt: event.block.timestamp,
    })
    .onConflictDoNothing();
  await transition(context.db, event.id, a.proposalId, "created", event.block.timestamp);
  await recordEvent(context.db, C, "ProposalCreated", event);
});

/**
 * The id GovernorTimelockControl schedules a proposal under: hashOperationBatch(targets, values, calldatas, 0, salt)
 * with salt = bytes20(governor) ^ keccak256(description).
 */
export function timelockOperationId(governor: Hex, targets: Hex[], values: bigint[], calldatas: Hex[], description: string): Hex {
  const salt = (BigInt(governor) << 96n) ^ BigInt(keccak256(toBytes(description)));
  return keccak256(
    encodeAbiParameters(
      [{ type: "address[]" }, { type: "uint256[]" }, { type: "bytes[]" }, { type: "bytes32" }, { type: "bytes32" }],
      [targets, values, calldatas, `0x${"00".repeat(32)}`, `0x${salt.toString(16).padStart(64, "0")}`],
    ),
  );
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function transition(db: any, id: string, proposalId: bigint, lifecycle: string, timestamp: bigint) {
  await db.insert(schema.proposalTransition).values({ id, proposalId, lifecycle, timestamp }).onConflictDoNothing();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function castVote(db: any, event: any) {
  const { voter, proposalId, support, weight, reason } = event.args;
  await db
    .insert(schema.vote)
    .values({ id: `${proposalId}-${voter.toLowerCase()}`, proposalId, voter, support, weight, reason, timestamp: event.block.timestamp })
    .onConflictDoNothing();
  const column = support === 1 ? "forWeight" : support === 0 ? "againstWeight" : "abstainWeight";
  await db.update(schema.proposal, { id: proposalId }).set((p: Record<string, bigint | number>) => ({
    [column]: (p[column] as bigint) + weight,
    voteCount: (p.voteCount as number) + 1,
  }));
}

ponder.on("FTNSGovernor:VoteCast", async ({ event, context }) => {
  await castVote(context.db, event);
  await recordEvent(context.db, C, "VoteCast", event);
});

ponder.on("FTNSGovernor:VoteCastWithParams", async ({ event, context }) => {
  await castVote(context.db, event);
  await recordEvent(context.db, C, "VoteCastWithParams", event);
});

ponder.on("FTNSGovernor:ProposalQueued", async ({ event, context }) => {
  const { proposalId, etaSeconds } = event.args;
  const p = await context.db.find(schema.proposal, { id: proposalId });
  const timelockOperation = p
    ? timelockOperationId(event.log.address, p.targets as Hex[], p.values.map(BigInt), p.calldatas as Hex[], p.description)
    : null;
  await context.db.update(schema.proposal, { id: proposalId }).set({ lifecycle: "queued", eta: etaSeconds, timelockOperation });
  await transition(context.db, event.id, proposalId, "queued", event.block.timestamp);
  await recordEvent(context.db, C, "ProposalQueued", event);
});

ponder.on("FTNSGovernor:ProposalExecuted", async ({ event, context }) => {
  await context.db.update(schema.proposal, { id: event.args.proposalId }).set({ lifecycle: "executed" });
  await transition(context.db, event.id, event.args.proposalId, "executed", event.block.timestamp);
  await recordEvent(context.db, C, "ProposalExecuted", event);
});

ponder.on("FTNSGovernor:ProposalCanceled", async ({ event, context }) => {
  await context.db.update(schema.proposal, { id: event.args.proposalId }).set({ lifecycle: "canceled" });
  await transition(context.db, event.id, event.args.proposalId, "canceled", event.block.timestamp);
  await recordEvent(context.db, C, "ProposalCanceled", event);
});

ponder.on("FTNSGovernor:ProposalExtended", async ({ event, context }) => {
  await context.db.update(schema.proposal, { id: event.args.proposalId }).set({ voteEnd: event.args.extendedDeadline });
  await recordEvent(context.db, C, "ProposalExtended", event);
});

ponder.on("FTNSGovernor:ParticipantRegistered", async ({ event, context }) => {
  const { account, registrar, since } = event.args;
  await context.db
    .insert(schema.participant)
    .values({ address: account, registered: true, registrar, since: BigInt(since), until: null })
    .onConflictDoUpdate({ registered: true, registrar, since: BigInt(since), until: null });
  await recordEvent(context.db, C, "ParticipantRegistered", event);
});

ponder.on("FTNSGovernor:ParticipantUnregistered", async ({ event, context }) => {
  const { account, registrar, until } = event.args;
  await context.db
    .insert(schema.participant)
    .values({ address: account, registered: false, registrar, since: 0n, until: BigInt(until) })
    .onConflictDoUpdate({ registered: false, until: BigInt(until) });
  await recordEvent(context.db, C, "ParticipantUnregistered", event);
});

ponder.on("FTNSGovernor:QuorumUpdated", async ({ event, context }) => {
  const quorum = event.args.newQuorum;
  await context.db.insert(schema.protocolState).values({ id: QUORUM, value: quorum }).onConflictDoUpdate({ value: quorum });
  // The governor looks the quorum up at each proposal's snapshot (its voteStart), so a change also applies to the
  // proposals whose voting has not started yet. Rare (a governance action), hence a plain SQL update.
  await context.db.sql.update(schema.proposal).set({ quorum }).where(gte(schema.proposal.voteStart, event.block.timestamp));
  await recordEvent(context.db, C, "QuorumUpdated", event);
});

for (const name of [
  "AttestorChanged", "LateQuorumVoteExtensionSet", "ProposalThresholdSet", "TimelockChange",
  "VotingDelaySet", "VotingPeriodSet", "Upgraded", "Initialized", "EIP712DomainChanged",
] as const) {
  ponder.on(`FTNSGovernor:${name}`, async ({ event, context }) => recordEvent(context.db, C, name, event));
}
