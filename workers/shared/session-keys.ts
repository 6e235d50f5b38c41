/**
 * Session keys off chain: when may a `UsageAuthorization` or a `UsageReceipt` signed by a key other than the
 * escrow's renter count? Shared by the provider gateway and the consensus nodes, so both apply one rule.
 *
 * On chain (IMarketplaceSessionKeys) a renter authorizes key K for escrow E once and may revoke it (`revokedAt`);
 * `chargeWithReceipt` accepts receipts signed by any key ever authorized, revoked or not. Off chain:
 *   - an authorization signed by K != renter is valid for E iff `sessionKey(E, K).authorized` and
 *     `deadline <= revokedAt + SESSION_KEY_GRACE_SECONDS` once revoked, or, while not revoked,
 *     `deadline <= t + SESSION_KEY_GRACE_SECONDS` for the chain time t of a read that showed it active. What a read
 *     proves never stops holding (a revocation after t has R >= t), so a node's verdict on a report does not depend
 *     on when it sees it: a deadline further away than a read can prove is refused, not accepted for now;
 *   - a gateway also serves it only if `deadline <= now + MAX_SESSION_AUTHORIZATION_SECONDS`: whatever it served
 *     before a revocation at R was served at S <= R (+ its cache's age, at most the 300 s its deadlines allow), so
 *     deadline <= S + 300 < R + 600 and the nodes still attest it;
 *   - a receipt (acknowledgement) counts if signed by the renter or by any key ever authorized, like the chain.
 *
 * Reads are cached per (E, K). An entry read at chain time t (the block's timestamp) showing the key active proves
 * validity for any deadline <= t + GRACE without another read: a revocation after the read has R >= t, so
 * R + GRACE >= t + GRACE. Only a later deadline needs a fresh read. A revocation is final (a key is never authorized
 * twice for an escrow), so a revoked entry never needs re-reading, and "ever authorized" is final once true. A
 * never-authorized answer is cached only briefly (the renter may authorize the key a moment later). The cache is
 * a bounded LRU, so signers made up by the thousand cannot grow memory.
 */
import { parseAbi, type Address } from "viem";
import type { ChainReader } from "./chain";

export const SESSION_KEY_GRACE_SECONDS = 600n;
export const MAX_SESSION_AUTHORIZATION_SECONDS = 300n;
export const DEFAULT_SESSION_KEY_CACHE_ENTRIES = 10_000;
/** How long a "never authorized" answer is believed. */
export const DEFAULT_NEGATIVE_TTL_MS = 2_000;

export const SESSION_KEY_ABI = parseAbi([
  "function sessionKey(uint256 escrowId, address key) view returns (bool authorized, uint48 revokedAt)",
]);

/** The chain's answer for (escrow, key) and the chain time it holds at (the timestamp of the block read). */
export interface SessionKeyState {
  authorized: boolean;
  /** 0 while not revoked. */
  revokedAt: bigint;
  /** Block timestamp of the state read. */
  readAt: bigint;
}

export type SessionKeyReader = (escrowId: bigint, key: Address) => Promise<SessionKeyState>;

/** Reads `sessionKey(E, K)` at the latest block, with that block's timestamp (two calls, on a cache miss only). */
export function chainSessionKeyReader(ctx: Pick<ChainReader, "publicClient" | "marketplace">): SessionKeyReader {
  return async (escrowId, key) => {
    const block = await ctx.publicClient.getBlock({ blockTag: "latest" });
    const [authorized, revokedAt] = (await ctx.publicClient.readContract({
      address: ctx.marketplace.address,
      abi: SESSION_KEY_ABI,
      functionName: "sessionKey",
      args: [escrowId, key],
      blockNumber: block.number,
    })) as readonly [boolean, number | bigint];
    return { authorized, revokedAt: BigInt(revokedAt), readAt: block.timestamp };
  };
}

export type SessionKeyVerdict =
  | { ok: true; revokedAt: bigint }
  | { ok: false; reason: "not-authorized" | "revoked" | "deadline-too-far"; revokedAt: bigint; message: string };

interface Entry extends SessionKeyState {
  /** Date.now() after which a negative entry is forgotten (positive entries never expire; LRU evicts them). */
  expiresAtMs?: number;
}

export interface SessionKeyCacheOptions {
  maxEntries?: number;
  negativeTtlMs?: number;
  nowMs?: () => number;
}

