/**
 * Prometheus metrics (prom-client): HTTP requests by operation and outcome, latency histogram, response-cache hits
 * and misses by store, rate-limited, concurrency-limited, cost-refused and oversize requests, database timeouts and
 * outages, plus the process defaults (CPU, memory, event loop lag).
 */
import type { Plugin } from "graphql-yoga";
import client from "prom-client";
import type { CacheCounters } from "./cache";

export class ApiMetrics {
  readonly registry = new client.Registry();
  readonly requests = new client.Counter({ name: "prsm_api_requests_total", help: "GraphQL HTTP requests", labelNames: ["status"], registers: [this.registry] });
  readonly latency = new client.Histogram({
    name: "prsm_api_request_duration_seconds",
    help: "GraphQL request latency",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly cache = new client.Counter({ name: "prsm_api_cache_total", help: "Response cache lookups", labelNames: ["store", "result"], registers: [this.registry] });
  readonly rateLimited = new client.Counter({ name: "prsm_api_rate_limited_total", help: "Requests refused by the rate limit", registers: [this.registry] });
  readonly bodyTooLarge = new client.Counter({ name: "prsm_api_body_too_large_total", help: "Requests refused for their body size", registers: [this.registry] });
  readonly concurrencyLimited = new client.Counter({ name: "prsm_api_concurrency_limited_total", help: "Requests refused because their client had too many in flight", registers: [this.registry] });
  readonly costRefused = new client.Counter({ name: "prsm_api_cost_refused_total", help: "Queries refused by the row-cost model or the response-size cap", labelNames: ["code"], registers: [this.registry] });
  readonly databaseErrors = new client.Counter({ name: "prsm_api_database_errors_total", help: "Statement timeouts and database outages answered with 503", labelNames: ["code"], registers: [this.registry] });

  constructor() {
    client.collectDefaultMetrics({ register: this.registry, prefix: "prsm_api_" });
  }

  cacheCounters(store: string): CacheCounters {
    return {
      hit: () => this.cache.inc({ store, result: "hit" }),
      miss: () => this.cache.inc({ store, result: "miss" }),
      error: () => this.cache.inc({ store, result: "error" }),
    };
  }

  /** Times every GraphQL HTTP request from arrival to response. */
  plugin(): Plugin {
    const started = new WeakMap<Request, number>();
    return {
      onRequest: ({ request }) => {
        started.set(request, performance.now());
      },
      onResponse: ({ request, response }) => {
        const t0 = started.get(request);
        if (t0 !== undefined) this.latency.observe((performance.now() - t0) / 1000);
        this.requests.inc({ status: String(response.status) });
      },
    };
  }
}
