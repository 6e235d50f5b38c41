#!/usr/bin/env node
// `npm run db:reset`: a clean indexer state for local development (a restarted local chain reuses block numbers with
// different contents). Drops Ponder's schemas for the network and the views schema in DATABASE_URL, or in the
// embedded Postgres (.data/postgres) when DATABASE_URL is unset. Refuses live networks.
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { startEmbeddedPostgres } from "./lib/postgres.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const network = process.env.NETWORK ?? "localhost";
if (network === "amoy" || network === "polygon") {
  console.error(`db:reset refuses NETWORK=${network}: it only resets local indexer state`);
  process.exit(2);
}
const schemas = [process.env.PONDER_SCHEMA ?? `prsm_${network}`, process.env.PONDER_VIEWS_SCHEMA ?? "prsm"];

let database;
let url = process.env.DATABASE_URL;
if (!url) {
  database = await startEmbeddedPostgres({ dataDir: path.join(root, ".data", "postgres"), port: Number(process.env.PG_PORT ?? 54320) });
  url = database.url;
}
const client = new pg.Client(url);
await client.connect();
try {
  for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS "${schema.replaceAll('"', "")}" CASCADE`);
  // Ponder's bookkeeping of which app owns which schema lives in the ponder_sync / _ponder_meta tables of each schema,
  // dropped with it; its RPC cache is the ponder_sync schema (disabled for local chains, dropped too).
  await client.query(`DROP SCHEMA IF EXISTS ponder_sync CASCADE`);
  console.log(`dropped schemas ${schemas.join(", ")} and ponder_sync`);
} finally {
  await client.end();
  if (database) await database.stop();
}
