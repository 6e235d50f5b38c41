/**
 * The session-key rule and its cache (workers/shared/session-keys.ts), against a scripted chain: an active entry
 * read at t proves every deadline <= t + GRACE without another read, a later deadline re-reads; a revoked key's
 * authorizations count up to revokedAt + GRACE and no further, and are never re-read; "never authorized" is
 * believed only briefly; the cache is bounded (LRU); concurrent misses share one read.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Address } from "viem";
import {
  SESSION_KEY_GRACE_SECONDS as GRACE,
  MAX_SESSION_AUTHORIZATION_SECONDS,
  SessionKeyCache,
  type SessionKeyState,
} from "../../workers/shared/session-keys";

const KEY = "0x1111111111111111111111111111111111111111" as Address;
const OTHER = "0x2222222222222222222222222222222222222222" as Address;

/** A chain whose state and clock the test sets; counts reads. */
function scriptedChain() {
  const chain = {
    now: 1_000n,
    keys: new Map<string, { authorized: boolean; revokedAt: bigint }>(),
    reads: 0,
    set(escrowId: bigint, key: Address, authorized: boolean, revokedAt = 0n) {
      chain.keys.set(`${escrowId}:${key.toLowerCase()}`, { authorized, revokedAt });
    },
    read: async (escrowId: bigint, key: Address): Promise<SessionKeyState> => {
      chain.reads++;
      const state = chain.keys.get(`${escrowId}:${key.toLowerCase()}`) ?? { authorized: false, revokedAt: 0n };
      return { ...state, readAt: chain.now };
    },
  };
  return chain;
}

