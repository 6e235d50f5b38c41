/**
 * The indexed head, read from Ponder's published checkpoint view every `intervalMs` by one background query, so
 * requests never wait for it. The response cache keys on `head.key`:
 *
 *   key = the indexer's latest checkpoint, its ready flag, and a fingerprint of the protocol events of the last
 *         `reorgWindow` blocks (count and a sum of row hashes over id and transaction hash)
 *
 * It is a function of the indexed state alone, so every API process at the same state computes the same key (and a
 * restarted one too: they share Redis entries), and any change gives a new one. The checkpoint alone is not enough:
 * after a reorg at the same height the replacing block may carry the same timestamp, hence the same checkpoint, and
 * Ponder 0.16 keeps unfinalized blocks (and so the head's hash) only in memory (ponder_sync.blocks holds finalized
 * blocks only). Every indexed state change comes from a protocol event, which the indexer mirrors into
 * protocol_event, and a reorg can only replace unfinalized blocks, so the events of the window fingerprint it.
 * Within one process the head number told to clients never goes backwards.
 */
import type { Database } from "./db";

export interface Head {
  number: bigint;
  timestamp: bigint;
  ready: boolean;
  /** Increases whenever `key` changes in this process (listeners, tests); not shared between processes. */
  version: number;
  /** The indexed state's identity, the same in every process at the same state: what cached answers are keyed on. */
  key: string;
  /** The block the checkpoint names, even when a reorg moved it below `number`. */
  checkpointNumber: bigint;
}

/** Ponder checkpoints: 10 digits block timestamp, 16 chain id, 16 block number, then position within the block. */
export function decodeCheckpoint(checkpoint: string): { timestamp: bigint; chainId: bigint; number: bigint } {
  return { timestamp: BigInt(checkpoint.slice(0, 10)), chainId: BigInt(checkpoint.slice(10, 26)), number: BigInt(checkpoint.slice(26, 42)) };
}

export class HeadTracker {
  private current?: Head;
  private timer?: NodeJS.Timeout;
  private readonly listeners = new Set<(head: Head) => void>();
  lastError?: Error;

  constructor(
    private readonly db: Database,
    private readonly schema: string,
    private readonly intervalMs = 250,
    /** Blocks that may still be replaced by a reorg (Ponder's finality depth is 30 on most chains). */
    private readonly reorgWindow = 64,
  ) {}

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  head(): Head | undefined {
    return this.current;
  }

  onAdvance(listener: (head: Head) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async refresh(): Promise<Head | undefined> {
    try {
      // One statement: the checkpoint and the fingerprint are of the same snapshot. The window is an index range
      // scan on protocol_event(block_number).
      const [row] = await this.db.query<{ latest_checkpoint: string; ready: number | null; events: string }>(
        `WITH c AS (SELECT latest_checkpoint FROM "${this.schema}"."_ponder_checkpoint" LIMIT 1)
         SELECT c.latest_checkpoint,
                (SELECT (m.value->>'is_ready')::int FROM "${this.schema}"."_ponder_meta" m WHERE m.key = 'app') AS ready,
                (SELECT count(*) || ':' || coalesce(sum(hashtextextended(e.id || '/' || e.tx_hash, 0)), 0)
                   FROM "${this.schema}".protocol_event e
                  WHERE e.block_number > substring(c.latest_checkpoint from 27 for 16)::bigint - $1) AS events
           FROM c`,
        [this.reorgWindow],
      );
      this.lastError = undefined;
      if (!row) return this.current;
      const key = `${row.latest_checkpoint}|${row.ready === 1 ? 1 : 0}|${row.events}`;
      if (key === this.current?.key) return this.current;
      const { number, timestamp } = decodeCheckpoint(row.latest_checkpoint);
      // A reorg may move the checkpoint back; what clients are told (number, timestamp) never does, and the next
      // advance moves past it. The key changes either way, so no answer from the abandoned branch is served again.
      const previous = this.current;
      const forward = !previous || number >= previous.number;
      this.current = {
        number: forward ? number : previous.number,
        timestamp: forward ? timestamp : previous.timestamp,
        ready: row.ready === 1,
        version: (previous?.version ?? 0) + 1,
        key,
        checkpointNumber: number,
      };
      for (const listener of this.listeners) listener(this.current);
    } catch (error) {
      this.lastError = error as Error;
    }
    return this.current;
  }
}
