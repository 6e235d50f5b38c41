/**
 * The orchestrator's HTTP surface (node:http):
 *   POST /v1/chat/completions, /v1/embeddings   OpenAI-compatible, with the renter's X-PRSM-Authorization (one per
 *                                               escrow it offers) and optional X-PRSM-Category / -Listing / -Max-Price
 *   GET  /v1/models    every rentable listing (active, its gateway's provider key proven) with price, unit, category,
 *                      provider and measured success rate and latency, in OpenAI's list format (routing.ts)
 *   GET  /health, /metrics (Prometheus)
 */
import http from "node:http";
import client from "prom-client";
import { WorkerError } from "../shared/errors";
import { readBody, sendError, sendJson, sendMetrics, sendReply } from "../shared/http";
import type { Logger } from "../shared/logger";
import { responseSink } from "../shared/sse";
import { ENDPOINTS, type Endpoint } from "../provider-gateway/backend";
import type { Orchestrator } from "./orchestrator";
import type { ServiceStats } from "./ranking";
import type { ProviderRegistry } from "./registry";
import { modelList } from "./routing";

export class OrchestratorMetrics {
  readonly registry = new client.Registry();
  readonly requests = new client.Counter({ name: "prsm_orchestrator_requests_total", help: "Queries by endpoint and status", labelNames: ["endpoint", "status"], registers: [this.registry] });
  readonly attempts = new client.Counter({ name: "prsm_orchestrator_provider_attempts_total", help: "Provider calls by outcome", labelNames: ["outcome"], registers: [this.registry] });
  readonly latency = new client.Histogram({
    name: "prsm_orchestrator_request_duration_seconds",
    help: "Query latency including the provider",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly reportsForwarded = new client.Counter({ name: "prsm_orchestrator_reports_total", help: "Usage reports handed to consensus nodes by outcome", labelNames: ["outcome"], registers: [this.registry] });

  constructor() {
    client.collectDefaultMetrics({ register: this.registry, prefix: "prsm_orchestrator_" });
  }
}

export function createOrchestratorServer(
  orchestrator: Orchestrator,
  registry: ProviderRegistry,
  stats: ServiceStats,
  metrics: OrchestratorMetrics,
  log: Logger,
  bodyLimit: number,
): http.Server {
  return http.createServer(async (req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    try {
      if (req.method === "GET" && path === "/health") return sendJson(res, 200, { status: "ok", listings: registry.all().length });
      if (req.method === "GET" && path === "/v1/models") return sendJson(res, 200, modelList(registry.all(), stats));
      if (req.method === "GET" && path === "/metrics") return sendMetrics(res, metrics.registry);
      if (req.method === "POST" && ENDPOINTS.includes(path as Endpoint)) {
        const started = performance.now();
        const raw = await readBody(req, bodyLimit);
        const reply = await orchestrator.handle(path as Endpoint, raw, req.headers, responseSink(res));
        const elapsed = performance.now() - started;
        if (!reply) {
          metrics.requests.inc({ endpoint: path, status: "stream" });
          metrics.latency.observe(elapsed / 1000);
          return;
        }
        metrics.requests.inc({ endpoint: path, status: String(reply.status) });
        metrics.latency.observe(elapsed / 1000);
        if (reply.headers["server-timing"]) reply.headers["server-timing"] += `, total;dur=${elapsed.toFixed(2)}`;
        return sendReply(res, reply);
      }
      throw new WorkerError(`no route for ${req.method} ${path}`, "not-found", 404);
    } catch (error) {
      sendError(res, error, log);
    }
  });
}
