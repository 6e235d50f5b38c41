/**
 * Indexer benchmark: a Hardhat node holding at least BENCH_INDEXER_EVENTS protocol events (token transfers between
 * delegating accounts, ~3 events each, after the deployment's own), indexed into an embedded Postgres by
 *
 *   full       the real indexer (indexer/: every handler, every table)
 *   baseline   the same contracts and events with empty handlers (bench/indexer-baseline/)
 *
 * alternately, BENCH_INDEXER_ROUNDS times each, each run into a fresh schema. Reported per run: wall time from
 * process start to the head indexed, and backfill time (from Ponder's HTTP server answering to the head indexed),
 * as events/s. Then, with the full indexer live: lag from a mined block (its receipt) to its row being visible in
 * Postgres, over BENCH_INDEXER_LAG_SAMPLES sequential transfers.
 *
 * Writes bench/results/indexer.md and indexer.json. Run with `npm run bench indexer`.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import type { Hex } from "viem";
import { account, deployment, Processes, ROOT, startChain, walletFor, type Chain } from "../test/e2e/harness";
import { mineTransfers } from "../test/e2e/load";

const CHAIN_PORT = 8645;
const PG_PORT = 54340;
const PONDER_PORT = 42180;
const TARGET_EVENTS = Number(process.env.BENCH_INDEXER_EVENTS ?? 10_000);
const ROUNDS = Number(process.env.BENCH_INDEXER_ROUNDS ?? 2);
const LAG_SAMPLES = Number(process.env.BENCH_INDEXER_LAG_SAMPLES ?? 30);
const CONTRACTS = ["FTNSToken", "ModelMarketplace", "FederationCommittee", "FTNSGovernor", "ProtocolTimelock"];

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Run {
  app: "full" | "baseline";
  round: number;
  wallMs: number;
  backfillMs: number;
}

async function countEvents(chain: Chain): Promise<number> {
  const logs = await chain.publicClient.getLogs({ address: CONTRACTS.map((c) => deployment(c).address), fromBlock: 0n });
  return logs.length;
}

async function status(port: number): Promise<{ up: boolean; block: number }> {
  const res = await fetch(`http://127.0.0.1:${port}/status`).catch(() => undefined);
  if (!res?.ok) return { up: !!res, block: -1 };
  const body = (await res.json()) as Record<string, { block?: { number: number } }>;
  return { up: true, block: body.protocol?.block?.number ?? -1 };
}

async function indexOnce(processes: Processes, chain: Chain, databaseUrl: string, app: Run["app"], round: number, head: number) {
  const root = app === "full" ? "indexer" : path.join("bench", "indexer-baseline");
  const schema = `bench_${app}_${round}`;
  const started = performance.now();
  const child = processes.spawn(
    `ponder-${schema}`,
    path.join(ROOT, "node_modules", ".bin", "ponder"),
    ["--root", root, "--log-format", "json", "start", "--schema", schema, "--views-schema", `${schema}_views`, "--port", String(PONDER_PORT), "--hostname", "127.0.0.1"],
    { NETWORK: "e2e", E2E_RPC_URL: chain.rpcUrl, DATABASE_URL: databaseUrl, PONDER_TELEMETRY_DISABLED: "true", PONDER_LOG_LEVEL: "warn" },
    path.join(chain.logDir, `${schema}.log`),
  );
  let serving: number | undefined;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${app} indexer exited (${child.exitCode}); see ${chain.logDir}/${schema}.log`);
    const s = await status(PONDER_PORT);
    if (s.up && serving === undefined) serving = performance.now();
    if (s.block >= head) break;
    if (performance.now() - started > 600_000) throw new Error(`${app} indexer did not reach block ${head} in 10 minutes`);
    await sleep(20);
  }
  const done = performance.now();
  return { child, run: { app, round, wallMs: done - started, backfillMs: done - (serving ?? started) } };
}

/** Mined block -> its transfer row visible in Postgres, over sequential transfers on the live full indexer. */
async function measureLag(chain: Chain, db: pg.Client, views: string): Promise<number[]> {
  const token = deployment("FTNSToken");
  const wallet = walletFor(chain, 2);
  const lags: number[] = [];
  for (let i = 0; i < LAG_SAMPLES; i++) {
    const hash: Hex = await wallet.writeContract({ ...token, abi: token.abi as never, functionName: "transfer", args: [account(3).address, 1n] as never });
    await chain.publicClient.waitForTransactionReceipt({ hash, pollingInterval: 5 });
    const mined = performance.now();
    for (;;) {
      const { rows } = await db.query(`SELECT 1 FROM ${views}.transfer WHERE tx_hash = $1`, [hash]);
      if (rows.length > 0) break;
      if (performance.now() - mined > 30_000) throw new Error(`transfer ${hash} not indexed within 30 s`);
      await sleep(5);
    }
    lags.push(performance.now() - mined);
    await sleep(50 + Math.random() * 250); // not in step with the indexer's polling
  }
  return lags;
}

