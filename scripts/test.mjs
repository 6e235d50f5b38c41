#!/usr/bin/env node
// `npm test`: every test stage in order, each starting what it needs itself. Each stage prints its own
// "N passed, N failed" line; this script stops at the first failing stage and exits non-zero.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const bin = (tool) => path.join(root, "node_modules", ".bin", tool);

const stages = [
  { name: "compile (solc-js, offline) and typechain", cmd: bin("hardhat"), args: ["compile", "--quiet", "--concurrency", "3"] },
  { name: "typecheck", cmd: bin("tsc"), args: ["--noEmit", "-p", "tsconfig.json"] },
  { name: "typecheck indexer (ESM, Ponder types)", cmd: bin("tsc"), args: ["--noEmit", "-p", "indexer/tsconfig.json"] },
  { name: "typecheck web app (browser, React)", cmd: bin("tsc"), args: ["--noEmit", "-p", "web/tsconfig.json"] },
  { name: "contract and deploy tests (in-process Hardhat network)", cmd: bin("hardhat"), args: ["test"] },
  { name: "worker unit tests (no processes)", cmd: "bash", args: [path.join(root, "scripts", "test-e2e.sh"), "test/unit/*.test.ts"] },
  { name: "end-to-end tests (hardhat node and worker processes)", cmd: "bash", args: [path.join(root, "scripts", "test-e2e.sh")] },
];

const started = Date.now();
for (const stage of stages) {
  console.log(`\n=== ${stage.name}`);
  const t0 = Date.now();
  const run = spawnSync(stage.cmd, stage.args, { cwd: root, stdio: "inherit", env: process.env });
  const seconds = ((Date.now() - t0) / 1000).toFixed(1);
  if (run.status !== 0) {
    console.error(`=== ${stage.name}: FAILED after ${seconds}s (exit ${run.status ?? run.signal})`);
    process.exit(run.status || 1);
  }
  console.log(`=== ${stage.name}: ok in ${seconds}s`);
}
console.log(`\nAll test stages passed in ${((Date.now() - started) / 1000).toFixed(1)}s`);
