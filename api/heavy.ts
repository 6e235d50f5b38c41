/**
 * A process-wide bound on expensive queries running at once. The row-cost model (cost.ts) refuses what is too big
 * for any one response; this bounds what many allowed-but-big responses cost together: at 1M escrows twenty
 * concurrent 25,000-row queries held 1.2 GB of rows and answers (bench/results/api-scale.md). A query measured above
 * `API_HEAVY_ROWS` waits for one of `API_HEAVY_CONCURRENCY` slots; beyond `API_HEAVY_WAITING` waiting, it is refused
 * at once (503 SERVER_BUSY, retry later). Light queries never wait here. Per-client fairness is the concurrency
 * limit's and the database gate's (server.ts, db.ts); this one bounds memory and the pool across all clients.
 */
import { GraphQLError } from "graphql";

export interface HeavyLimits {
  /** Rows above which a query is heavy. */
  rows: number;
  concurrent: number;
  waiting: number;
}

export class HeavyGate {
  private running = 0;
  private readonly queue: (() => void)[] = [];

  constructor(readonly limits: HeavyLimits) {}

  get inFlight(): number {
    return this.running;
  }

  get waitingCount(): number {
    return this.queue.length;
  }

  /** A slot's release function (call it once the answer is built), or null when too many already wait. */
  async acquire(): Promise<(() => void) | null> {
    if (this.running < this.limits.concurrent) {
      this.running++;
      return this.releaser();
    }
    if (this.queue.length >= this.limits.waiting) return null;
    await new Promise<void>((resolve) => this.queue.push(resolve));
    return this.releaser(); // the releasing query handed its slot over: `running` is unchanged
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.queue.shift();
      if (next) next();
      else this.running--;
    };
  }
}

export function busyError(limits: HeavyLimits): GraphQLError {
  return new GraphQLError(`the server is answering ${limits.concurrent} expensive queries and ${limits.waiting} more are waiting; retry shortly, or lower the limits`, {
    extensions: { code: "SERVER_BUSY", http: { status: 503, headers: { "retry-after": "1" } } },
  });
}
