/** FTNSGovernor: proposals with their quadratic tallies and lifecycle, votes, registered participants. */
import { ponder } from "ponder:registry";
import schema from "ponder:schema";
import { recordEvent } from "../lib/record";

const C = "FTNSGovernor";

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
      forWeight: 0n,
      againstWeight: 0n,
      abstainWeight: 0n,
      voteCount: 0,
      createdAt: event.block.timestamp,
    })
    .onConflictDoNothing();
  await transition(context.db, event.id, a.proposalId, "created", event.block.timestamp);
  await recordEvent(context.db, C, "ProposalCreated", event);
});

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
  await context.db.update(schema.proposal, { id: proposalId }).set({ lifecycle: "queued", eta: etaSeconds });
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

for (const name of [
  "AttestorChanged", "LateQuorumVoteExtensionSet", "ProposalThresholdSet", "QuorumUpdated", "TimelockChange",
  "VotingDelaySet", "VotingPeriodSet", "Upgraded", "Initialized", "EIP712DomainChanged",
] as const) {
  ponder.on(`FTNSGovernor:${name}`, async ({ event, context }) => recordEvent(context.db, C, name, event));
}
