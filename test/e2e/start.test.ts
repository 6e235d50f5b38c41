/**
 * `npm start` as a user runs it (scripts/start.mjs, on the e2e network, its own ports and data directory): it
 * reports ready, the GraphQL API returns the eight launch listings (and the demo model's), a query through the
 * orchestrator is answered by the demo model and its charge shows in GraphQL once the committee settled it, the web
 * app's server answers index.html and /config.json with the deployed marketplace, Ctrl-C
 * (SIGINT) leaves no process and no port behind, and a second start right after works and stops on SIGTERM.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { createPublicClient, http, type PublicClient } from "viem";
import { hardhat } from "viem/chains";
import { LAUNCH_MODELS, DEMO_MODEL } from "../../config/launch-models";
import { RenterClient } from "../../workers/renter/client";
import { deploymentsDir } from "../../config/deployments";
import { account, domainOf, ROOT, waitFor } from "./harness";
import { committeeDomain, RENTER } from "./usage";

const PORTS = { RPC_PORT: 8646, PG_PORT: 15360, PONDER_PORT: 16210, API_PORT: 4510, CONSENSUS_PORT: 8821, ORCHESTRATOR_PORT: 8830, GATEWAY_PORT: 8831, WEB_PORT: 8832 };
const ALL_PORTS = [...Object.values(PORTS), PORTS.CONSENSUS_PORT + 1, PORTS.CONSENSUS_PORT + 2, PORTS.CONSENSUS_PORT + 3];
const DATA_DIR = path.join(ROOT, ".data-e2e", `start-${process.pid}`);
let running: ChildProcess | undefined;

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });
}

/** Starts `npm start`'s script and resolves with its output and cold-start seconds once it prints "ready". */
function startStack(): Promise<{ child: ChildProcess; output: () => string; seconds: number }> {
  const child = spawn(process.execPath, [path.join(ROOT, "scripts", "start.mjs")], {
    cwd: ROOT,
    env: { ...process.env, PRSM_NETWORK: "e2e", PRSM_DATA_DIR: DATA_DIR, ...Object.fromEntries(Object.entries(PORTS).map(([k, v]) => [k, String(v)])) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running = child;
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start not ready within 240 s:\n${output}`)), 240_000);
    child.on("exit", (code) => reject(new Error(`npm start exited (${code}) before it was ready:\n${output}\n${logTails()}`)));
    child.stdout!.on("data", () => {
      const ready = output.match(/ready: cold start took ([\d.]+) s/);
      if (ready && output.includes("Ctrl-C stops everything")) {
        clearTimeout(timer);
        resolve({ child, output: () => output, seconds: Number(ready[1]) });
      }
    });
  });
}

/** The last lines of each process log npm start wrote: CI keeps no files, so a failure must carry them. */
function logTails(): string {
  const dir = path.join(DATA_DIR, "logs");
  if (!fs.existsSync(dir)) return "";
  return fs.readdirSync(dir).map((f) => `--- ${f}\n${fs.readFileSync(path.join(dir, f), "utf8").split("\n").slice(-15).join("\n").slice(-3000)}`).join("\n");
}

async function stopStack(child: ChildProcess, signal: NodeJS.Signals) {
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  child.kill(signal);
  const code = await Promise.race([exited, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 30_000))]);
  assert.notEqual(code, "timeout", "npm start did not exit within 30 s");
  assert.equal(code, 0);
  running = undefined;
  for (const port of ALL_PORTS) assert.equal(await portOpen(port), false, `port ${port} still open after ${signal}`);
  assert.deepEqual(leftovers(), [], `processes left behind after ${signal}`);
}

/** Processes that inherited this test's PRSM_DATA_DIR: every child of npm start does (Linux /proc). */
function leftovers(): string[] {
  const marker = `PRSM_DATA_DIR=${DATA_DIR}\0`;
  const found: string[] = [];
  for (const pid of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/environ`, "utf8").includes(marker)) {
        found.push(`${pid}: ${fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ").slice(0, 120)}`);
      }
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

describe("npm start end to end", { timeout: 600_000 }, () => {
  after(async () => {
    // SIGINT, not SIGKILL: the script must get to stop its own children.
    if (running && running.exitCode === null) await stopStack(running, "SIGINT").catch(() => undefined);
    fs.rmSync(DATA_DIR, { recursive: true, force: true });
  });

  test("brings the stack up, serves the listings over GraphQL, answers a model query, and Ctrl-C leaves nothing behind", async () => {
    const { child, seconds, output } = await startStack();
    try {
    console.log(`# cold start to ready: ${seconds} s (contracts already compiled)`);
    assert.match(output(), new RegExp(`http://127.0.0.1:${PORTS.API_PORT}/graphql`));
    // The web app, first in the table: its page, and its configuration with the marketplace just deployed.
    const web = `http://127.0.0.1:${PORTS.WEB_PORT}`;
    assert.match(output().split("\n").find((l) => l.includes("Web app")) ?? "", new RegExp(`Web app .* ${web}$`), output());
    const index = await fetch(`${web}/market`);
    assert.equal(index.status, 200);
    assert.match(await index.text(), /<script type="module"/);
    const appConfig = (await (await fetch(`${web}/config.json`)).json()) as { chainId: number; contracts: { marketplace: string } };
    const marketplace = JSON.parse(fs.readFileSync(path.join(deploymentsDir(), "e2e", "ModelMarketplace.json"), "utf8")).address;
    assert.equal(appConfig.chainId, 31337);
    assert.equal(appConfig.contracts.marketplace, marketplace);
    const gql = async (query: string) => {
      const res = await fetch(`http://127.0.0.1:${PORTS.API_PORT}/graphql`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query }) });
      const body = (await res.json()) as { data?: any; errors?: unknown };
      assert.equal(body.errors, undefined, `${JSON.stringify(body.errors)}\n${output()}`);
      return body.data;
    };
    const data = await gql(`{ listings { items { id metadataUri } } committeeMembers(where: { status: "active" }) { items { address } } }`);
    const names = data.listings.items.map((l: { metadataUri: string }) => JSON.parse(Buffer.from(l.metadataUri.split(",")[1], "base64").toString()).name);
    assert.deepEqual(names, [...LAUNCH_MODELS.map((m) => m.name), DEMO_MODEL.name], `${JSON.stringify(data)}\n${output()}`);
    assert.equal(data.committeeMembers.items.length, 4);
    for (let i = 0; i < 4; i++) {
      const health = (await (await fetch(`http://127.0.0.1:${PORTS.CONSENSUS_PORT + i}/health`)).json()) as { member: boolean };
      assert.equal(health.member, true);
    }

    // A model query through the orchestrator, paid from the escrow npm start opened for the renter.
    const escrowId = BigInt(output().match(/escrow (\d+) \(100 FTNS\)/)![1]!);
    const publicClient = createPublicClient({ chain: hardhat, transport: http(`http://127.0.0.1:${PORTS.RPC_PORT}`) }) as PublicClient;
    const domain = await committeeDomain({ publicClient, rpcUrl: "", logDir: "" });
    const renter = new RenterClient(account(RENTER), domain, `http://127.0.0.1:${PORTS.ORCHESTRATOR_PORT}`, {
      chainNow: async () => (await publicClient.getBlock()).timestamp,
      marketplaceDomain: await domainOf({ publicClient }, "ModelMarketplace"),
    });
    const answer = await renter.query("/v1/chat/completions", { messages: [{ role: "user", content: "Record profits on Friday delighted investors." }] }, { escrowIds: [escrowId] });
    assert.equal(answer.status, 200, answer.body);
    assert.match(answer.json.choices[0].message.content, /Sentiment: positive/);
    const charges = await waitFor("the charge to show in GraphQL", async () => {
      const items = (await gql(`{ escrow(id: "${escrowId}") { charged charges { amount units } } }`)).escrow.charges;
      return items.length > 0 ? items : undefined;
    }, 60_000, 250);
    assert.equal(BigInt(charges[0].units), answer.units);
    } finally {
      await stopStack(child, "SIGINT");
    }
  });

  test("a second start right after works, and SIGTERM stops it just as cleanly", async () => {
    const { child } = await startStack();
    assert.equal((await fetch(`http://127.0.0.1:${PORTS.API_PORT}/ready`)).status, 200);
    await stopStack(child, "SIGTERM");
  });
});
