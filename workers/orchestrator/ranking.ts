/**
 * What the orchestrator has learned about each listing's service: success rate and latency of recent calls.
 * Observations decay with a half-life, so a provider that failed an hour ago is not punished forever and one that
 * just started failing drops quickly. Ranking cost (lower is better):
 *   price per unit x (1 + expected latency in seconds) / expected success probability
 * with a Laplace prior (one success, one failure) so an unmeasured listing gets a fair first try.
 */
export interface ListingObservation {
  successes: number;
  failures: number;
  /** Exponentially weighted mean latency of successful calls, ms (undefined until one succeeds). */
  latencyMs?: number;
  updatedAt: number;
}

export interface RankInput {
  listingId: bigint;
  pricePerUnit: bigint;
}

const LATENCY_WEIGHT = 0.3;
const DEFAULT_LATENCY_MS = 250;

export class ServiceStats {
  private readonly stats = new Map<string, ListingObservation>();

  constructor(
    private readonly halfLifeMs = 5 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  private decayed(listingId: bigint): ListingObservation {
    const key = listingId.toString();
    const current = this.stats.get(key) ?? { successes: 0, failures: 0, updatedAt: this.now() };
    const t = this.now();
    const factor = Math.pow(0.5, (t - current.updatedAt) / this.halfLifeMs);
    const next = { ...current, successes: current.successes * factor, failures: current.failures * factor, updatedAt: t };
    this.stats.set(key, next);
    return next;
  }

  recordSuccess(listingId: bigint, latencyMs: number): void {
    const s = this.decayed(listingId);
    s.successes += 1;
    s.latencyMs = s.latencyMs === undefined ? latencyMs : s.latencyMs + LATENCY_WEIGHT * (latencyMs - s.latencyMs);
  }

  recordFailure(listingId: bigint): void {
    this.decayed(listingId).failures += 1;
  }

  observation(listingId: bigint): ListingObservation {
    return this.decayed(listingId);
  }

  successProbability(listingId: bigint): number {
    const s = this.decayed(listingId);
    return (s.successes + 1) / (s.successes + s.failures + 2);
  }

  /** Measured latency of successful calls, or the default an unmeasured listing is assumed to have. */
  expectedLatencyMs(listingId: bigint): number {
    return this.decayed(listingId).latencyMs ?? DEFAULT_LATENCY_MS;
  }

  /**
   * Expected successful answers per second of one connection: success probability / expected latency. The
   * orchestrator measures calls, not tokens, so this stands in for OpenRouter's tokens per second; it differs from
   * latency ordering by counting how often the calls fail.
   */
  throughput(listingId: bigint): number {
    return (this.successProbability(listingId) * 1000) / Math.max(1, this.expectedLatencyMs(listingId));
  }

  cost(c: RankInput): number {
    const latency = this.expectedLatencyMs(c.listingId);
    // Prices are raw FTNS (1e18 per token); a float keeps their ratios, which is all ranking needs.
    return (Number(c.pricePerUnit) * (1 + latency / 1000)) / this.successProbability(c.listingId);
  }

  /** Cheapest expected cost first; equal costs keep the lower listing id first (stable, deterministic). */
  rank<T extends RankInput>(candidates: T[]): T[] {
    return candidates
      .map((c) => ({ c, cost: this.cost(c) }))
      .sort((a, b) => a.cost - b.cost || (a.c.listingId < b.c.listingId ? -1 : 1))
      .map(({ c }) => c);
  }
}
