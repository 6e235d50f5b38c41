/** ProtocolTimelock: every scheduled, executed and cancelled call, role change and delay change, as protocol events. */
import { ponder } from "ponder:registry";
import { recordEvent } from "../lib/record";

for (const name of ["CallScheduled", "CallExecuted", "CallSalt", "Cancelled", "MinDelayChange", "RoleGranted", "RoleRevoked", "RoleAdminChanged"] as const) {
  ponder.on(`ProtocolTimelock:${name}`, async ({ event, context }) => recordEvent(context.db, "ProtocolTimelock", name, event));
}
