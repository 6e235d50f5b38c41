#!/usr/bin/env node
// `prsm-renter`: the renter proxy (workers/renter/main.ts), run through tsx like the other workers.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const run = spawnSync(process.execPath, ["--import", "tsx", path.join(root, "workers", "renter", "main.ts")], { stdio: "inherit", env: process.env });
process.exit(run.status ?? 1);