describe("session-key rule and cache", () => {
  test("the constants the gateway and nodes agree on", () => {
    assert.equal(GRACE, 600n);
    assert.equal(MAX_SESSION_AUTHORIZATION_SECONDS, 300n);
  });

  test("an active entry read at t accepts deadlines up to t + GRACE without re-reading; a later one re-reads", async () => {
    const chain = scriptedChain();
    chain.set(1n, KEY, true);
    const cache = new SessionKeyCache(chain.read);
    assert.equal((await cache.checkAuthorization(1n, KEY, chain.now + 100n)).ok, true);
    assert.equal(chain.reads, 1);
    const t = chain.now;
    chain.now += 500n;
    // Revoked on chain after the read: still valid for deadline <= t + GRACE (R + GRACE >= t + GRACE), no re-read.
    chain.set(1n, KEY, true, chain.now);
    assert.equal((await cache.checkAuthorization(1n, KEY, t + GRACE)).ok, true);
    assert.equal(chain.reads, 1);
    // Beyond t + GRACE the entry proves nothing: re-read, which now shows the revocation at t + 500.
    const beyond = await cache.checkAuthorization(1n, KEY, t + GRACE + 1n);
    assert.equal(chain.reads, 2);
    assert.equal(beyond.ok, true, "t + GRACE + 1 <= R + GRACE = t + 500 + GRACE");
  });

  test("an active read proves only deadlines up to its time + GRACE: a further one is refused (no verdict flips later)", async () => {
    const chain = scriptedChain();
    chain.set(4n, KEY, true);
    const cache = new SessionKeyCache(chain.read);
    const far = await cache.checkAuthorization(4n, KEY, chain.now + GRACE + 1n);
    assert.ok(!far.ok && far.reason === "deadline-too-far");
    assert.equal((await cache.checkAuthorization(4n, KEY, chain.now + GRACE)).ok, true);
    // Once time has moved on, a fresh read proves it.
    const deadline = chain.now + GRACE + 100n;
    chain.now += 100n;
    assert.equal((await cache.checkAuthorization(4n, KEY, deadline)).ok, true);
  });

  test("a revoked key: deadline <= revokedAt + GRACE accepted, beyond refused, and never re-read", async () => {
    const chain = scriptedChain();
    const revokedAt = 2_000n;
    chain.set(7n, KEY, true, revokedAt);
    chain.now = 2_100n;
    const cache = new SessionKeyCache(chain.read);
    assert.equal((await cache.checkAuthorization(7n, KEY, revokedAt + GRACE)).ok, true);
    const refused = await cache.checkAuthorization(7n, KEY, revokedAt + GRACE + 1n);
    assert.equal(refused.ok, false);
    assert.ok(!refused.ok && refused.reason === "revoked" && refused.revokedAt === revokedAt);
    assert.match(!refused.ok ? refused.message : "", /revoked at 2000/);
    chain.now += 100_000n;
    await cache.checkAuthorization(7n, KEY, revokedAt + 1n);
    assert.equal(chain.reads, 1, "a revocation is final: cached for good");
    assert.equal(await cache.everAuthorized(7n, KEY), true, "receipts of a revoked key still count");
  });

  test("a revocation seen on re-read refuses deadlines past revokedAt + GRACE", async () => {
    const chain = scriptedChain();
    chain.set(2n, KEY, true);
    const cache = new SessionKeyCache(chain.read);
    assert.equal((await cache.checkAuthorization(2n, KEY, chain.now)).ok, true);
    const R = chain.now + 10n;
    chain.set(2n, KEY, true, R);
    chain.now = R + 1_000n;
    const late = await cache.checkAuthorization(2n, KEY, R + GRACE + 5n);
    assert.equal(late.ok, false);
    assert.equal(chain.reads, 2);
  });

  test("a key never authorized is refused; the answer is believed only for the negative TTL", async () => {
    const chain = scriptedChain();
    let clock = 0;
    const cache = new SessionKeyCache(chain.read, { negativeTtlMs: 2_000, nowMs: () => clock });
    const first = await cache.checkAuthorization(3n, KEY, chain.now);
    assert.ok(!first.ok && first.reason === "not-authorized");
    assert.equal(await cache.everAuthorized(3n, KEY), false);
    assert.equal(chain.reads, 1, "the negative answer is cached for a moment");
    // Authorized a moment later on chain: believed only once the negative entry expired.
    chain.set(3n, KEY, true);
    clock = 1_500;
    assert.equal((await cache.checkAuthorization(3n, KEY, chain.now)).ok, false);
    clock = 2_001;
    assert.equal((await cache.checkAuthorization(3n, KEY, chain.now)).ok, true);
    assert.equal(chain.reads, 2);
    // Positive answers do not expire.
    clock = 10_000_000;
    assert.equal(await cache.everAuthorized(3n, KEY), true);
    assert.equal(chain.reads, 2);
  });

  test("keys are per escrow", async () => {
    const chain = scriptedChain();
    chain.set(1n, KEY, true);
    const cache = new SessionKeyCache(chain.read);
    assert.equal((await cache.checkAuthorization(1n, KEY, chain.now)).ok, true);
    assert.equal((await cache.checkAuthorization(2n, KEY, chain.now)).ok, false);
    assert.equal((await cache.checkAuthorization(1n, OTHER, chain.now)).ok, false);
    assert.equal(await cache.everAuthorized(1n, KEY.toUpperCase().replace("0X", "0x") as Address), true, "addresses compare case-insensitively");
  });

  test("the cache is a bounded LRU: made-up signers cannot grow it, and used entries stay", async () => {
    const chain = scriptedChain();
    chain.set(1n, KEY, true);
    const cache = new SessionKeyCache(chain.read, { maxEntries: 100 });
    await cache.checkAuthorization(1n, KEY, chain.now);
    for (let i = 0; i < 1_000; i++) {
      const signer = `0x${(i + 1).toString(16).padStart(40, "0")}` as Address;
      await cache.checkAuthorization(1n, signer, chain.now);
      if (i % 10 === 0) await cache.checkAuthorization(1n, KEY, chain.now); // keeps KEY recently used
      assert.ok(cache.size <= 100);
    }
    const before = chain.reads;
    assert.equal((await cache.checkAuthorization(1n, KEY, chain.now)).ok, true);
    assert.equal(chain.reads, before, "the recently used entry survived the flood");
  });

  test("concurrent misses share one read", async () => {
    const chain = scriptedChain();
    chain.set(1n, KEY, true);
    const cache = new SessionKeyCache(chain.read);
    const verdicts = await Promise.all(Array.from({ length: 20 }, () => cache.checkAuthorization(1n, KEY, chain.now)));
    assert.ok(verdicts.every((v) => v.ok));
    assert.equal(chain.reads, 1);
  });

  test("an older answer never replaces a newer one", async () => {
    const chain = scriptedChain();
    chain.set(1n, KEY, true, 1_500n);
    const cache = new SessionKeyCache(chain.read);
    assert.equal((await cache.checkAuthorization(1n, KEY, 1_500n + GRACE + 1n)).ok, false);
    // Even if the chain answered "active" now (a reorg), the revocation already seen stands.
    chain.set(1n, KEY, true, 0n);
    assert.equal((await cache.checkAuthorization(1n, KEY, 1_500n + GRACE + 1n)).ok, false);
    assert.equal(chain.reads, 1);
  });
});
