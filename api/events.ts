/**
 * The live feed behind subscriptions. Each API process derives it from Postgres itself, so subscribers of any process
 * see the same events without a broker between processes. On every change of the indexed head (head.ts):
 *
 * 1. Reorgs: the per-block fingerprints (count and row-hash sum of protocol_event) of the last `reorgWindow` blocks up
 *    to the cursor are compared with what was published. A block whose events changed (a reorg replaced it, at the
 *    same height or below) has its canonical events published again, in order. A reorg that moves the checkpoint
 *    back moves the cursor back with it; the replacing blocks are then new blocks.
 * 2. New blocks: every event after the cursor up to the head, in (block_number, id) order, in keyset pages of
 *    `pageSize` rows, so an advance of any size is published whole (no LIMIT that drops the rest) with bounded memory.
 *    Between pages the feed yields to the event loop so subscribers' streams drain.
 * 3. The block itself, once its events are out (a newBlock subscriber sees the block after its events).
 *
 * Each subscriber has its own bounded queue (`subscriberBuffer` events): a subscriber that falls further behind is
 * ended with an error (FEED_SUBSCRIBER_TOO_SLOW) rather than holding memory without bound or losing events silently.
 * The hand-written queue replaces yoga's createPubSub, whose one `repeaterBuffer` instance would be shared by every
 * subscription (the repeaters would take each other's events).
 */
import { GraphQLError } from "graphql";
import type { Logger } from "pino";
import type { Database } from "./db";
import type { Head, HeadTracker } from "./head";

export interface FeedEvent {
  id: string;
  contract: string;
  name: string;
  args: Record<string, unknown>;
  block_number: string;
  timestamp: string;
  tx_hash: string;
}

type Topics = { block: { number: bigint; timestamp: bigint }; event: FeedEvent };

export interface FeedOptions {
  pageSize?: number;
  reorgWindow?: number;
  subscriberBuffer?: number;
}

