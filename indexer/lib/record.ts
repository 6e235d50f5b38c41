/**
 * Shared by the handler modules: the generic event record every handler writes (so protocol_event mirrors every
 * event), the account upsert, and the daily statistics counters. All writes are idempotent per event: rows keyed by
 * event id are inserted with onConflictDoNothing, and counters are only touched by the one handler of their event.
 */
import schema from "ponder:schema";

// Ponder's handler context and event types are generic per event; these helpers need only the common parts.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Db = any;
export interface EventLike {
  id: string;
  name?: string;
  args: unknown;
  block: { number: bigint; timestamp: bigint };
  transaction: { hash: `0x${string}`; from: `0x${string}` };
}

const ZERO = "0x0000000000000000000000000000000000000000";

function jsonSafe(value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (Array.isArray(value)) return value.map(jsonSafe);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonSafe(v)]));
  return value;
}

export async function recordEvent(db: Db, contract: string, name: string, event: EventLike): Promise<void> {
  await db
    .insert(schema.protocolEvent)
    .values({
      id: event.id,
      contract,
      name,
      args: jsonSafe(event.args),
      blockNumber: event.block.number,
      timestamp: event.block.timestamp,
      txHash: event.transaction.hash,
    })
    .onConflictDoNothing();
}

export function isZero(address: string): boolean {
  return address.toLowerCase() === ZERO;
}

/** Applies `change` to an account row, creating it with zero balance and votes first. */
export async function updateAccount(
  db: Db,
  address: `0x${string}`,
  at: bigint,
  change: (row: { balance: bigint; votes: bigint; delegate: `0x${string}` | null }) => Partial<{ balance: bigint; votes: bigint; delegate: `0x${string}` }>,
): Promise<void> {
  await db.insert(schema.account).values({ address, balance: 0n, votes: 0n, delegate: null, updatedAt: at }).onConflictDoNothing();
  await db.update(schema.account, { address }).set((row: { balance: bigint; votes: bigint; delegate: `0x${string}` | null }) => ({ ...change(row), updatedAt: at }));
}

type DailyCounters = "volume" | "fees" | "chargeCount" | "escrowsOpened" | "escrowsClosed" | "newListings";

/** Adds to today's statistics; `activeEscrowsDelta` moves the running open-escrow count carried from the last day. */
export async function bumpDaily(db: Db, timestamp: bigint, add: Partial<Record<DailyCounters, bigint | number>>, activeEscrowsDelta = 0): Promise<void> {
  const day = Number(timestamp / 86_400n);
  const existing = await db.find(schema.dailyStat, { day });
  if (!existing) {
    const carried = await db.find(schema.protocolState, { id: "active-escrows" });
    await db.insert(schema.dailyStat).values({
      day,
      volume: 0n,
      fees: 0n,
      chargeCount: 0,
      escrowsOpened: 0,
      escrowsClosed: 0,
      activeEscrows: carried ? Number(carried.value) : 0,
      newListings: 0,
    });
  }
  await db.update(schema.dailyStat, { day }).set((row: Record<string, bigint | number>) => {
    const next: Record<string, bigint | number> = {};
    for (const [key, amount] of Object.entries(add)) {
      next[key] = typeof row[key] === "bigint" ? (row[key] as bigint) + BigInt(amount!) : (row[key] as number) + Number(amount);
    }
    if (activeEscrowsDelta !== 0) next.activeEscrows = (row.activeEscrows as number) + activeEscrowsDelta;
    return next;
  });
  if (activeEscrowsDelta !== 0) {
    await db.insert(schema.protocolState).values({ id: "active-escrows", value: BigInt(activeEscrowsDelta) })
      .onConflictDoUpdate((row: { value: bigint }) => ({ value: row.value + BigInt(activeEscrowsDelta) }));
  }
}

type MarketCounters = "listings" | "activeListings" | "providers" | "escrows" | "openEscrows" | "renters" | "charges";
export type MarketChange = Partial<Record<MarketCounters, number>> & { volume?: bigint; fees?: bigint };
const MARKET = "global";

/** Moves the running market totals (market_stat) by `change`; the row is created at zero by its first change. */
export async function bumpMarket(db: Db, change: MarketChange): Promise<void> {
  const entries = Object.entries(change).filter(([, v]) => v !== undefined && v !== 0 && v !== 0n);
  if (entries.length === 0) return;
  const zero = { listings: 0, activeListings: 0, providers: 0, escrows: 0, openEscrows: 0, renters: 0, charges: 0, volume: 0n, fees: 0n };
  await db
    .insert(schema.marketStat)
    .values({ id: MARKET, ...zero, ...change })
    .onConflictDoUpdate((row: Record<string, number | bigint>) => {
      const next: Record<string, number | bigint> = {};
      for (const [key, amount] of entries) {
        next[key] = typeof row[key] === "bigint" ? (row[key] as bigint) + BigInt(amount as bigint) : (row[key] as number) + Number(amount);
      }
      return next;
    });
}

/**
 * Counts one more listing (as provider) or escrow (as renter) for `address`; true when it is the account's first,
 * which is when the distinct providers or renters total grows.
 */
export async function countFirst(db: Db, address: `0x${string}`, kind: "listings" | "escrows"): Promise<boolean> {
  const row = await db
    .insert(schema.marketAccount)
    .values({ address, listings: kind === "listings" ? 1 : 0, escrows: kind === "escrows" ? 1 : 0 })
    .onConflictDoUpdate((r: { listings: number; escrows: number }) => ({ [kind]: r[kind] + 1 }));
  return row[kind] === 1;
}
