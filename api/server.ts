/**
 * The GraphQL API: `createApi(config)` builds everything (database pool, head tracker, yoga with its plugins, the
 * HTTP handler) without listening, so tests use `api.yoga.fetch` directly or `api.listen()` for real HTTP.
 *
 *   POST/GET /graphql   GraphQL (GraphiQL in development)
 *   GET /health         the process is up
 *   GET /ready          the database answers and the indexer has finished its backfill (503 otherwise)
 *   GET /metrics        Prometheus metrics
 *
 * Order of protection for a request: body limit (413) -> per-client rate limit (429) -> graphql-armor limits on the
 * parsed document (depth, cost, aliases, tokens, directives) -> execution with a statement timeout.
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
import { createDatabase, type Database } from "./db";
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
  const db = createDatabase(config.databaseUrl, { max: config.dbPoolSize, statementTimeoutMs: config.statementTimeoutMs });
  const head = new HeadTracker(db, config.viewsSchema, config.headPollMs);
  const metrics = new ApiMetrics();
  const feed = new EventFeed(db, config.viewsSchema, head, log);
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
      const client = clientKey(request, serverContext as { req?: http.IncomingMessage }, config.trustProxy);
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

  // graphql-armor reports its limits (cost, depth, aliases, directives) as errors without a code: give them one.
  const codeArmorErrors: Plugin = {
    onResultProcess: ({ result, setResult }) => {
      const r = result as { errors?: readonly GraphQLError[] };
      if (Array.isArray(result) || !r.errors?.some((e) => !e.extensions?.code)) return;
      setResult({
        ...r,
        errors: r.errors.map((e) =>
          e.extensions?.code ? e : new GraphQLError(e.message, { nodes: e.nodes, extensions: { ...e.extensions, code: LIMIT_PATTERN.test(e.message) ? "QUERY_LIMIT_EXCEEDED" : "BAD_REQUEST" } }),
        ),
      } as never);
    },
  };

  const yoga = createYoga<Record<string, unknown>, ApiContext>({
    schema: createSchema({ typeDefs: typeDefs(), resolvers: createResolvers() as never }),
    graphqlEndpoint: config.graphqlPath,
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
        if (original && !original.extensions) log.error({ err: original.message }, "resolver failed");
        return maskError(error, message, isDev);
      },
    },
    context: () => ({ db, feed, schema: config.viewsSchema, loaders: new Loaders(db, config.viewsSchema), head: () => head.head() }),
    plugins: [
      rateLimit,
      metrics.plugin(),
      codeArmorErrors,
      EnvelopArmorPlugin({
        maxDepth: { n: config.limits.maxDepth },
        costLimit: { maxCost: config.limits.maxCost },
        maxAliases: { n: config.limits.maxAliases },
        maxTokens: { n: config.limits.maxTokens },
        maxDirectives: { n: 20 },
        blockFieldSuggestion: { enabled: !config.graphiql },
      }),
      useResponseCache({
        session: () => null, // public data: one cache for everyone
        cache,
        ttl: config.cacheTtlMs,
        // Keyed by the indexed head's version: a new block (or a reorg) makes every older answer unreachable.
        buildResponseCacheKey: ({ documentString, variableValues, operationName }) =>
          crypto.createHash("sha256").update(`${head.head()?.version ?? 0}|${operationName ?? ""}|${documentString}|${JSON.stringify(variableValues ?? {})}`).digest("hex"),
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
      // Drain the body unread: answering without reading it would make the client's upload fail before it sees 413.
      req.resume();
      res.setHeader("connection", "close");
      return sendJson(res, 413, { errors: [{ message: `request body of ${length} bytes exceeds the ${config.bodyLimitBytes}-byte limit`, extensions: { code: "PAYLOAD_TOO_LARGE" } }] });
    }
    if (req.method === "POST" && req.headers["content-length"] === undefined) {
      return sendJson(res, 411, { errors: [{ message: "POST requests need a Content-Length header", extensions: { code: "LENGTH_REQUIRED" } }] });
    }
    await yoga(req, res);
  };

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

function clientKey(request: Request, ctx: { req?: http.IncomingMessage }, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = request.headers.get("x-forwarded-for");
    if (forwarded) return forwarded.split(",")[0].trim();
  }
  return ctx.req?.socket.remoteAddress ?? "unknown";
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}
