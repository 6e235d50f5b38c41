#!/usr/bin/env node
// `npm start`: the local PRSM stack. Today: a Hardhat node on 127.0.0.1:8545 with the protocol deployed by the
// same scripts that deploy to Polygon. Ctrl-C (or SIGTERM) stops every child process by PID.
import { spawn, spawnSync } from "node:child_process";
import path from "node:path";
import fs from "node:fs";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const hardhat = path.join(root, "node_modules", ".bin", "hardhat");
const RPC_PORT = Number(process.env.RPC_PORT ?? 8545);
const RPC_URL = `http://127.0.0.1:${RPC_PORT}`;
const children = new Set();

function log(message) {
  process.stdout.write(`[prsm] ${message}\n`);
}

function stopAll(code) {
  for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
  setTimeout(() => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    process.exit(code);
  }, 3000).unref();
  if ([...children].every((c) => c.exitCode !== null)) process.exit(code);
}

async function rpcReady(url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
      });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`The local chain did not answer on ${url} within ${timeoutMs / 1000}s`);
}

async function main() {
  const t0 = Date.now();
  log("compiling contracts (solc-js from the solc npm package, no download)...");
  const compile = spawnSync(hardhat, ["compile", "--quiet"], { cwd: root, stdio: "inherit" });
  if (compile.status !== 0) throw new Error("compilation failed");

  log(`starting the local chain on ${RPC_URL}...`);
  const chainLog = fs.openSync(path.join(root, ".data-chain.log"), "w");
  const chain = spawn(hardhat, ["node", "--hostname", "127.0.0.1", "--port", String(RPC_PORT), "--no-deploy"], {
    cwd: root,
    stdio: ["ignore", chainLog, chainLog],
  });
  children.add(chain);
  chain.on("exit", (code) => {
    log(`local chain exited (${code}); stopping`);
    stopAll(1);
  });
  await rpcReady(RPC_URL, 60_000);

  log("deploying the protocol with the deploy scripts (fresh chain, so --reset)...");
  const deploy = spawnSync(hardhat, ["deploy", "--network", "localhost", "--reset"], {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, LOCAL_RPC_URL: RPC_URL },
  });
  if (deploy.status !== 0) throw new Error("deployment failed");

  const read = (name) => JSON.parse(fs.readFileSync(path.join(root, "deployments", "localhost", `${name}.json`), "utf8"));
  const rows = [
    ["JSON-RPC (chain 31337)", RPC_URL],
    ["FTNSToken (proxy)", read("FTNSToken").address],
    ["ProtocolTimelock (treasury)", read("ProtocolTimelock").address],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  log(`ready in ${((Date.now() - t0) / 1000).toFixed(1)}s\n`);
  for (const [k, v] of rows) process.stdout.write(`  ${k.padEnd(width)}  ${v}\n`);
  process.stdout.write(
    "\n  Funded local accounts and their private keys (LOCAL ONLY, publicly known): see .data-chain.log\n" +
      "  Try: npx hardhat console --network localhost\n\n  Ctrl-C stops everything.\n",
  );
}

process.on("SIGINT", () => stopAll(0));
process.on("SIGTERM", () => stopAll(0));
main().catch((error) => {
  console.error(`[prsm] ${error.message}`);
  stopAll(1);
});
