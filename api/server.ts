/**
 * The GraphQL API: `createApi(config)` builds everything (database pool, head tracker, yoga with its plugins, the
 * HTTP handler) without listening, so tests use `api.yoga.fetch` directly or `api.listen()` for real HTTP.
 *
 *   POST/GET /graphql   GraphQL (GraphiQL in development)
 *   GET /health         the process is up
 *   GET /ready          the database answers and the indexer has finished its backfill (503 otherwise)
 *   GET /metrics        Prometheus metrics
 *
 * Order of protection for a request: body limit (413, after draining the body) -> per-client rate limit (429) ->
 * per-client concurrency (429) -> graphql-armor limits on the parsed document (depth, aliases, tokens, directives)
 * -> the row-cost model (api/cost.ts: rows, relation limits, cycles; 400 before any SQL) -> execution, whose
 * statements pass a fair per-client gate to the pool (api/db.ts) under a statement timeout (QUERY_TIMEOUT, 503)
 * -> the response-size cap.
 *
 * The client is the socket address, or with API_TRUSTED_PROXIES=N the N-th X-Forwarded-For entry from the right.
 */
import crypto from "node:crypto";
import http from "node:http";
import { EnvelopArmorPlugin } from "@escape.tech/graphql-armor";
import { useResponseCache } from "@graphql-yoga/plugin-response-cache";
import { createSchema, createYoga, maskError, type Plugin } from "graphql-yoga";
import { GraphQLError } from "graphql";
import { Redis } from "ioredis";
import type { Logger } from "pino";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import { memoryStore, redisStore, resilient } from "./cache";
import type { ApiConfig } from "./config";
import { useResponseSizeCap, useRowCost } from "./cost";
import { HeavyGate } from "./heavy";
import { classifyDatabaseError, createDatabase, type Database } from "./db";
import { EventFeed } from "./events";
import { HeadTracker } from "./head";
import { Loaders } from "./loaders";
import { ApiMetrics } from "./metrics";
import { createResolvers, type ApiContext } from "./resolvers";
import { typeDefs } from "./sdl";

const LIMIT_PATTERN = /limit of \d+ exceeded/i;

export interface Api {
  yoga: ReturnType<typeof createYoga<Record<string, unknown>, ApiContext>>;
  handler: http.RequestListener;
  head: HeadTracker;
  metrics: ApiMetrics;
  db: Database;
  start(): Promise<void>;
  listen(port: number, host: string): Promise<http.Server>;
  close(): Promise<void>;
}

