#!/usr/bin/env node
// `npm run bench`: every benchmark in turn; each writes its figures to bench/results/.
//   gas        in-process Hardhat network: gas of every protocol operation, compared with references
//   consensus  four consensus-node processes on a Hardhat node: report -> settlement latency, settlements/s
//   indexer    the real indexer vs an empty-handler Ponder app over >= 10,000 events; block -> row lag
//   orchestrator  latency the orchestrator adds over calling a provider gateway directly; queries/s through it
//   start      npm start's cold start to ready, fresh (compiling first) and compiled
//   api        the GraphQL API (cached and uncached) vs Ponder's built-in /graphql on three queries (autocannon)
//   web        the browser app: first-page JS (gzip) from a vite build, and time to interactive in chromium (5 cold loads)
//   api-scale  the API uncached over 1M escrows / 3M charges bulk-loaded into the indexer's own tables: every query
//              shape sequentially and at 20 connections, hostile queries refused while another client is served, RSS
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const benches = [
  { name: "gas", cmd: path.join(root, "node_modules", ".bin", "hardhat"), args: ["run", "bench/gas.ts"] },
  { name: "consensus", cmd: process.execPath, args: ["--import", "tsx", "bench/consensus.ts"] },
  { name: "indexer", cmd: process.execPath, args: ["--import", "tsx", "bench/indexer.ts"] },
  { name: "api", cmd: process.execPath, args: ["--import", "tsx", "bench/api.ts"] },
  { name: "api-scale", cmd: process.execPath, args: ["--import", "tsx", "bench/api-scale.ts"] },
  { name: "orchestrator", cmd: process.execPath, args: ["--import", "tsx", "bench/orchestrator.ts"] },
  { name: "start", cmd: process.execPath, args: ["--import", "tsx", "bench/start.ts"] },
  { name: "web", cmd: process.execPath, args: ["--import", "tsx", "bench/web.ts"] },
];
const only = process.argv.slice(2);
for (const bench of benches.filter((b) => only.length === 0 || only.includes(b.name))) {
  console.log(`\n=== bench: ${bench.name}`);
  const run = spawnSync(bench.cmd, bench.args, { cwd: root, stdio: "inherit" });
  if (run.status !== 0) {
    console.error(`=== bench ${bench.name} failed (exit ${run.status ?? run.signal})`);
    process.exit(run.status || 1);
  }
}
