/**
 * `npm run web`: serves the built browser app (web/dist) and makes it same-origin with the GraphQL API (/graphql)
 * and the orchestrator (/v1/*), plus /config.json, /health and /metrics. Variables: web/server/config.ts (and
 * docs/operations.md). Runs as `node --import tsx web/server.ts`; SIGINT/SIGTERM close it cleanly.
 */
import { createLogger } from "../workers/shared/logger";
import { runMain } from "../workers/shared/process";
import { createWebServer } from "./server/app";
import { loadWebConfig } from "./server/config";

runMain("web server", async () => {
  const config = loadWebConfig();
  const log = createLogger("web", { network: config.network });
  const web = await createWebServer(config, log);
  await web.listen();
  log.info({ url: web.url(), dist: config.dist, api: config.apiUrl.toString(), orchestrator: config.orchestratorUrl.toString(), chainId: web.appConfig.chainId }, "web server listening");
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    // Open SSE streams would hold server.close() forever: close() ends idle sockets, then the rest are cut.
    web.server.close(() => process.exit(0));
    web.server.closeIdleConnections();
    setTimeout(() => web.server.closeAllConnections(), 500).unref();
    setTimeout(() => process.exit(0), 2_000).unref();
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
});