/** One subscriber's stream: a FIFO of at most `max` undelivered values; overflowing ends it with an error. */
class Subscription<T> implements AsyncIterableIterator<T> {
  private readonly queue: T[] = [];
  private waiter?: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void };
  private done = false;
  private failure?: Error;

  constructor(
    private readonly max: number,
    private readonly detach: () => void,
  ) {}

  get backlog(): number {
    return this.queue.length;
  }

  push(value: T): void {
    if (this.done) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value, done: false });
    } else if (this.queue.length >= this.max) {
      this.failure = new GraphQLError(`this subscription fell more than ${this.max} events behind the feed and was ended; subscribe again`, { extensions: { code: "FEED_SUBSCRIBER_TOO_SLOW" } });
      this.queue.length = 0;
      this.finish();
    } else this.queue.push(value);
  }

  next(): Promise<IteratorResult<T>> {
    if (this.queue.length) return Promise.resolve({ value: this.queue.shift()!, done: false });
    if (this.failure) {
      const failure = this.failure;
      this.failure = undefined;
      return Promise.reject(failure);
    }
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  return(): Promise<IteratorResult<T>> {
    this.queue.length = 0;
    this.finish();
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(error?: unknown): Promise<IteratorResult<T>> {
    this.finish();
    return Promise.reject(error);
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.detach();
    const w = this.waiter;
    this.waiter = undefined;
    if (w && this.failure) {
      const failure = this.failure;
      this.failure = undefined;
      w.reject(failure);
    } else w?.resolve({ value: undefined, done: true });
  }
}

export class FeedPubSub<T extends Record<string, unknown>> {
  private readonly topics = new Map<keyof T, Set<Subscription<unknown>>>();

  constructor(private readonly buffer: number) {}

  publish<K extends keyof T>(topic: K, payload: T[K]): void {
    for (const s of this.topics.get(topic) ?? []) s.push(payload);
  }

  subscribe<K extends keyof T>(topic: K): AsyncIterableIterator<T[K]> {
    let set = this.topics.get(topic);
    if (!set) this.topics.set(topic, (set = new Set()));
    const subscription: Subscription<T[K]> = new Subscription<T[K]>(this.buffer, () => set.delete(subscription as Subscription<unknown>));
    set.add(subscription as Subscription<unknown>);
    return subscription;
  }

  subscribers(topic: keyof T): number {
    return this.topics.get(topic)?.size ?? 0;
  }

  /** The largest backlog of any subscriber (tests and metrics: memory held for slow subscribers). */
  maxBacklog(): number {
    let max = 0;
    for (const set of this.topics.values()) for (const s of set) max = Math.max(max, s.backlog);
    return max;
  }
}

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

export class EventFeed {
  readonly pubsub: FeedPubSub<Topics>;
  /** The last block whose events were published. */
  private cursor?: bigint;
  /** Fingerprints of the published blocks in the reorg window. */
  private readonly published = new Map<bigint, string>();
  private lastBlock?: bigint;
  private running: Promise<void> = Promise.resolve();
  private unsubscribe?: () => void;
  private readonly pageSize: number;
  private readonly reorgWindow: bigint;
  /** Events published so far (tests and metrics). */
  published_events = 0;

  constructor(
    private readonly db: Database,
    private readonly schema: string,
    private readonly head: HeadTracker,
    private readonly log: Logger,
    options: FeedOptions = {},
  ) {
    this.pageSize = options.pageSize ?? 1_000;
    this.reorgWindow = BigInt(options.reorgWindow ?? 64);
    this.pubsub = new FeedPubSub<Topics>(options.subscriberBuffer ?? 4_096);
  }

  start(): void {
    const initial = this.head.head();
    this.cursor = initial?.checkpointNumber;
    // What is indexed at start counts as published: its fingerprints are the baseline for reorg detection.
    if (initial) this.running = this.fingerprints(initial.checkpointNumber).then((fp) => fp.forEach((v, k) => this.published.set(k, v))).catch((error: Error) => this.log.warn({ err: error.message }, "event feed: reading the window failed"));
    // Serialised: a slow read never lets two reads of the same range overlap.
    this.unsubscribe = this.head.onAdvance((head) => {
      this.running = this.running.then(() => this.publish(head)).catch((error: Error) => this.log.warn({ err: error.message }, "event feed read failed"));
    });
  }

  stop(): void {
    this.unsubscribe?.();
  }

  /** Resolves once every head change seen so far has been published (tests). */
  idle(): Promise<void> {
    return this.running;
  }

  private async fingerprints(upTo: bigint): Promise<Map<bigint, string>> {
    const rows = await this.db.query<{ block_number: string; fp: string }>(
      `SELECT block_number::text, count(*) || ':' || sum(hashtextextended(id || '/' || tx_hash, 0)) AS fp
         FROM "${this.schema}".protocol_event WHERE block_number > $1 AND block_number <= $2 GROUP BY block_number`,
      [(upTo - this.reorgWindow).toString(), upTo.toString()],
    );
    return new Map(rows.map((r) => [BigInt(r.block_number), r.fp]));
  }

  /** Publishes the events of blocks after `fromBlock` up to `to`, in (block_number, id) order, page by page. */
  private async publishRange(fromBlock: bigint, to: bigint): Promise<void> {
    const columns = `id, contract, name, args, block_number::text, timestamp::text, tx_hash`;
    let page = await this.db.query<FeedEvent & Record<string, unknown>>(
      `SELECT ${columns} FROM "${this.schema}".protocol_event WHERE block_number > $1 AND block_number <= $2 ORDER BY block_number, id LIMIT ${this.pageSize}`,
      [fromBlock.toString(), to.toString()],
    );
    for (;;) {
      for (const event of page) this.pubsub.publish("event", event);
      this.published_events += page.length;
      if (page.length < this.pageSize) return;
      const last = page[page.length - 1];
      await yieldToLoop();
      // Keyset on (block_number, id), written so an index on block_number alone bounds the scan.
      page = await this.db.query<FeedEvent & Record<string, unknown>>(
        `SELECT ${columns} FROM "${this.schema}".protocol_event
          WHERE block_number >= $1 AND (block_number > $1 OR id > $2) AND block_number <= $3 ORDER BY block_number, id LIMIT ${this.pageSize}`,
        [last.block_number, last.id, to.toString()],
      );
    }
  }

  private async publish(head: Head): Promise<void> {
    const target = head.checkpointNumber;
    if (this.cursor === undefined) this.cursor = target;
    if (target < this.cursor) {
      // The checkpoint moved back (a reorg being re-indexed): blocks above it are gone; their replacements are new.
      this.cursor = target;
      for (const block of [...this.published.keys()]) if (block > target) this.published.delete(block);
    }
    const now = await this.fingerprints(target);
    // 1. Blocks already published whose events changed: a reorg replaced them. Re-publish their canonical events.
    const replaced = [...now.entries()].filter(([block, fp]) => block <= this.cursor! && this.published.get(block) !== fp).map(([block]) => block);
    for (const block of [...this.published.keys()]) if (block <= this.cursor && !now.has(block)) this.published.delete(block); // replaced by an empty block
    replaced.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const block of replaced) {
      this.log.info({ block: block.toString() }, "event feed: block replaced by a reorg, publishing its canonical events");
      await this.publishRange(block - 1n, block);
    }
    // 2. New blocks.
    const reorged = replaced.length > 0;
    if (target > this.cursor) await this.publishRange(this.cursor, target);
    this.cursor = target;
    this.published.clear();
    for (const [block, fp] of now) this.published.set(block, fp);
    // 3. The block (once per number, and again when a reorg replaced the head's branch).
    if (this.lastBlock !== head.number || reorged) {
      this.lastBlock = head.number;
      this.pubsub.publish("block", { number: head.number, timestamp: head.timestamp });
    }
  }
}

/** Whether any argument of the event is `address` (case-insensitive): transfers, escrows, votes, ... of an account. */
export function involves(event: FeedEvent, address: string): boolean {
  const wanted = address.toLowerCase();
  return Object.values(event.args ?? {}).some((v) => typeof v === "string" && v.toLowerCase() === wanted);
}

/** Whether the event is about a listing (its listingId argument) or a proposal (its proposalId argument). */
export function hasArg(event: FeedEvent, name: string, value: string): boolean {
  const v = event.args?.[name];
  return v !== undefined && v !== null && String(v) === value;
}
