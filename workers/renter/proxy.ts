/**
 * The renter proxy's HTTP surface: a plain OpenAI-compatible API on the renter's own machine, so any OpenAI client,
 * SDK or chat UI uses PRSM by changing only its base URL.
 *
 *   GET  /v1/models                       what the orchestrator offers (listing-<id>, categories, `auto`)
 *   POST /v1/chat/completions             `stream: true` supported (SSE chunks, usage + PRSM charge in the last one
 *                                         with `stream_options.include_usage`)
 *   POST /v1/embeddings
 *   GET  /v1/ledger                       the local ledger: escrows, units acknowledged, spend
 *   GET  /health, /metrics (Prometheus)
 *
 * With RENTER_API_KEY set every /v1 request needs `Authorization: Bearer <key>` (the proxy spends the renter's
 * money). Each request: the escrows its `model` may pay from (escrow-pool.ts), one authorization per escrow signed
 * over the exact body, through the orchestrator; the provider's report is checked (its signature is the listing's
 * provider's, it commits to the bytes received, its units match the usage the answer shows) before it is
 * acknowledged and recorded. Errors are OpenAI's shape: `{ error: { message, type, code, param } }`.
 */
import http from "node:http";
import client from "prom-client";
import { formatEther } from "viem";
import { ENDPOINTS, type Endpoint } from "../provider-gateway/backend";
import { BadRequest, Unauthorized, WorkerError } from "../shared/errors";
import { readBody, sendJson, sendMetrics } from "../shared/http";
import type { Logger } from "../shared/logger";
import { DONE } from "../shared/sse";
import { MeteringMismatch, type RenterClient } from "./client";
import type { EscrowPool } from "./escrow-pool";
import type { Ledger } from "./ledger";

const LOCAL_ORIGIN = /^https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/i;
const LOCAL_HOST = /^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/i;

export interface ProxyOptions {
  /** Local bearer token; undefined: none required (bind to 127.0.0.1). */
  apiKey?: string;
  bodyLimit: number;
  /** Units one query may add at most (what a cheating provider can take per query, at worst). */
  queryBudgetUnits: bigint;
}

export class RenterMetrics {
  readonly registry = new client.Registry();
  readonly requests = new client.Counter({ name: "prsm_renter_requests_total", help: "OpenAI requests by endpoint and status", labelNames: ["endpoint", "status"], registers: [this.registry] });
  readonly units = new client.Counter({ name: "prsm_renter_units_total", help: "Billing units acknowledged", registers: [this.registry] });
  readonly refusedReports = new client.Counter({ name: "prsm_renter_refused_reports_total", help: "Provider reports refused (not acknowledged) by reason", labelNames: ["reason"], registers: [this.registry] });

  constructor(ledger: Ledger) {
    client.collectDefaultMetrics({ register: this.registry, prefix: "prsm_renter_" });
    new client.Gauge({
      name: "prsm_renter_spent_ftns",
      help: "FTNS acknowledged across the ledger's escrows",
      registers: [this.registry],
      collect() {
        this.set(Number(formatEther(ledger.all().reduce((sum, e) => sum + BigInt(e.spent), 0n))));
      },
    });
  }
}

/** OpenAI's error types by status. */
function openAiType(status: number): string {
  if (status === 400 || status === 404 || status === 413 || status === 422) return "invalid_request_error";
  if (status === 401 || status === 403) return "authentication_error";
  if (status === 402) return "insufficient_quota";
  if (status === 429) return "rate_limit_error";
  return "api_error";
}

function sendOpenAiError(res: http.ServerResponse, status: number, code: string, message: string): void {
  if (res.headersSent) return;
  sendJson(res, status, { error: { message, type: openAiType(status), code, param: null } });
}

/** An orchestrator or gateway error body `{ error: { code, message } }` in OpenAI's shape. */
function relayError(res: http.ServerResponse, status: number, body: string | undefined): void {
  let code = "upstream-error";
  let message = (body ?? "").slice(0, 500) || `status ${status}`;
  try {
    const json = JSON.parse(body ?? "") as { error?: { code?: string; message?: string } };
    code = json.error?.code ?? code;
    message = json.error?.message ?? message;
  } catch {
    // not JSON: the text is the message
  }
  sendOpenAiError(res, status, code, message);
}

