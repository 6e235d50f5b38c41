/** FederationCommittee: members and their bonds, epochs, equivocation slashes. */
import { ponder } from "ponder:registry";
import schema from "ponder:schema";
import { recordEvent } from "../lib/record";

const C = "FederationCommittee";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function ensureMember(db: any, address: `0x${string}`) {
  await db
    .insert(schema.committeeMember)
    .values({ address, bond: 0n, status: "bonded", admittedAt: null, removedAt: null, unbondingAt: null })
    .onConflictDoNothing();
}

ponder.on("FederationCommittee:Bonded", async ({ event, context }) => {
  await ensureMember(context.db, event.args.member);
  await context.db.update(schema.committeeMember, { address: event.args.member }).set({ bond: event.args.totalBond });
  await recordEvent(context.db, C, "Bonded", event);
});

ponder.on("FederationCommittee:BondWithdrawn", async ({ event, context }) => {
  await context.db.update(schema.committeeMember, { address: event.args.member }).set((m) => ({ bond: m.bond - event.args.amount }));
  await recordEvent(context.db, C, "BondWithdrawn", event);
});

ponder.on("FederationCommittee:MemberAdmitted", async ({ event, context }) => {
  await ensureMember(context.db, event.args.member);
  await context.db
    .update(schema.committeeMember, { address: event.args.member })
    .set({ status: "active", admittedAt: event.block.timestamp, removedAt: null, unbondingAt: null });
  await recordEvent(context.db, C, "MemberAdmitted", event);
});

ponder.on("FederationCommittee:MemberRemoved", async ({ event, context }) => {
  await context.db
    .update(schema.committeeMember, { address: event.args.member })
    .set((m) => ({ status: m.status === "slashed" ? "slashed" : "removed", removedAt: event.block.timestamp, unbondingAt: BigInt(event.args.unbondingAt) }));
  await recordEvent(context.db, C, "MemberRemoved", event);
});

ponder.on("FederationCommittee:EquivocationSlashed", async ({ event, context }) => {
  const a = event.args;
  await context.db
    .insert(schema.slash)
    .values({
      id: event.id,
      member: a.member,
      reporter: a.reporter,
      escrowId: a.escrowId,
      sequence: BigInt(a.sequence),
      reward: a.reward,
      toTreasury: a.toTreasury,
      timestamp: event.block.timestamp,
    })
    .onConflictDoNothing();
  await context.db
    .update(schema.committeeMember, { address: a.member })
    .set({ status: "slashed", bond: 0n, removedAt: event.block.timestamp });
  await recordEvent(context.db, C, "EquivocationSlashed", event);
});

ponder.on("FederationCommittee:EpochStarted", async ({ event, context }) => {
  await context.db
    .insert(schema.committeeEpoch)
    .values({ epoch: BigInt(event.args.epoch), members: [...event.args.members], quorum: event.args.quorum, startedAt: event.block.timestamp })
    .onConflictDoNothing();
  await recordEvent(context.db, C, "EpochStarted", event);
});

for (const name of ["ParametersUpdated", "TreasuryUpdated", "RoleGranted", "RoleRevoked", "RoleAdminChanged", "Upgraded", "Initialized", "EIP712DomainChanged"] as const) {
  ponder.on(`FederationCommittee:${name}`, async ({ event, context }) => recordEvent(context.db, C, name, event));
}
