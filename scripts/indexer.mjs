#!/usr/bin/env node
// `npm run indexer`: the Ponder indexer (indexer/, ponder.config.ts). With DATABASE_URL unset it starts the embedded
// Postgres first (data in .data/postgres, port PG_PORT or 54320) and stops it when the indexer exits.
//   NETWORK          localhost (default) | e2e | amoy | polygon
//   PONDER_SCHEMA    Ponder's deployment schema (default prsm_<NETWORK>); PONDER_VIEWS_SCHEMA the stable views (default prsm)
//   PONDER_PORT      Ponder's HTTP port (default 42069): /health, /ready, /status, /metrics, /graphql
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startEmbeddedPostgres } from "./lib/postgres.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const network = process.env.NETWORK ?? "localhost";

async function main() {
  let database;
  if (!process.env.DATABASE_URL) {
    database = await startEmbeddedPostgres({ dataDir: path.join(root, ".data", "postgres"), port: Number(process.env.PG_PORT ?? 54320) });
    console.log(`embedded Postgres at ${database.url}`);
  }
  const child = spawn(
    path.join(root, "node_modules", ".bin", "ponder"),
    [
      "--root", "indexer", "--log-format", process.env.PONDER_LOG_FORMAT ?? "pretty",
      "start",
      "--schema", process.env.PONDER_SCHEMA ?? `prsm_${network}`,
      "--views-schema", process.env.PONDER_VIEWS_SCHEMA ?? "prsm",
      "--port", process.env.PONDER_PORT ?? "42069",
      "--hostname", process.env.PONDER_HOST ?? "127.0.0.1",
    ],
    {
      cwd: root,
      stdio: "inherit",
      env: { ...process.env, NETWORK: network, DATABASE_URL: process.env.DATABASE_URL ?? database.url, PONDER_TELEMETRY_DISABLED: "true" },
    },
  );
  const forward = (signal) => child.kill(signal);
  process.on("SIGINT", forward);
  process.on("SIGTERM", forward);
  child.on("exit", async (code, signal) => {
    if (database) await database.stop().catch(() => {});
    process.exit(code ?? (signal ? 1 : 0));
  });
}

main().catch((error) => {
  console.error(`indexer failed to start: ${error.message}`);
  process.exit(1);
});