export function createRenterProxy(renter: RenterClient, pool: EscrowPool, ledger: Ledger, metrics: RenterMetrics, log: Logger, options: ProxyOptions): http.Server {
  /**
   * The escrows a request may pay from. Usage the chain accounted beyond what this proxy acknowledged is accepted only
   * as far as streams the renter left, then the escrow's lifetime allowance for unexplained usage (one query's budget,
   * kept in the ledger across restarts: client.ts), explain it; beyond that the escrow is not offered again. What is
   * accepted is acknowledged (a receipt), so the gateway's credit window counts it.
   */
  const escrowsFor = (model: unknown) =>
    pool.escrowsFor(typeof model === "string" ? model : undefined, async (id, escrow) => {
      const gap = renter.acceptChainUsage(id, escrow.units);
      if (gap === undefined) {
        log.warn({ escrowId: id.toString(), chainUnits: escrow.units.toString() }, "escrow charged beyond what this proxy acknowledged and its allowance; not offered");
        return false;
      }
      if (gap > 0n) ledger.record(id, await renter.acknowledge(id, escrow.units), false);
      return true;
    });

  const charge = (escrowId: bigint, units: bigint) => {
    const entry = ledger.get(escrowId);
    const costWei = entry ? units * BigInt(entry.pricePerUnit) : 0n;
    return { escrowId: escrowId.toString(), listingId: entry?.listingId, units: units.toString(), costWei: costWei.toString(), cost: Number(formatEther(costWei)) };
  };

  const recorded = (escrowId: bigint, units: bigint) => {
    const receipt = renter.lastReceipt(escrowId);
    if (receipt) ledger.record(escrowId, receipt);
    if (units > 0n) metrics.units.inc(Number(units));
  };

  async function complete(endpoint: Endpoint, request: Record<string, unknown>, res: http.ServerResponse): Promise<number> {
    const escrowIds = await escrowsFor(request.model);
    let result;
    try {
      result = await renter.query(endpoint, request, { escrowIds, budgetUnits: options.queryBudgetUnits });
    } catch (error) {
      if (error instanceof MeteringMismatch) {
        metrics.refusedReports.inc({ reason: "metering" });
        sendOpenAiError(res, 502, "metering-mismatch", `the provider's usage report was refused: ${error.message}; nothing was acknowledged`);
        return 502;
      }
      throw error;
    }
    if (result.status !== 200) {
      relayError(res, result.status, result.body);
      return result.status;
    }
    recorded(result.escrowId!, result.units!);
    const json = result.json;
    const prsm = charge(result.escrowId!, result.units!);
    if (json.usage && typeof json.usage === "object") json.usage.cost = prsm.cost;
    json.prsm = prsm;
    sendJson(res, 200, json);
    return 200;
  }

  async function streamed(request: Record<string, unknown>, res: http.ServerResponse): Promise<number> {
    const escrowIds = await escrowsFor(request.model);
    const wantsUsage = (request.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true;
    // The proxy always asks for usage (it checks the report against it) and passes the chunk on only if asked.
    const upstream = { ...request, stream_options: { ...((request.stream_options as object) ?? {}), include_usage: true } };
    let usageChunk: Record<string, any> | undefined;
    let opened = false;
    let clientGone = false;
    res.on("close", () => (clientGone = !res.writableFinished));
    const open = () => {
      if (opened) return;
      opened = true;
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
      res.flushHeaders();
    };
    const result = await renter.stream(upstream, { escrowIds, budgetUnits: options.queryBudgetUnits }, async (text, json) => {
      if (clientGone) return false;
      if (json && Array.isArray(json.choices) && json.choices.length === 0 && json.usage) {
        usageChunk = json; // held until the report is checked: it then carries the charge
        return true;
      }
      if (json?.error) {
        open();
        res.write(text);
        return true;
      }
      open();
      return res.write(text) || !clientGone;
    }).catch((error: Error) => {
      if (error instanceof MeteringMismatch) metrics.refusedReports.inc({ reason: "metering" });
      if (!opened) {
        sendOpenAiError(res, 502, error instanceof MeteringMismatch ? "metering-mismatch" : "stream-failed", error.message);
        return undefined;
      }
      // Mid-stream: the answer so far was delivered; say why it is not acknowledged, then end.
      res.write(`data: ${JSON.stringify({ error: { message: error.message, type: "api_error", code: "report-refused" } })}\n\n`);
      res.end();
      return undefined;
    });
    if (!result) return 502;
    if (result.status !== 200) {
      relayError(res, result.status, result.body);
      return result.status;
    }
    open();
    if (result.report) {
      recorded(result.escrowId!, result.units!);
      if (wantsUsage && usageChunk) {
        const prsm = charge(result.escrowId!, result.units!);
        usageChunk.usage.cost = prsm.cost;
        usageChunk.prsm = prsm;
        res.write(`data: ${JSON.stringify(usageChunk)}\n\n`);
      }
    } else if (!clientGone) {
      res.write(`data: ${JSON.stringify({ error: { message: `the answer ended without a usage report this proxy could check (${result.incomplete})`, type: "api_error", code: result.incomplete } })}\n\n`);
    }
    if (!clientGone) res.end(DONE);
    return 200;
  }

  return http.createServer(async (req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    let status = 500;
    try {
      if (req.method === "GET" && path === "/health") return sendJson(res, 200, { status: "ok", escrows: ledger.all().length });
      if (req.method === "GET" && path === "/metrics") return sendMetrics(res, metrics.registry);
      if (path.startsWith("/v1/") && options.apiKey !== undefined && req.headers.authorization !== `Bearer ${options.apiKey}`) {
        req.resume();
        throw new Unauthorized("this renter proxy needs Authorization: Bearer <RENTER_API_KEY>");
      }
      // A web page must not spend the renter's money: browsers send an Origin (refused unless it is this machine's),
      // a DNS-rebinding page a foreign Host (refused when no API key protects the proxy), and a JSON body only with
      // a preflight (so anything but application/json is refused).
      if (path.startsWith("/v1/")) {
        const origin = req.headers.origin;
        if (origin !== undefined && !LOCAL_ORIGIN.test(origin)) {
          req.resume();
          throw new WorkerError(`requests from ${origin} are refused: the renter proxy serves this machine's clients`, "forbidden-origin", 403);
        }
        if (options.apiKey === undefined && !LOCAL_HOST.test(req.headers.host ?? "")) {
          req.resume();
          throw new WorkerError(`Host ${req.headers.host} is not this machine; set RENTER_API_KEY to serve other hosts`, "forbidden-host", 403);
        }
        if (req.method === "POST" && !String(req.headers["content-type"] ?? "").toLowerCase().startsWith("application/json")) {
          req.resume();
          throw new WorkerError("the body must be application/json", "unsupported-media-type", 415);
        }
      }
      if (req.method === "GET" && path === "/v1/models") {
        const offered = await pool.offered();
        const data = [{ id: "auto", object: "model", owned_by: "prsm", description: "any listing an escrow can pay for" }, ...offered.map((o) => ({ ...o, object: "model" }))];
        return sendJson(res, 200, { object: "list", data });
      }
      if (req.method === "GET" && path === "/v1/ledger") return sendJson(res, 200, { escrows: ledger.all(), deposited: ledger.deposited().toString() });
      if (req.method === "POST" && ENDPOINTS.includes(path as Endpoint)) {
        const raw = await readBody(req, options.bodyLimit);
        let request: Record<string, unknown>;
        try {
          request = JSON.parse(raw.toString("utf8")) as Record<string, unknown>;
        } catch {
          throw new BadRequest("request body is not valid JSON");
        }
        if (typeof request !== "object" || request === null || Array.isArray(request)) throw new BadRequest("request body must be a JSON object");
        status = request.stream === true && path === "/v1/chat/completions" ? await streamed(request, res) : await complete(path as Endpoint, request, res);
        return;
      }
      throw new WorkerError(`no route for ${req.method} ${path}`, "not-found", 404);
    } catch (error) {
      if (error instanceof WorkerError) {
        status = error.status;
        sendOpenAiError(res, error.status, error.code, error.message);
      } else {
        log.error({ err: (error as Error).message }, "request failed");
        sendOpenAiError(res, 502, "internal", (error as Error).message.split("\n")[0] ?? "internal error");
      }
    } finally {
      if (path.startsWith("/v1/") && req.method === "POST") metrics.requests.inc({ endpoint: path, status: String(status) });
    }
  });
}