async function main() {
  const processes = new Processes();
  const dataDir = path.join(ROOT, ".data-e2e", `bench-postgres-${process.pid}`);
  let stopPostgres: (() => Promise<void>) | undefined;
  try {
    const chain = await startChain(processes, CHAIN_PORT);
    let events = await countEvents(chain);
    const minedFrom = performance.now();
    while (events < TARGET_EVENTS) {
      await mineTransfers(chain, Math.ceil((TARGET_EVENTS - events) / 3) + 10);
      events = await countEvents(chain);
    }
    const head = Number(await chain.publicClient.getBlockNumber({ cacheTime: 0 }));
    console.log(`chain: ${events} protocol events up to block ${head} (mined in ${((performance.now() - minedFrom) / 1000).toFixed(0)} s)`);

    const { startEmbeddedPostgres } = await import(path.join(ROOT, "scripts", "lib", "postgres.mjs"));
    const database = await startEmbeddedPostgres({ dataDir, port: PG_PORT });
    stopPostgres = database.stop;

    const runs: Run[] = [];
    let live: { child: import("node:child_process").ChildProcess; schema: string } | undefined;
    for (let round = 1; round <= ROUNDS; round++) {
      for (const app of ["baseline", "full"] as const) {
        const { child, run } = await indexOnce(processes, chain, database.url, app, round, head);
        runs.push(run);
        console.log(`${app} round ${round}: ${(run.wallMs / 1000).toFixed(2)} s wall, backfill ${(run.backfillMs / 1000).toFixed(2)} s = ${Math.round(events / (run.backfillMs / 1000))} events/s`);
        if (app === "full" && round === ROUNDS) live = { child, schema: `bench_${app}_${round}` };
        else await processes.stop(child);
      }
    }

    const db = new pg.Client(database.url);
    await db.connect();
    const lags = (await measureLag(chain, db, `${live!.schema}_views`)).sort((a, b) => a - b);
    await db.end();

    const best = (app: Run["app"]) => Math.min(...runs.filter((r) => r.app === app).map((r) => r.backfillMs));
    const bestWall = (app: Run["app"]) => Math.min(...runs.filter((r) => r.app === app).map((r) => r.wallMs));
    const result = {
      date: new Date().toISOString(),
      machine: `${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`,
      chain: { events, head, note: "Hardhat node; token transfers between delegating accounts (Transfer + 2 DelegateVotesChanged) after the deployment's events" },
      runs,
      backfillEventsPerSecond: { full: Math.round(events / (best("full") / 1000)), baseline: Math.round(events / (best("baseline") / 1000)) },
      wallEventsPerSecond: { full: Math.round(events / (bestWall("full") / 1000)), baseline: Math.round(events / (bestWall("baseline") / 1000)) },
      ratio: Number((best("baseline") / best("full")).toFixed(2)),
      lagMs: { samples: lags.length, p50: Math.round(percentile(lags, 50)), p95: Math.round(percentile(lags, 95)), max: Math.round(lags[lags.length - 1]) },
    };
    writeResults(result);
    console.log(JSON.stringify({ backfill: result.backfillEventsPerSecond, ratio: result.ratio, lagMs: result.lagMs }));
  } finally {
    await processes.stopAll();
    await stopPostgres?.();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

function writeResults(r: {
  date: string; machine: string; chain: { events: number; head: number; note: string }; runs: Run[];
  backfillEventsPerSecond: { full: number; baseline: number }; wallEventsPerSecond: { full: number; baseline: number };
  ratio: number; lagMs: { samples: number; p50: number; p95: number; max: number };
}) {
  const dir = path.join(ROOT, "bench", "results");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "indexer.json"), JSON.stringify(r, null, 2) + "\n");
  const rows = r.runs.map((x) => `| ${x.app} | ${x.round} | ${(x.wallMs / 1000).toFixed(2)} | ${(x.backfillMs / 1000).toFixed(2)} | ${Math.round(r.chain.events / (x.backfillMs / 1000))} |`);
  fs.writeFileSync(
    path.join(dir, "indexer.md"),
    `# Indexer benchmark

${r.date} · ${r.machine} · \`npm run bench indexer\`

Chain: ${r.chain.events} protocol events up to block ${r.chain.head} (${r.chain.note}). Both apps read the same
Hardhat node and write to the same embedded Postgres, each run into a fresh schema; RPC caching is off for local
chains, so every run fetches its logs again.

| app | round | wall s (start -> head) | backfill s (serving -> head) | backfill events/s |
|---|---|---|---|---|
${rows.join("\n")}

Best backfill: full indexer **${r.backfillEventsPerSecond.full} events/s**, empty-handler baseline ${r.backfillEventsPerSecond.baseline} events/s:
ratio **${r.ratio}** (target >= 0.5). Start-to-head: ${r.wallEventsPerSecond.full} vs ${r.wallEventsPerSecond.baseline} events/s.

Block -> row lag (live full indexer, ${r.lagMs.samples} sequential transfers, receipt to row visible in Postgres; Ponder polls
the local chain every 200 ms): p50 **${r.lagMs.p50} ms**, p95 **${r.lagMs.p95} ms**, max ${r.lagMs.max} ms (target < 2 s).
`,
  );
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