export class SessionKeyCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<Entry>>();
  private readonly maxEntries: number;
  private readonly negativeTtlMs: number;
  private readonly nowMs: () => number;
  /** Chain reads made (for tests and metrics). */
  reads = 0;

  constructor(
    private readonly read: SessionKeyReader,
    options: SessionKeyCacheOptions = {},
  ) {
    this.maxEntries = options.maxEntries ?? DEFAULT_SESSION_KEY_CACHE_ENTRIES;
    this.negativeTtlMs = options.negativeTtlMs ?? DEFAULT_NEGATIVE_TTL_MS;
    this.nowMs = options.nowMs ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * Whether an authorization signed by `key` with `deadline` is valid for `escrowId` (the caller has established
   * that `key` is not the escrow's renter). Reads the chain only when the cache cannot prove the answer.
   */
  async checkAuthorization(escrowId: bigint, key: Address, deadline: bigint): Promise<SessionKeyVerdict> {
    const cached = this.lookup(escrowId, key);
    if (cached) {
      // A revocation is final; an active entry read at t proves every deadline <= t + GRACE; a fresh negative
      // entry is believed for its short TTL.
      if (!cached.authorized || cached.revokedAt !== 0n || deadline <= cached.readAt + SESSION_KEY_GRACE_SECONDS) {
        return judge(escrowId, key, deadline, cached);
      }
    }
    return judge(escrowId, key, deadline, await this.fetch(escrowId, key));
  }

  /** Whether `key` was ever authorized for `escrowId` (revoked or not): what a receipt signature needs. */
  async everAuthorized(escrowId: bigint, key: Address): Promise<boolean> {
    const cached = this.lookup(escrowId, key);
    if (cached) return cached.authorized;
    return (await this.fetch(escrowId, key)).authorized;
  }

  private lookup(escrowId: bigint, key: Address): Entry | undefined {
    const id = cacheKey(escrowId, key);
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    if (entry.expiresAtMs !== undefined && this.nowMs() > entry.expiresAtMs) {
      this.entries.delete(id);
      return undefined;
    }
    // Most recently used goes last.
    this.entries.delete(id);
    this.entries.set(id, entry);
    return entry;
  }

  private fetch(escrowId: bigint, key: Address): Promise<Entry> {
    const id = cacheKey(escrowId, key);
    let pending = this.inFlight.get(id);
    if (!pending) {
      this.reads++;
      pending = this.read(escrowId, key)
        .then((state) => {
          const entry: Entry = { ...state, expiresAtMs: state.authorized ? undefined : this.nowMs() + this.negativeTtlMs };
          this.remember(id, entry);
          return entry;
        })
        .finally(() => this.inFlight.delete(id));
      this.inFlight.set(id, pending);
    }
    return pending;
  }

  private remember(id: string, entry: Entry): void {
    const current = this.entries.get(id);
    if (current && !supersedes(entry, current)) return;
    this.entries.delete(id);
    while (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(id, entry);
  }
}

/**
 * Knowledge of a (escrow, key) only moves forward: never authorized, then active (read at a later and later time),
 * then revoked (final). Reads may overlap, so an older answer never replaces a newer one.
 */
function supersedes(next: SessionKeyState, current: SessionKeyState): boolean {
  if (!current.authorized) return true;
  if (!next.authorized || current.revokedAt !== 0n) return false;
  return next.revokedAt !== 0n || next.readAt > current.readAt;
}

function cacheKey(escrowId: bigint, key: Address): string {
  return `${escrowId}:${key.toLowerCase()}`;
}

function judge(escrowId: bigint, key: Address, deadline: bigint, state: SessionKeyState): SessionKeyVerdict {
  if (!state.authorized) {
    return { ok: false, reason: "not-authorized", revokedAt: 0n, message: `${key} is not a session key of escrow ${escrowId}` };
  }
  if (state.revokedAt !== 0n && deadline > state.revokedAt + SESSION_KEY_GRACE_SECONDS) {
    return {
      ok: false,
      reason: "revoked",
      revokedAt: state.revokedAt,
      message: `session key ${key} of escrow ${escrowId} was revoked at ${state.revokedAt}; the authorization's deadline ${deadline} is past ${state.revokedAt + SESSION_KEY_GRACE_SECONDS} (revokedAt + ${SESSION_KEY_GRACE_SECONDS} s)`,
    };
  }
  if (state.revokedAt === 0n && deadline > state.readAt + SESSION_KEY_GRACE_SECONDS) {
    return {
      ok: false,
      reason: "deadline-too-far",
      revokedAt: 0n,
      message: `the authorization's deadline ${deadline} is more than ${SESSION_KEY_GRACE_SECONDS} s past chain time ${state.readAt}, when session key ${key} of escrow ${escrowId} was last seen active (a revocation right after could void it)`,
    };
  }
  return { ok: true, revokedAt: state.revokedAt };
}

/** One cache per chain connection, for callers that have no place to keep one (the nodes' validation functions). */
const shared = new WeakMap<object, SessionKeyCache>();

export function sessionKeysFor(ctx: Pick<ChainReader, "publicClient" | "marketplace">): SessionKeyCache {
  let cache = shared.get(ctx);
  if (!cache) {
    cache = new SessionKeyCache(chainSessionKeyReader(ctx));
    shared.set(ctx, cache);
  }
  return cache;
}
