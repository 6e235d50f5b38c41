/**
 * The gateway's HTTP surface (node:http):
 *   POST /v1/chat/completions, /v1/embeddings   OpenAI-compatible; needs the renter's X-PRSM-Authorization header;
 *                                               answers with the provider-signed usage report in X-PRSM-Receipt
 *                                               (`stream: true`: SSE chunks, the report in a final event)
 *   GET  /v1/info      provider address, chain, model and the listings served (what orchestrators discover)
 *   GET  /v1/models    OpenAI-style model list
 *   POST /v1/identity  {nonce}: the provider key's signature proving this gateway is the listings' provider (identity.ts)
 *   GET  /health, /metrics (Prometheus)
 */
import http from "node:http";
import client from "prom-client";
import { WorkerError } from "../shared/errors";
import { readBody, readJson, sendError, sendJson, sendMetrics, sendReply } from "../shared/http";
import type { Logger } from "../shared/logger";
import { responseSink } from "../shared/sse";
import { ENDPOINTS, type Endpoint } from "./backend";
import type { ProviderGateway } from "./gateway";
import { IDENTITY_PATH, type IdentityResponder } from "./identity";

export class GatewayMetrics {
  readonly registry = new client.Registry();
  readonly requests = new client.Counter({ name: "prsm_gateway_requests_total", help: "Model requests by endpoint and status", labelNames: ["endpoint", "status"], registers: [this.registry] });
  readonly units = new client.Counter({ name: "prsm_gateway_units_total", help: "Billing units served", registers: [this.registry] });
  readonly latency = new client.Histogram({
    name: "prsm_gateway_request_duration_seconds",
    help: "Model request latency (chain checks, model, signing)",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  /** Set by main: the settler's view (signed reports the chain has not accounted yet, receipt charges sent). */
  settlement: () => { unsettledReports: number; receiptCharges: number } = () => ({ unsettledReports: 0, receiptCharges: 0 });

  constructor() {
    client.collectDefaultMetrics({ register: this.registry, prefix: "prsm_gateway_" });
    const metrics = this;
    new client.Gauge({
      name: "prsm_gateway_unsettled_reports",
      help: "Signed usage reports the chain has not accounted yet",
      registers: [this.registry],
      collect() {
        this.set(metrics.settlement().unsettledReports);
      },
    });
    new client.Gauge({
      name: "prsm_gateway_receipt_charges",
      help: "Renter acknowledgements this process charged by receipt (the committee had not settled them)",
      registers: [this.registry],
      collect() {
        this.set(metrics.settlement().receiptCharges);
      },
    });
  }
}

export function createGatewayServer(gateway: ProviderGateway, metrics: GatewayMetrics, log: Logger, bodyLimit: number, identity?: IdentityResponder): http.Server {
  return http.createServer(async (req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    try {
      if (req.method === "GET" && path === "/health") return sendJson(res, 200, { status: "ok", ...gateway.info(), ...metrics.settlement() });
      if (req.method === "GET" && path === "/v1/info") return sendJson(res, 200, gateway.info());
      if (req.method === "POST" && path === IDENTITY_PATH && identity) return sendJson(res, 200, await identity.answer(await readJson(req, 4_096)));
      if (req.method === "GET" && path === "/v1/models") {
        const info = gateway.info();
        return sendJson(res, 200, { object: "list", data: [{ id: info.model, object: "model", owned_by: info.provider, listings: info.listings }] });
      }
      if (req.method === "GET" && path === "/metrics") return sendMetrics(res, metrics.registry);
      if (req.method === "POST" && ENDPOINTS.includes(path as Endpoint)) {
        const started = performance.now();
        const raw = await readBody(req, bodyLimit);
        const reply = await gateway.handle(path as Endpoint, raw, req.headers, responseSink(res));
        metrics.latency.observe((performance.now() - started) / 1000);
        if (!reply) {
          metrics.requests.inc({ endpoint: path, status: "stream" });
          return;
        }
        metrics.requests.inc({ endpoint: path, status: String(reply.status) });
        const units = reply.headers["x-prsm-units"];
        if (units) metrics.units.inc(Number(units));
        return sendReply(res, reply);
      }
      throw new WorkerError(`no route for ${req.method} ${path}`, "not-found", 404);
    } catch (error) {
      sendError(res, error, log);
    }
  });
}
