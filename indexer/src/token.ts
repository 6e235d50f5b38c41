/** FTNSToken: balances, voting power, transfers and delegations. */
import { ponder } from "ponder:registry";
import schema from "ponder:schema";
import { isZero, recordEvent, updateAccount } from "../lib/record";

const C = "FTNSToken";

ponder.on("FTNSToken:Transfer", async ({ event, context }) => {
  const { from, to, value } = event.args;
  const at = event.block.timestamp;
  if (!isZero(from)) await updateAccount(context.db, from, at, (a) => ({ balance: a.balance - value }));
  if (!isZero(to)) await updateAccount(context.db, to, at, (a) => ({ balance: a.balance + value }));
  await context.db
    .insert(schema.transfer)
    .values({ id: event.id, from, to, value, blockNumber: event.block.number, timestamp: at, txHash: event.transaction.hash })
    .onConflictDoNothing();
  await recordEvent(context.db, C, "Transfer", event);
});

ponder.on("FTNSToken:DelegateChanged", async ({ event, context }) => {
  const { delegator, fromDelegate, toDelegate } = event.args;
  await updateAccount(context.db, delegator, event.block.timestamp, () => ({ delegate: toDelegate }));
  await context.db
    .insert(schema.delegation)
    .values({ id: event.id, delegator, fromDelegate, toDelegate, timestamp: event.block.timestamp })
    .onConflictDoNothing();
  await recordEvent(context.db, C, "DelegateChanged", event);
});

ponder.on("FTNSToken:DelegateVotesChanged", async ({ event, context }) => {
  const { delegate, newVotes } = event.args;
  await updateAccount(context.db, delegate, event.block.timestamp, () => ({ votes: newVotes }));
  await recordEvent(context.db, C, "DelegateVotesChanged", event);
});

for (const name of ["Approval", "Paused", "Unpaused", "PauseEndChanged", "RoleGranted", "RoleRevoked", "RoleAdminChanged", "Upgraded", "Initialized", "EIP712DomainChanged"] as const) {
  ponder.on(`FTNSToken:${name}`, async ({ event, context }) => recordEvent(context.db, C, name, event));
}
