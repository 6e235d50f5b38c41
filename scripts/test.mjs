#!/usr/bin/env node
// `npm test`: every test stage, each starting what it needs itself, each printing its own "N passed, N failed" line.
//
// The machine has two cores and most stages use one, so after the compile stage two lanes run side by side: the
// contract tests beside the typechecks and unit tests, then two lanes of end-to-end test files. The end-to-end lanes
// share nothing: each file's ports are its own except the e2e chain port 8645, whose files all run in lane 2; and
// lane 2 deploys into its own deployments folder (PRSM_DEPLOYMENTS_DIR, config/deployments.ts), so the two lanes'
// e2e chains never write the same files. A stage's output is printed whole when it ends (two lanes at once would
// interleave line by line); a failing stage lets the other lane finish its current stage, then `npm test` exits
// non-zero without starting more.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const bin = (tool) => path.join(root, "node_modules", ".bin", tool);
const e2eScript = path.join(root, "scripts", "test-e2e.sh");

// The end-to-end files that start their chain on the e2e network's default port 8645 (config/networks.ts): they
// must run one at a time, so they form one lane. Every other file picks ports of its own and runs in the other lane.
// Fixed test ports stay below 32768, Linux's ephemeral range: any outgoing connection of the other lane may hold a
// port up there, and Ponder, finding its port taken, silently listens on the next one.
const SHARED_CHAIN_PORT_FILES = ["api-hostile", "api", "consensus", "indexer", "rental", "renter-proxy", "routing", "session-keys"].map((f) => `test/e2e/${f}.test.ts`);
const allE2e = fs.readdirSync(path.join(root, "test", "e2e")).filter((f) => f.endsWith(".test.ts")).map((f) => `test/e2e/${f}`).sort();
const otherE2e = allE2e.filter((f) => !SHARED_CHAIN_PORT_FILES.includes(f));

const compiled = { PRSM_CONTRACTS_COMPILED: "1" };
const stages = [
  [[{ name: "compile (solc-js, offline) and typechain", cmd: bin("hardhat"), args: ["compile", "--quiet", "--concurrency", "3"] }]],
  [
    [{ name: "contract and deploy tests (in-process Hardhat network)", cmd: bin("hardhat"), args: ["test", "--no-compile"] }],
    [
      { name: "typecheck", cmd: bin("tsc"), args: ["--noEmit", "-p", "tsconfig.json"] },
      { name: "typecheck indexer (ESM, Ponder types)", cmd: bin("tsc"), args: ["--noEmit", "-p", "indexer/tsconfig.json"] },
      { name: "typecheck web app (browser, React)", cmd: bin("tsc"), args: ["--noEmit", "-p", "web/tsconfig.json"] },
      { name: "worker unit tests (no processes)", cmd: "bash", args: [e2eScript, "test/unit/*.test.ts"] },
    ],
  ],
  [
    [{ name: `end-to-end tests, lane 1 (${otherE2e.length} files with ports of their own)`, cmd: "bash", args: [e2eScript, ...otherE2e], env: compiled }],
    [{
      name: `end-to-end tests, lane 2 (${SHARED_CHAIN_PORT_FILES.length} files on the e2e chain port)`,
      cmd: "bash",
      args: [e2eScript, ...SHARED_CHAIN_PORT_FILES],
      env: { ...compiled, PRSM_DEPLOYMENTS_DIR: path.join(root, ".data-e2e", "lane-2-deployments") },
    }],
  ],
];

/** Runs one stage; resolves with its exit status after printing its whole output under its name. */
function run(stage, buffered) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    console.log(`\n=== ${stage.name}${buffered ? " (started; its output follows when it ends)" : ""}`);
    const child = spawn(stage.cmd, stage.args, { cwd: root, env: { ...process.env, ...stage.env }, stdio: buffered ? ["ignore", "pipe", "pipe"] : "inherit" });
    const chunks = [];
    if (buffered) {
      child.stdout.on("data", (d) => chunks.push(d));
      child.stderr.on("data", (d) => chunks.push(d));
    }
    child.on("error", (error) => chunks.push(Buffer.from(`${error.message}\n`)));
    child.on("close", (code, signal) => {
      const seconds = ((Date.now() - t0) / 1000).toFixed(1);
      if (buffered) {
        console.log(`\n=== ${stage.name}: output`);
        process.stdout.write(Buffer.concat(chunks));
      }
      if (code === 0) console.log(`=== ${stage.name}: ok in ${seconds}s`);
      else console.error(`=== ${stage.name}: FAILED after ${seconds}s (exit ${code ?? signal})`);
      resolve(code === 0);
    });
  });
}

const started = Date.now();
let failed = false;
for (const lanes of stages) {
  const parallel = lanes.length > 1;
  await Promise.all(
    lanes.map(async (lane) => {
      for (const stage of lane) {
        if (failed) return;
        if (!(await run(stage, parallel))) failed = true;
      }
    }),
  );
  if (failed) process.exit(1);
}
console.log(`\nAll test stages passed in ${((Date.now() - started) / 1000).toFixed(1)}s`);
