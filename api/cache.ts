/**
 * Response cache stores for the yoga response-cache plugin. Entries are keyed by the indexed head's version (see
 * head.ts and server.ts), so invalidation is implicit and the stores only need get/set with a TTL:
 *   memory  the plugin's own LRU (one process)
 *   redis   shared by every API process (ioredis; fails fast instead of queueing while Redis is away)
 * Either way a store failure is a cache miss, never an error for the client.
 */
import { createInMemoryCache, type Cache } from "@graphql-yoga/plugin-response-cache";
import type { ExecutionResult } from "graphql";
import type { Redis } from "ioredis";
import type { Logger } from "pino";

export interface CacheCounters {
  hit(): void;
  miss(): void;
  error(): void;
}

export function memoryStore(max = 10_000): Cache {
  return createInMemoryCache({ max });
}

export function redisStore(redis: Redis, prefix = "prsm:api:response:"): Cache {
  return {
    async get(id) {
      const json = await redis.get(prefix + id);
      return json ? (JSON.parse(json) as ExecutionResult) : undefined;
    },
    async set(id, data, _entities, ttl) {
      const json = JSON.stringify(data);
      if (Number.isFinite(ttl) && ttl > 0) await redis.set(prefix + id, json, "PX", Math.ceil(ttl));
      else await redis.set(prefix + id, json);
    },
    // Entries are keyed by head version: an advance makes them unreachable, and the TTL removes them.
    invalidate() {},
  };
}

/** Counts hits and misses, and turns a failing store (Redis down) into misses, logging at most once per minute. */
export function resilient(store: Cache, counters: CacheCounters, log: Logger): Cache {
  let lastLogged = 0;
  const failed = (op: string, error: unknown) => {
    counters.error();
    if (Date.now() - lastLogged > 60_000) {
      lastLogged = Date.now();
      log.warn({ op, err: (error as Error).message }, "response cache unavailable: serving from the database");
    }
  };
  return {
    async get(id) {
      try {
        const value = await store.get(id);
        if (value) counters.hit();
        else counters.miss();
        return value;
      } catch (error) {
        failed("get", error);
        counters.miss();
        return undefined;
      }
    },
    async set(id, data, entities, ttl) {
      try {
        await store.set(id, data, entities, ttl);
      } catch (error) {
        failed("set", error);
      }
    },
    async invalidate(entities) {
      try {
        await store.invalidate(entities);
      } catch (error) {
        failed("invalidate", error);
      }
    },
  };
}
