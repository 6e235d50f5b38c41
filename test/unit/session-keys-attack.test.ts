/**
 * Attacks on the off-chain session-key rule (workers/shared/session-keys.ts) as the consensus nodes apply it.
 *
 * A node's verdict on a report must not depend on when the node sees it, or the committee splits: nodes that hold
 * the report pending skip re-checking it and sign, peers that check it later refuse it, and the proposer, which keeps
 * it pending until the escrow can no longer be charged, fails the first round of every batch it puts it in.
 * checkAuthorization takes a fresh "active" read as proof for ANY deadline, although such a read at t only proves
 * deadlines <= t + GRACE (a revocation at R >= t may come next). An honest gateway never signs past now + 300 s, but a
 * provider (with a renter or a leaked key) can: its report is accepted by a node before the revocation and refused
 * by every node after it.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Address } from "viem";
import { SESSION_KEY_GRACE_SECONDS as GRACE, SessionKeyCache, type SessionKeyState } from "../../workers/shared/session-keys";

const KEY = "0x1111111111111111111111111111111111111111" as Address;

function scriptedChain() {
  const chain = {
    now: 1_000n,
    revokedAt: 0n,
    read: async (): Promise<SessionKeyState> => ({ authorized: true, revokedAt: chain.revokedAt, readAt: chain.now }),
  };
  return chain;
}

describe("session keys: attacks on the nodes' rule", () => {
  test("a verdict on a session-key authorization does not change with the time a node sees it", async () => {
    const chain = scriptedChain();
    const deadline = chain.now + 100_000n; // far beyond what any honest gateway serves (now + 300 s)
    const early = new SessionKeyCache(chain.read); // node A: sees the report at once
    const late = new SessionKeyCache(chain.read); // node B: sees it in a proposal a minute later
    const a = await early.checkAuthorization(1n, KEY, deadline);
    chain.now += 60n;
    chain.revokedAt = chain.now; // the renter revokes
    const b = await late.checkAuthorization(1n, KEY, deadline);
    assert.equal(b.ok, false, "after the revocation the deadline is past revokedAt + GRACE");
    assert.equal(a.ok, b.ok, `node A accepted deadline ${deadline} on a read at ${chain.now - 60n} that proves only deadlines <= ${chain.now - 60n + GRACE}; node B refuses the same report`);
  });
});
