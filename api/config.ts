/**
 * API configuration from the environment, validated at start (an error names the variable):
 *   DATABASE_URL          Postgres holding the indexer's views schema (required; `npm run api` starts the embedded one)
 *   API_VIEWS_SCHEMA      the indexer's views schema (default prsm, the indexer's --views-schema)
 *   REDIS_URL             response cache and rate limit shared through Redis; in memory when unset
 *   API_PORT, API_HOST    where to listen (default 4000 on 127.0.0.1)
 *   API_RATE_LIMIT        requests per client per API_RATE_WINDOW_S seconds (default 1200 per 60)
 *   API_TRUSTED_PROXIES   N reverse proxies in front of the API: the client is the N-th X-Forwarded-For address from
 *                         the right (each proxy appends the address it saw; entries further left are the client's own
 *                         words). 0 (default): the socket address. With fewer than N entries, the leftmost one.
 *   API_TRUST_PROXY       1: the same as API_TRUSTED_PROXIES=1 (kept for compatibility; API_TRUSTED_PROXIES wins)
 *   API_BODY_LIMIT        request body limit in bytes (default 102400)
 *   API_CACHE_TTL_MS      response cache entry lifetime (default 60000; entries also end when the head advances)
 *   API_CACHE             0 turns the response cache off (benchmarks compare both)
 *   API_MAX_DEPTH, API_MAX_COST, API_MAX_ALIASES, API_MAX_TOKENS   graphql-armor limits (15, 20000, 30, 2000)
 *   API_MAX_ROWS          rows one request may read: the sum over object fields of the product of the `limit`s on
 *                         their path, schema defaults included (default 2500, chosen so the largest accepted answer stays
 *                         within the 50 ms p95 target on 2 cores: bench/results/api-scale.md; over it: QUERY_TOO_EXPENSIVE, 400)
 *   API_MAX_RELATION_LIMIT  largest `limit` on a relation below the root (default 100; RELATION_LIMIT_EXCEEDED)
 *   API_MAX_RELATION_DEPTH  object fields below the root field on one path (default 6; RELATION_TOO_DEEP)
 *   API_MAX_TYPE_REPEAT   times one type may appear on one path, which stops relation cycles (default 2; RELATION_TOO_DEEP)
 *   API_MAX_RESPONSE_BYTES  serialised response cap (default 8388608; RESPONSE_TOO_LARGE, 400)
 *   API_MAX_CONCURRENT_PER_CLIENT  GraphQL requests one client may have in flight (default 4; beyond: 429
 *                         TOO_MANY_CONCURRENT_REQUESTS); subscriptions do not count
 *   API_DB_POOL           Postgres connections (default 10; one is kept for the head tracker and the event feed)
 *   API_DB_MAX_PER_CLIENT statements one client may run at once (default half of API_DB_POOL); freed connections go
 *                         to waiting clients in turn
 *   API_STATEMENT_TIMEOUT_MS  per statement (default 5000; over it: QUERY_TIMEOUT, 503)
 *   API_BODY_DRAIN_BYTES  how much of an oversize body is read and discarded before the 413 and the close, so the
 *                         client sees the 413 rather than a reset (default 16 MiB; bigger bodies are cut off)
 *   API_REORG_WINDOW_BLOCKS  blocks a reorg may replace: the cache key and the feed fingerprint them (default 64)
 *   API_FEED_PAGE         events per read of the subscription feed (default 1000)
 *   API_FEED_SUBSCRIBER_BUFFER  undelivered events one subscriber may hold before it is ended (default 4096)
 *   API_GRAPHIQL          1 to serve GraphiQL (default: on unless NODE_ENV=production)
 */
import { ConfigError, intEnv, optionalEnv, requireEnv } from "../config/env";
import type { CostLimits } from "./cost";
import type { HeavyLimits } from "./heavy";
import { DEFAULT_LIMIT } from "./list";

export interface ApiConfig {
  databaseUrl: string;
  viewsSchema: string;
  redisUrl?: string;
  port: number;
  host: string;
  graphqlPath: string;
  graphiql: boolean;
  /** API_TRUST_PROXY: one trusted proxy (compatibility); `trustedProxies` takes precedence when set. */
  trustProxy: boolean;
  trustedProxies: number;
  maxConcurrentPerClient: number;
  dbMaxPerClient: number;
  bodyDrainBytes: number;
  reorgWindow: number;
  feed: { pageSize: number; subscriberBuffer: number };
  cost: CostLimits;
  /** Expensive queries at once across all clients (api/heavy.ts). */
  heavy: HeavyLimits;
  bodyLimitBytes: number;
  cacheTtlMs: number;
  cache: boolean;
  headPollMs: number;
  dbPoolSize: number;
  statementTimeoutMs: number;
  rateLimit: { points: number; windowSeconds: number };
  limits: { maxDepth: number; maxCost: number; maxAliases: number; maxTokens: number };
}

