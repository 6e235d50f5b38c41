/** ProtocolTimelock: every scheduled, executed and cancelled call, role change and delay change, as protocol events. */
import { ponder } from "ponder:registry";
import schema from "ponder:schema";
import { and, eq, ne } from "ponder";
import { recordEvent } from "../lib/record";

/** A proposal's operation cancelled in the timelock directly (by a canceller) cancels the proposal as well. */
ponder.on("ProtocolTimelock:Cancelled", async ({ event, context }) => {
  await context.db.sql
    .update(schema.proposal)
    .set({ lifecycle: "canceled" })
    .where(and(eq(schema.proposal.timelockOperation, event.args.id), ne(schema.proposal.lifecycle, "executed")));
  await recordEvent(context.db, "ProtocolTimelock", "Cancelled", event);
});

for (const name of ["CallScheduled", "CallExecuted", "CallSalt", "MinDelayChange", "RoleGranted", "RoleRevoked", "RoleAdminChanged"] as const) {
  ponder.on(`ProtocolTimelock:${name}`, async ({ event, context }) => recordEvent(context.db, "ProtocolTimelock", name, event));
}
