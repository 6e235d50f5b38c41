/**
 * API configuration from the environment, validated at start (an error names the variable):
 *   DATABASE_URL          Postgres holding the indexer's views schema (required; `npm run api` starts the embedded one)
 *   API_VIEWS_SCHEMA      the indexer's views schema (default prsm, the indexer's --views-schema)
 *   REDIS_URL             response cache and rate limit shared through Redis; in memory when unset
 *   API_PORT, API_HOST    where to listen (default 4000 on 127.0.0.1)
 *   API_RATE_LIMIT        requests per client per API_RATE_WINDOW_S seconds (default 1200 per 60)
 *   API_TRUST_PROXY       1: the client is the first X-Forwarded-For address (behind a reverse proxy)
 *   API_BODY_LIMIT        request body limit in bytes (default 102400)
 *   API_CACHE_TTL_MS      response cache entry lifetime (default 60000; entries also end when the head advances)
 *   API_CACHE             0 turns the response cache off (benchmarks compare both)
 *   API_MAX_DEPTH, API_MAX_COST, API_MAX_ALIASES, API_MAX_TOKENS   graphql-armor limits (15, 20000, 30, 2000)
 *   API_GRAPHIQL          1 to serve GraphiQL (default: on unless NODE_ENV=production)
 */
import { ConfigError, intEnv, optionalEnv, requireEnv } from "../config/env";

export interface ApiConfig {
  databaseUrl: string;
  viewsSchema: string;
  redisUrl?: string;
  port: number;
  host: string;
  graphqlPath: string;
  graphiql: boolean;
  trustProxy: boolean;
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