function flag(name: string, fallback: boolean, env: NodeJS.ProcessEnv): boolean {
  const raw = optionalEnv(name, env);
  if (raw === undefined) return fallback;
  if (!["0", "1", "true", "false"].includes(raw)) throw new ConfigError(name, `must be 1 or 0, got "${raw}"`);
  return raw === "1" || raw === "true";
}

export function loadApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  const databaseUrl = requireEnv("DATABASE_URL", env);
  if (!/^postgres(ql)?:\/\//.test(databaseUrl)) throw new ConfigError("DATABASE_URL", "must be a postgres:// URL");
  const redisUrl = optionalEnv("REDIS_URL", env);
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl)) throw new ConfigError("REDIS_URL", `must be a redis:// URL, got "${redisUrl}"`);
  const viewsSchema = optionalEnv("API_VIEWS_SCHEMA", env) ?? "prsm";
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(viewsSchema)) throw new ConfigError("API_VIEWS_SCHEMA", `must be a lower-case SQL identifier, got "${viewsSchema}"`);
  return {
    databaseUrl,
    viewsSchema,
    redisUrl,
    port: intEnv("API_PORT", 4000, env),
    host: optionalEnv("API_HOST", env) ?? "127.0.0.1",
    graphqlPath: "/graphql",
    graphiql: flag("API_GRAPHIQL", env.NODE_ENV !== "production", env),
    trustProxy: flag("API_TRUST_PROXY", false, env),
    trustedProxies: intEnv("API_TRUSTED_PROXIES", 0, env),
    maxConcurrentPerClient: intEnv("API_MAX_CONCURRENT_PER_CLIENT", 4, env),
    dbMaxPerClient: intEnv("API_DB_MAX_PER_CLIENT", Math.max(1, Math.floor(intEnv("API_DB_POOL", 10, env) / 2)), env),
    bodyDrainBytes: intEnv("API_BODY_DRAIN_BYTES", 16 * 1024 * 1024, env),
    reorgWindow: intEnv("API_REORG_WINDOW_BLOCKS", 64, env),
    feed: { pageSize: intEnv("API_FEED_PAGE", 1_000, env), subscriberBuffer: intEnv("API_FEED_SUBSCRIBER_BUFFER", 4_096, env) },
    cost: {
      maxRows: intEnv("API_MAX_ROWS", 2_500, env),
      maxRelationLimit: intEnv("API_MAX_RELATION_LIMIT", 100, env),
      maxRelationDepth: intEnv("API_MAX_RELATION_DEPTH", 6, env),
      maxTypeRepeat: intEnv("API_MAX_TYPE_REPEAT", 2, env),
      maxResponseBytes: intEnv("API_MAX_RESPONSE_BYTES", 8 * 1024 * 1024, env),
      defaultListSize: DEFAULT_LIMIT,
    },
    heavy: {
      rows: intEnv("API_HEAVY_ROWS", 1_000, env),
      concurrent: intEnv("API_HEAVY_CONCURRENCY", 2, env),
      waiting: intEnv("API_HEAVY_WAITING", 32, env),
    },
    bodyLimitBytes: intEnv("API_BODY_LIMIT", 100 * 1024, env),
    cacheTtlMs: intEnv("API_CACHE_TTL_MS", 60_000, env),
    cache: flag("API_CACHE", true, env),
    headPollMs: intEnv("API_HEAD_POLL_MS", 250, env),
    dbPoolSize: intEnv("API_DB_POOL", 10, env),
    statementTimeoutMs: intEnv("API_STATEMENT_TIMEOUT_MS", 5_000, env),
    rateLimit: { points: intEnv("API_RATE_LIMIT", 1_200, env), windowSeconds: intEnv("API_RATE_WINDOW_S", 60, env) },
    limits: {
      maxDepth: intEnv("API_MAX_DEPTH", 15, env),
      maxCost: intEnv("API_MAX_COST", 20_000, env),
      maxAliases: intEnv("API_MAX_ALIASES", 30, env),
      maxTokens: intEnv("API_MAX_TOKENS", 2_000, env),
    },
  };
}
