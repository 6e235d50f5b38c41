/**
 * The live profile's rehearsal (scripts/rehearsal.ts) as a test: a local node as chain 80002, the same deploy scripts
 * and parameters as Amoy with the rehearsal's genesis plan, then day one: a genesis holder's proposal executed after
 * the real 2-day delay, and a launch listing rented and charged through the committee.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { rehearse } from "../../scripts/rehearsal";

test("the live profile deploys a protocol that can govern, attest and rent on day one", { timeout: 900_000 }, async () => {
  const lines: string[] = [];
  const result = await rehearse({ port: 8846, log: (l) => lines.push(l) });
  assert.match(result.firstRunStopped, /not bonded yet/);
  assert.match(result.handover, /roles as required, timelock queue empty/);
  assert.equal(result.feeBps, 300);
  assert.ok(result.charged > 0n, lines.join("\n"));
  assert.equal(result.fee, (result.charged * 300n + 9_999n) / 10_000n);
});
