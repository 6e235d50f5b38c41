/**
 * The live feed behind subscriptions: on every advance of the indexed head it reads the protocol events indexed since
 * the last advance (one query) and publishes the new block and each event on an in-process pubsub. Each API process
 * derives the feed from Postgres itself, so subscribers of any process see the same events without a broker between
 * processes. A reorg moves the cursor back to the new head; events of the canonical branch are then published.
 */
import { createPubSub, SlidingBuffer, type PubSub } from "graphql-yoga";
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

type Topics = { block: [{ number: bigint; timestamp: bigint }]; event: [FeedEvent] };

export class EventFeed {
  readonly pubsub: PubSub<Topics> = createPubSub<Topics>({ repeaterBuffer: new SlidingBuffer(1_024) } as never);
  private cursor?: bigint;
  private running: Promise<void> = Promise.resolve();
  private unsubscribe?: () => void;

  constructor(
    private readonly db: Database,
    private readonly schema: string,
    private readonly head: HeadTracker,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.cursor = this.head.head()?.number;
    // Serialised: a slow query never lets two reads of the same range overlap.
    this.unsubscribe = this.head.onAdvance((head) => {
      this.running = this.running.then(() => this.publish(head)).catch((error: Error) => this.log.warn({ err: error.message }, "event feed read failed"));
    });
  }

  stop(): void {
    this.unsubscribe?.();
  }

  private async publish(head: Head): Promise<void> {
    const from = this.cursor ?? head.number;
    if (from > head.number) this.cursor = head.number; // a reorg: continue from the new head
    else if (from < head.number) {
      const events = await this.db.query<FeedEvent & Record<string, unknown>>(
        `SELECT id, contract, name, args, block_number::text, timestamp::text, tx_hash FROM "${this.schema}".protocol_event
          WHERE block_number > $1 AND block_number <= $2 ORDER BY block_number, id LIMIT 10000`,
        [from.toString(), head.number.toString()],
      );
      this.cursor = head.number;
      for (const event of events) this.pubsub.publish("event", event);
    }
    this.pubsub.publish("block", { number: head.number, timestamp: head.timestamp });
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
