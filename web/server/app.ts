/**
 * The web server (node:http): the built app, /config.json, the same-origin proxy to the GraphQL API and the
 * orchestrator, and /health and /metrics like every other PRSM process.
 *
 *   GET  /config.json        chain, public RPC, contract addresses, API paths (built once at start)
 *   GET  /health             {status, network, chainId}
 *   GET  /metrics            Prometheus (prsm_web_*)
 *   *    /graphql            -> WEB_API_URL (queries, mutations, SSE subscriptions)
 *   *    /v1/*               -> WEB_ORCHESTRATOR_URL/v1/* (chat completions, streamed too)
 *   GET  /assets/*           hashed build files, immutable
 *   GET  anything else       a file of the build, else index.html (client-side routes)
 */
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import client from "prom-client";
import type { Logger } from "../../workers/shared/logger";
import { buildAppConfig, type AppConfig, type WebConfig } from "./config";
import { proxy, sendJsonError } from "./proxy";
import { StaticFiles } from "./static";

export class WebMetrics {
  readonly registry = new client.Registry();
  readonly requests = new client.Counter({ name: "prsm_web_requests_total", help: "HTTP requests by route class and status", labelNames: ["route", "status"], registers: [this.registry] });
  readonly duration = new client.Histogram({
    name: "prsm_web_request_duration_seconds",
    help: "Time from request to the end of the response, by route class (streams: their whole life)",
    labelNames: ["route"],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60],
    registers: [this.registry],
  });
  readonly upstreamErrors = new client.Counter({ name: "prsm_web_upstream_errors_total", help: "Proxied requests that failed: upstream down, timed out, or body too large", labelNames: ["upstream", "code"], registers: [this.registry] });
  readonly openStreams = new client.Gauge({ name: "prsm_web_open_proxied_requests", help: "Proxied requests in flight (SSE streams included)", labelNames: ["upstream"], registers: [this.registry] });

  constructor() {
    client.collectDefaultMetrics({ register: this.registry, prefix: "prsm_web_" });
  }
}

export interface WebServer {
  server: http.Server;
  appConfig: AppConfig;
  metrics: WebMetrics;
  /** The URL it listens on (after `listen`). */
  url: () => string;
  listen: () => Promise<void>;
  close: () => Promise<void>;
}

/** Builds the server (reads the deployments and asks the RPC for its chain id); call `listen()` to serve. */
export async function createWebServer(config: WebConfig, log: Logger): Promise<WebServer> {
  const appConfig = await buildAppConfig(config);
  const configBody = JSON.stringify(appConfig, null, 2);
  const files = new StaticFiles(config.dist);
  files.warm();
  const metrics = new WebMetrics();
  const proxyOptions = (upstream: string) => ({
    maxBodyBytes: config.maxBodyBytes,
    upstreamTimeoutMs: config.upstreamTimeoutMs,
    streamIdleTimeoutMs: config.streamIdleTimeoutMs,
    onUpstreamError: (code: string) => metrics.upstreamErrors.inc({ upstream, code }),
  });
  const apiBase = config.apiUrl;
  const orchestratorBase = config.orchestratorUrl.toString().replace(/\/$/, "");

  const json = (res: ServerResponse, status: number, body: string, cache = "no-store") => {
    res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body), "cache-control": cache });
    res.end(body);
  };

  /** Sets `state.route` (the metrics label) before answering: the response's close event may fire at once. */
  async function handle(req: IncomingMessage, res: ServerResponse, state: { route: string }): Promise<void> {
    const raw = req.url ?? "/";
    if (!raw.startsWith("/")) {
      state.route = "bad-path";
      sendJsonError(res, 400, "BAD_REQUEST", "request target must be a path");
      return;
    }
    const queryAt = raw.indexOf("?");
    const pathname = queryAt === -1 ? raw : raw.slice(0, queryAt);
    const search = queryAt === -1 ? "" : raw.slice(queryAt);

    if (pathname === "/graphql" || pathname.startsWith("/graphql/")) {
      const target = new URL(apiBase.toString());
      target.pathname = apiBase.pathname.replace(/\/$/, "") + pathname.slice("/graphql".length);
      target.search = search;
      state.route = "graphql";
      metrics.openStreams.inc({ upstream: "api" });
      try {
        await proxy(req, res, target, proxyOptions("api"));
      } finally {
        metrics.openStreams.dec({ upstream: "api" });
      }
      return;
    }
    if (pathname === "/v1" || pathname.startsWith("/v1/")) {
      const target = new URL(orchestratorBase + raw);
      state.route = "orchestrator";
      metrics.openStreams.inc({ upstream: "orchestrator" });
      try {
        await proxy(req, res, target, proxyOptions("orchestrator"));
      } finally {
        metrics.openStreams.dec({ upstream: "orchestrator" });
      }
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD");
      sendJsonError(res, 405, "METHOD_NOT_ALLOWED", `${req.method} is not allowed here`);
      return;
    }
    if (pathname === "/health") {
      state.route = "health";
      json(res, 200, JSON.stringify({ status: "ok", network: appConfig.network, chainId: appConfig.chainId }));
      return;
    }
    if (pathname === "/metrics") {
      state.route = "metrics";
      const text = await metrics.registry.metrics();
      res.writeHead(200, { "content-type": metrics.registry.contentType });
      res.end(text);
      return;
    }
    if (pathname === "/config.json") {
      state.route = "config";
      json(res, 200, configBody, "no-cache");
      return;
    }
    await files.serve(req, res, pathname, (route) => (state.route = route));
  }

  const server = http.createServer((req, res) => {
    const t0 = performance.now();
    const state = { route: "other" };
    res.once("close", () => {
      metrics.requests.inc({ route: state.route, status: res.headersSent ? String(res.statusCode) : "aborted" });
      metrics.duration.observe({ route: state.route }, (performance.now() - t0) / 1000);
    });
    handle(req, res, state).catch((error) => {
        log.error({ err: error, url: req.url }, "request failed");
        sendJsonError(res, 500, "INTERNAL", "internal error");
      });
  });
  // Node's defaults cut a request after 300 s in total, which would end long SSE subscriptions; bound the
  // headers and the body instead (bodies are capped in size and read by the proxy).
  server.requestTimeout = 0;
  server.headersTimeout = 30_000;
  server.keepAliveTimeout = 5_000;

  return {
    server,
    appConfig,
    metrics,
    url: () => {
      const address = server.address();
      if (!address || typeof address === "string") throw new Error("not listening");
      const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
      return `http://${host}:${address.port}`;
    },
    listen: () =>
      new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(config.port, config.host, () => {
          server.off("error", reject);
          resolve();
        });
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
