/**
 * Cold start of `npm start` (scripts/start.mjs) to its "ready" line, on its own ports and data directory:
 *   fresh      artifacts, cache and typechain types removed first (a fresh clone after `npm ci`: includes compiling)
 *   compiled   contracts already compiled (every later start)
 * BENCH_START_RUNS (default 2) of each; each run is stopped with SIGINT and must exit cleanly. The phase timings are
 * the script's own progress lines. Writes bench/results/start.md and start.json.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT } from "../test/e2e/harness";

const RUNS = Number(process.env.BENCH_START_RUNS ?? 2);
const PORTS = { RPC_PORT: 9645, PG_PORT: 54395, PONDER_PORT: 42295, API_PORT: 4595, CONSENSUS_PORT: 9711, ORCHESTRATOR_PORT: 9810, GATEWAY_PORT: 9811, WEB_PORT: 9812 };
const DATA_DIR = path.join(ROOT, ".data-e2e", `bench-start-${process.pid}`);

interface Run {
  mode: string;
  seconds: number;
  phases: { at: number; what: string }[];
}

function runOnce(mode: "fresh" | "compiled"): Promise<Run> {
  if (mode === "fresh") for (const dir of ["artifacts", "cache", "typechain-types"]) fs.rmSync(path.join(ROOT, dir), { recursive: true, force: true });
  const child = spawn(process.execPath, [path.join(ROOT, "scripts", "start.mjs")], {
    cwd: ROOT,
    env: { ...process.env, PRSM_NETWORK: "e2e", PRSM_DATA_DIR: DATA_DIR, ...Object.fromEntries(Object.entries(PORTS).map(([k, v]) => [k, String(v)])) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (child.kill("SIGINT"), reject(new Error(`not ready within 300 s:\n${output}`))), 300_000);
    child.on("exit", (code) => reject(new Error(`npm start exited (${code}) before ready:\n${output}`)));
    child.stdout.on("data", () => {
      const ready = /ready: cold start took ([\d.]+) s/.exec(output);
      if (!ready || !output.includes("Ctrl-C stops everything")) return;
      clearTimeout(timer);
      child.removeAllListeners("exit");
      const phases = [...output.matchAll(/\[prsm\s+([\d.]+)s\] (.*)/g)].map((m) => ({ at: Number(m[1]), what: m[2]! }));
      child.once("exit", (code) => (code === 0 ? resolve({ mode, seconds: Number(ready[1]), phases }) : reject(new Error(`exit ${code} after SIGINT`))));
      child.kill("SIGINT");
    });
  });
}

async function main() {
  const runs: Run[] = [];
  try {
    for (const mode of ["fresh", "compiled"] as const) {
      for (let i = 0; i < RUNS; i++) {
        const run = await runOnce(mode);
        console.log(`${mode}: ready in ${run.seconds} s`);
        runs.push(run);
      }
    }
  } finally {
    fs.rmSync(DATA_DIR, { recursive: true, force: true });
  }
  const dir = path.join(ROOT, "bench", "results");
  const machine = `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  fs.writeFileSync(path.join(dir, "start.json"), JSON.stringify({ date: new Date().toISOString(), machine, runs }, null, 2) + "\n");
  const phase = (r: Run, what: RegExp) => r.phases.find((p) => what.test(p.what))?.at ?? NaN;
  const lines = [
    "# npm start: cold start to ready",
    "",
    `${new Date().toISOString()} on ${machine}; \`npm run bench start\`. "ready" = every health check passed (chain, deployment`,
    "and demo state, Postgres, indexer at the chain head, four consensus nodes, gateway, orchestrator, API).",
    "",
    "| run | ready (s) | compile done | deployed | demo state | indexer at head |",
    "|---|---|---|---|---|---|",
    ...runs.map((r) => `| ${r.mode} | **${r.seconds}** | ${phase(r, /^starting the local chain/)} | ${phase(r, /^demo state/)} | ${phase(r, /^starting the embedded Postgres/)} | ${phase(r, /^indexer caught up/)} |`),
    "",
    "`fresh` = a clone right after `npm ci` (the contracts are compiled with solc-js first); `compiled` = every later",
    "start. Target: under 60 s.",
    "",
  ];
  fs.writeFileSync(path.join(dir, "start.md"), lines.join("\n"));
  console.log(lines.join("\n"));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