export function createApi(config: ApiConfig, log: Logger): Api {
  const db = createDatabase(config.databaseUrl, { max: config.dbPoolSize, statementTimeoutMs: config.statementTimeoutMs, maxPerClient: config.dbMaxPerClient });
  const head = new HeadTracker(db, config.viewsSchema, config.headPollMs, config.reorgWindow);
  const metrics = new ApiMetrics();
  const feed = new EventFeed(db, config.viewsSchema, head, log, { reorgWindow: config.reorgWindow, ...config.feed });
  const proxyHops = trustedHops(config);
  const redis = config.redisUrl
    ? new Redis(config.redisUrl, {
        // Fail fast while Redis is away (the cache and the rate limiter fall back) instead of queueing commands.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        commandTimeout: 250,
        lazyConnect: true,
        retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
      })
    : undefined;
  redis?.on("error", () => undefined); // reported through the cache's and the limiter's fallbacks

  const cache = resilient(redis ? redisStore(redis) : memoryStore(), metrics.cacheCounters(redis ? "redis" : "memory"), log);
  const fallbackLimiter = new RateLimiterMemory({ points: config.rateLimit.points, duration: config.rateLimit.windowSeconds });
  const limiter = redis
    ? new RateLimiterRedis({
        storeClient: redis,
        keyPrefix: "prsm:api:rate",
        points: config.rateLimit.points,
        duration: config.rateLimit.windowSeconds,
        insuranceLimiter: fallbackLimiter, // per process while Redis is down
      })
    : fallbackLimiter;

  const rateLimit: Plugin = {
    async onRequest({ request, serverContext, endResponse, fetchAPI }) {
      if (!new URL(request.url).pathname.startsWith(config.graphqlPath)) return;
      const client = clientKey(request, serverContext as { req?: http.IncomingMessage }, proxyHops);
      try {
        await limiter.consume(client);
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) return; // the limiter itself failed: serve rather than refuse
        metrics.rateLimited.inc();
        const retryAfter = Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
        endResponse(
          new fetchAPI.Response(
            JSON.stringify({ errors: [{ message: `rate limit: at most ${config.rateLimit.points} requests per ${config.rateLimit.windowSeconds} s per client; retry in ${retryAfter} s`, extensions: { code: "RATE_LIMITED" } }] }),
            { status: 429, headers: { "content-type": "application/json", "retry-after": String(retryAfter) } },
          ),
        );
      }
    },
  };

  // At most maxConcurrentPerClient GraphQL requests of one client in flight: a client that fires heavy queries in
  // parallel waits for its own answers instead of taking every connection. Subscriptions (SSE) hold a connection
  // open without holding database work, so they do not count.
  const inFlight = new Map<string, number>();
  const holding = new WeakMap<Request, string>();
  const concurrency: Plugin = {
    onRequest({ request, serverContext, endResponse, fetchAPI }) {
      if (!new URL(request.url).pathname.startsWith(config.graphqlPath)) return;
      if (request.headers.get("accept")?.includes("text/event-stream")) return;
      const client = clientKey(request, serverContext as { req?: http.IncomingMessage }, proxyHops);
      const n = inFlight.get(client) ?? 0;
      if (n >= config.maxConcurrentPerClient) {
        metrics.concurrencyLimited.inc();
        endResponse(
          new fetchAPI.Response(
            JSON.stringify({ errors: [{ message: `at most ${config.maxConcurrentPerClient} requests in flight per client; wait for an answer before sending more`, extensions: { code: "TOO_MANY_CONCURRENT_REQUESTS" } }] }),
            { status: 429, headers: { "content-type": "application/json", "retry-after": "1" } },
          ),
        );
        return;
      }
      inFlight.set(client, n + 1);
      holding.set(request, client);
    },
    onResponse({ request }) {
      const client = holding.get(request);
      if (client === undefined) return;
      holding.delete(request);
      const left = (inFlight.get(client) ?? 1) - 1;
      if (left <= 0) inFlight.delete(client);
      else inFlight.set(client, left);
    },
  };

  // graphql-armor reports its limits (cost, depth, aliases, directives) as errors without a code: give them one, and
  // the 400 a refused document is (it would otherwise be a 200 with only errors).
  const codeArmorErrors: Plugin = {
    onResultProcess: ({ result, setResult }) => {
      const r = result as { errors?: readonly GraphQLError[] };
      const armored = (e: GraphQLError) => !e.extensions?.code || (LIMIT_PATTERN.test(e.message) && e.extensions.code !== "QUERY_LIMIT_EXCEEDED");
      if (Array.isArray(result) || !r.errors?.some(armored)) return;
      setResult({
        ...r,
        errors: r.errors.map((e) => {
          if (!armored(e)) return e;
          // The token limit surfaces as a parse failure (armor stops the parser): it is a limit all the same.
          const limit = LIMIT_PATTERN.test(e.message);
          return new GraphQLError(e.message, { nodes: e.nodes, extensions: { ...e.extensions, code: limit ? "QUERY_LIMIT_EXCEEDED" : "BAD_REQUEST", ...(limit ? { http: { status: 400 } } : {}) } });
        }),
      } as never);
    },
  };

  const yoga = createYoga<Record<string, unknown>, ApiContext>({
    schema: createSchema({ typeDefs: typeDefs(), resolvers: createResolvers() as never }),
    graphqlEndpoint: config.graphqlPath,
    // The HTTP handler below already bounds every body: over API_BODY_LIMIT_BYTES by its Content-Length is 413,
    // a POST without one is 411, and Node's parser reads no more than the Content-Length. Yoga's own limit would
    // pipe each request's body through a counting TransformStream again (3-5 % of a small query's CPU).
    maxRequestBodySize: false,
    graphiql: config.graphiql,
    landingPage: false,
    logging: {
      debug: (...args) => log.debug(args.join(" ")),
      info: (...args) => log.info(args.join(" ")),
      warn: (...args) => log.warn(args.join(" ")),
      error: (...args) => log.error(args.join(" ")),
    },
    // Unexpected errors reach the client as "Unexpected error." with code INTERNAL_SERVER_ERROR; the log has the cause.
    maskedErrors: {
      maskError: (error, message, isDev) => {
        const original = (error as { originalError?: Error & { extensions?: unknown } }).originalError;
        // The database's failures are the client's business in one respect: whether to retry. A statement timeout
        // or an unreachable database is a coded 503 (yoga takes the status from extensions.http), not a masked 200.
        const dbFailure = classifyDatabaseError(original);
        if (dbFailure) {
          metrics.databaseErrors.inc({ code: dbFailure });
          log.warn({ err: original?.message, code: dbFailure }, "database failure");
          const gql = error as GraphQLError;
          return new GraphQLError(
            dbFailure === "QUERY_TIMEOUT"
              ? `the query took longer than the ${config.statementTimeoutMs} ms statement timeout: ask for fewer rows or narrower filters`
              : "the database is unavailable; retry shortly",
            { nodes: gql.nodes, path: gql.path, extensions: { code: dbFailure, http: { status: 503, headers: { "retry-after": "1" } } } },
          );
        }
        if (original && !original.extensions) log.error({ err: original.message }, "resolver failed");
        return maskError(error, message, isDev);
      },
    },
    // Each request's statements go through the fair gate under its client's key (api/db.ts).
    context: ({ request, req }: { request: Request; req?: http.IncomingMessage }) => {
      const scoped = db.forClient(clientKey(request, { req }, proxyHops));
      return { db: scoped, feed, schema: config.viewsSchema, loaders: new Loaders(scoped, config.viewsSchema), head: () => head.head() };
    },
    plugins: [
      // First, so that the metrics and the other response hooks see the refusal it may put in the answer's place.
      useResponseSizeCap(config.cost.maxResponseBytes, (code) => metrics.costRefused.inc({ code })),
      rateLimit,
      concurrency,
      metrics.plugin(),
      codeArmorErrors,
      EnvelopArmorPlugin({
        maxDepth: { n: config.limits.maxDepth },
        // armor's cost ignores `limit`; it stays as a coarse bound on the document's shape, useRowCost bounds rows.
        costLimit: { maxCost: config.limits.maxCost },
        maxAliases: { n: config.limits.maxAliases },
        maxTokens: { n: config.limits.maxTokens },
        maxDirectives: { n: 20 },
        blockFieldSuggestion: { enabled: !config.graphiql },
      }),
      // After armor (cheap shape checks first), before the cache stores anything and before any resolver runs.
      useRowCost(config.cost, (code) => metrics.costRefused.inc({ code }), new HeavyGate(config.heavy)),
      useResponseCache({
        session: () => null, // public data: one cache for everyone
        cache,
        ttl: config.cacheTtlMs,
        // Keyed by the indexed state (head.ts: checkpoint + fingerprint of the reorgable window), the same in every
        // process at the same state: a new block or a reorg makes every older answer unreachable, in all processes.
        buildResponseCacheKey: ({ documentString, variableValues, operationName }) =>
          crypto.createHash("sha256").update(`${config.viewsSchema}|${head.head()?.key ?? ""}|${operationName ?? ""}|${documentString}|${JSON.stringify(variableValues ?? {})}`).digest("hex"),
        enabled: () => config.cache && head.head() !== undefined,
        invalidateViaMutation: false,
        includeExtensionMetadata: false,
      }),
    ],
  });

  const handler: http.RequestListener = async (req, res) => {
    const url = req.url ?? "/";
    if (req.method === "GET" && url === "/health") return sendJson(res, 200, { status: "ok" });
    if (req.method === "GET" && url === "/ready") return ready(res);
    if (req.method === "GET" && url === "/metrics") {
      res.writeHead(200, { "content-type": metrics.registry.contentType });
      res.end(await metrics.registry.metrics());
      return;
    }
    const length = Number(req.headers["content-length"] ?? 0);
    if (length > config.bodyLimitBytes) {
      metrics.bodyTooLarge.inc();
      return refuseOversize(req, res, length);
    }
    if (req.method === "POST" && req.headers["content-length"] === undefined) {
      return sendJson(res, 411, { errors: [{ message: "POST requests need a Content-Length header", extensions: { code: "LENGTH_REQUIRED" } }] });
    }
    await yoga(req, res);
  };

  /**
   * 413 for an oversize body. A client like Node's fetch writes the whole body before reading the answer: if the
   * server closes while it is still writing, the client sees EPIPE/ECONNRESET instead of the 413. So the body is read
   * and discarded first, up to API_BODY_DRAIN_BYTES and 5 s (beyond either the connection is cut: no one gets to
   * make the server read without end), then the 413 is sent with Connection: close and the socket ends after it.
   */
  function refuseOversize(req: http.IncomingMessage, res: http.ServerResponse, length: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let drained = 0;
      let answered = false;
      const answer = () => {
        if (answered) return;
        answered = true;
        clearTimeout(timer);
        res.setHeader("connection", "close");
        sendJson(res, 413, { errors: [{ message: `request body of ${length} bytes exceeds the ${config.bodyLimitBytes}-byte limit`, extensions: { code: "PAYLOAD_TOO_LARGE" } }] });
        res.once("finish", () => resolve());
        res.once("close", () => resolve());
      };
      const cut = () => {
        req.removeAllListeners("data");
        answer();
        // The 413 is written; the rest of the upload is not read: end the connection once the answer is out.
        res.once("finish", () => req.socket.destroySoon?.() ?? req.socket.destroy());
      };
      const timer = setTimeout(cut, 5_000);
      req.on("data", (chunk: Buffer) => {
        drained += chunk.length;
        if (drained > config.bodyDrainBytes) cut();
      });
      req.once("end", answer);
      req.once("error", answer);
      req.once("aborted", answer);
    });
  }

  async function ready(res: http.ServerResponse) {
    const current = await head.refresh();
    const problems: string[] = [];
    if (head.lastError) problems.push(`database: ${head.lastError.message}`);
    else if (!current) problems.push("indexer: no checkpoint yet");
    else if (!current.ready) problems.push("indexer: backfill in progress");
    return sendJson(res, problems.length ? 503 : 200, {
      status: problems.length ? "unavailable" : "ready",
      problems,
      block: current ? { number: current.number.toString(), timestamp: current.timestamp.toString() } : null,
      cache: redis ? `redis (${redis.status})` : "memory",
    });
  }

  let server: http.Server | undefined;
  return {
    yoga,
    handler,
    head,
    metrics,
    db,
    async start() {
      await redis?.connect().catch((error: Error) => log.warn({ err: error.message }, "Redis unreachable at start: cache and rate limit run in memory until it returns"));
      await head.start();
      feed.start();
    },
    async listen(port, host) {
      await this.start();
      server = http.createServer(handler);
      server.headersTimeout = 10_000;
      server.requestTimeout = 30_000;
      await new Promise<void>((resolve, reject) => server!.once("error", reject).listen(port, host, () => resolve()));
      return server;
    },
    async close() {
      head.stop();
      feed.stop();
      // Subscriptions hold their connections open: close them, or server.close() would wait for them forever.
      const closed = new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      server?.closeAllConnections();
      await closed;
      redis?.disconnect();
      await db.close();
    },
  };
}

/** API_TRUSTED_PROXIES, or 1 for the older API_TRUST_PROXY=1. */
export function trustedHops(config: Pick<ApiConfig, "trustedProxies" | "trustProxy">): number {
  return config.trustedProxies > 0 ? config.trustedProxies : config.trustProxy ? 1 : 0;
}

/**
 * The client's key. Each of the `hops` trusted proxies appends the address it received the request from, so the
 * N-th entry from the right was written by the outermost trusted proxy: what is left of it, the client wrote and
 * may rotate at will. With fewer entries than hops the request skipped outer proxies and every entry present was
 * written by a trusted one: the leftmost is the client.
 */
export function clientKey(request: Request, ctx: { req?: http.IncomingMessage }, hops: number): string {
  if (hops > 0) {
    const forwarded = request.headers.get("x-forwarded-for");
    if (forwarded) {
      const entries = forwarded.split(",").map((e) => e.trim()).filter(Boolean);
      if (entries.length) return entries[Math.max(0, entries.length - hops)];
    }
  }
  return ctx.req?.socket.remoteAddress ?? "unknown";
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}
