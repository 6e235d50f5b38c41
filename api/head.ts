/**
 * The indexed head, read from Ponder's published checkpoint view every `intervalMs` by one background query, so
 * requests never wait for it. The response cache keys on it: when the head advances, every cached answer is for an
 * older block and is no longer served, and within one process the head never goes backwards.
 */
import type { Database } from "./db";

export interface Head {
  number: bigint;
  timestamp: bigint;
  ready: boolean;
  /** Increases whenever the indexer's checkpoint changes, reorgs included: what cached answers are keyed on. */
  version: number;
}

/** Ponder checkpoints: 10 digits block timestamp, 16 chain id, 16 block number, then position within the block. */
export function decodeCheckpoint(checkpoint: string): { timestamp: bigint; chainId: bigint; number: bigint } {
  return { timestamp: BigInt(checkpoint.slice(0, 10)), chainId: BigInt(checkpoint.slice(10, 26)), number: BigInt(checkpoint.slice(26, 42)) };
}

export class HeadTracker {
  private current?: Head;
  private checkpoint?: string;
  private timer?: NodeJS.Timeout;
  private readonly listeners = new Set<(head: Head) => void>();
  lastError?: Error;

  constructor(
    private readonly db: Database,
    private readonly schema: string,
    private readonly intervalMs = 250,
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
      const [row] = await this.db.query<{ latest_checkpoint: string; ready: number | null }>(
        `SELECT c.latest_checkpoint, (SELECT (m.value->>'is_ready')::int FROM "${this.schema}"."_ponder_meta" m WHERE m.key = 'app') AS ready
           FROM "${this.schema}"."_ponder_checkpoint" c LIMIT 1`,
      );
      this.lastError = undefined;
      if (!row || row.latest_checkpoint === this.checkpoint) {
        if (row && this.current) this.current.ready = row.ready === 1;
        return this.current;
      }
      this.checkpoint = row.latest_checkpoint;
      const { number, timestamp } = decodeCheckpoint(row.latest_checkpoint);
      // A reorg may move the checkpoint back; what clients are told (number, timestamp) never does, and the next
      // advance moves past it. The version changes either way, so no answer from the abandoned branch is served again.
      const previous = this.current;
      const forward = !previous || number >= previous.number;
      this.current = {
        number: forward ? number : previous.number,
        timestamp: forward ? timestamp : previous.timestamp,
        ready: row.ready === 1,
        version: (previous?.version ?? 0) + 1,
      };
      for (const listener of this.listeners) listener(this.current);
    } catch (error) {
      this.lastError = error as Error;
    }
    return this.current;
  }
}
