/**
 * `npm run api`: the GraphQL API over the indexer's views schema (configuration: api/config.ts).
 */
import { ConfigError } from "../config/env";
import { createLogger } from "../workers/shared/logger";
import { loadApiConfig } from "./config";
import { createApi } from "./server";

async function main() {
  const log = createLogger("api");
  let config;
  try {
    config = loadApiConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  const api = createApi(config, log);
  await api.listen(config.port, config.host);
  log.info({ url: `http://${config.host}:${config.port}/graphql`, schema: config.viewsSchema, cache: config.redisUrl ? "redis" : "memory" }, "API listening");
  const shutdown = async (signal: string) => {
    log.info({ signal }, "stopping");
    await api.close();
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}

void main().catch((error) => {
  console.error(error);
  process.exit(1);
});
