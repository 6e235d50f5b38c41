/**
 * A Hardhat node with the protocol deployed, an embedded Postgres and the real indexer (Ponder) on it: what the
 * indexer and API end-to-end tests start. Everything is stopped by `stop()`; the Postgres data directory is removed.
 */
import fs from "node:fs";
import path from "node:path";
import pg from "pg";
import { Processes, ROOT, startChain, waitFor, type Chain } from "./harness";

export interface IndexedChain {
  chain: Chain;
  processes: Processes;
  databaseUrl: string;
  db: pg.Client;
  startIndexer(schema: string, views: string, port: number): ReturnType<Processes["spawn"]>;
  indexedBlock(port: number): Promise<number>;
  indexedToHead(port: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startIndexedChain(opts: { chainPort: number; pgPort: number }): Promise<IndexedChain> {
  const processes = new Processes();
  // A failed deploy must not leave its hardhat node running (a benchmark or test that throws here has no handle).
  const chain = await startChain(processes, opts.chainPort).catch(async (error) => {
    await processes.stopAll();
    throw error;
  });
  const { startEmbeddedPostgres } = await import(path.join(ROOT, "scripts", "lib", "postgres.mjs"));
  // Under the project (not the 0700 temp dir): as root, Postgres runs as the postgres user and must reach it.
  const dataDir = path.join(ROOT, ".data-e2e", `postgres-${process.pid}-${opts.pgPort}`);
  const database = await startEmbeddedPostgres({ dataDir, port: opts.pgPort });
  const db = new pg.Client(database.url);
  await db.connect();

  const indexedBlock = async (port: number) => {
    const res = await fetch(`http://127.0.0.1:${port}/status`).catch(() => undefined);
    if (!res?.ok) return -1;
    const status = (await res.json()) as Record<string, { block?: { number: number } }>;
    return status.protocol?.block?.number ?? -1;
  };

  return {
    chain,
    processes,
    databaseUrl: database.url,
    db,
    startIndexer: (schema, views, port) =>
      processes.spawn(
        `indexer-${schema}`,
        path.join(ROOT, "node_modules", ".bin", "ponder"),
        ["--root", "indexer", "--log-format", "json", "start", "--schema", schema, "--views-schema", views, "--port", String(port), "--hostname", "127.0.0.1"],
        { NETWORK: "e2e", E2E_RPC_URL: chain.rpcUrl, DATABASE_URL: database.url, PONDER_TELEMETRY_DISABLED: "true" },
        path.join(chain.logDir, `indexer-${schema}.log`),
      ),
    indexedBlock,
    async indexedToHead(port) {
      const head = Number(await chain.publicClient.getBlockNumber({ cacheTime: 0 }));
      await waitFor(`the indexer on ${port} to reach block ${head}`, async () => ((await indexedBlock(port)) >= head ? true : undefined), 180_000, 100);
    },
    async stop() {
      await db.end().catch(() => undefined);
      await processes.stopAll();
      await database.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
