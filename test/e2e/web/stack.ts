/**
 * The whole real stack for browser tests, started the way a user does: `npm start`'s script (scripts/start.mjs) on
 * the e2e network, with a temporary PRSM_DATA_DIR and a free port for every *_PORT variable (so it clashes neither
 * with a developer's `npm start` nor with another test). Resolves once it printed its table, with the URLs, contract
 * addresses, demo accounts and the ids it seeded; `stop()` ends it by PID (SIGTERM, then SIGKILL after a bound, and
 * any process it left behind, found by its data directory).
 *
 *   const stack = await startStack();
 *   try { ...stack.webUrl... } finally { await stack.stop(); }
 *
 * A cold start takes about 40-60 s on a 2-core machine (compiled contracts, web app already built; a stale
 * web/dist adds a vite build); `startupSeconds` has the figure.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import type { Hex } from "viem";

const ROOT = path.resolve(__dirname, "..", "..", "..");

export interface StackAccount {
  index: number;
  address: `0x${string}`;
  privateKey: Hex;
}

export interface Stack {
  webUrl: string;
  apiUrl: string;
  orchestratorUrl: string;
  rpcUrl: string;
  ports: Record<string, number>;
  contracts: { token: string; marketplace: string; governor: string; timelock: string; committee: string };
  /** The demo model's listing, the renter's open escrow on it, the sample governance proposal. */
  demoListing: bigint;
  escrowId: bigint;
  proposalId: bigint;
  /** renter (account 1), voter (account 2), the demo provider (account 18): funded development keys. */
  accounts: { renter: StackAccount; voter: StackAccount; provider: StackAccount };
  dataDir: string;
  /** Seconds from spawning the script to its table. */
  startupSeconds: number;
  /** What the script printed so far. */
  output: () => string;
  /** The last lines of every process log (for a failure message: CI keeps no files). */
  logTails: () => string;
  pid: number;
  stop: () => Promise<void>;
}

function listenable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** `count` consecutive free ports on 127.0.0.1, none of them in `taken`. */
async function freePorts(count: number, taken: Set<number>): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    // 20000-32000: below Linux's ephemeral range (32768+, outgoing sockets) and clear of the fixed ports other test
    // files use (4xxx, 6xxx, 8xxx, 42xxx, 54xxx), which may be starting in the other test lane meanwhile.
    const base = 20_000 + Math.floor(Math.random() * 12_000);
    const range = Array.from({ length: count }, (_, i) => base + i);
    if (range.some((p) => taken.has(p))) continue;
    if ((await Promise.all(range.map(listenable))).every(Boolean)) {
      range.forEach((p) => taken.add(p));
      return base;
    }
  }
  throw new Error("no free ports found");
}

/** Processes whose environment carries this data directory: every child of the script (Linux /proc). */
function processesOf(dataDir: string): number[] {
  const marker = `PRSM_DATA_DIR=${dataDir}\0`;
  const found: number[] = [];
  for (const pid of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      if (Number(pid) !== process.pid && fs.readFileSync(`/proc/${pid}/environ`, "utf8").includes(marker)) found.push(Number(pid));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

export interface StackOptions {
  /** Extra environment for the script (e.g. SETTLE_MAX_AGE_MS, WEB_DIST). */
  env?: Record<string, string>;
  /** How long the start may take (default 300 s). */
  timeoutMs?: number;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const taken = new Set<number>();
  const ports: Record<string, number> = {};
  for (const name of ["RPC_PORT", "PG_PORT", "PONDER_PORT", "API_PORT", "ORCHESTRATOR_PORT", "GATEWAY_PORT", "WEB_PORT"]) ports[name] = await freePorts(1, taken);
  ports.CONSENSUS_PORT = await freePorts(4, taken); // and the next three
  // Inside the repository like test/e2e/start.test.ts's: the embedded Postgres runs as another user, which must
  // be able to reach its data directory (a private mkdtemp directory in /tmp is not searchable by it).
  fs.mkdirSync(path.join(ROOT, ".data-e2e"), { recursive: true });
  const dataDir = fs.mkdtempSync(path.join(ROOT, ".data-e2e", "stack-"));
  fs.chmodSync(dataDir, 0o755);
  const t0 = Date.now();
  const child = spawn(process.execPath, [path.join(ROOT, "scripts", "start.mjs")], {
    cwd: ROOT,
    env: {
      ...process.env,
      PRSM_NETWORK: "e2e",
      PRSM_DATA_DIR: dataDir,
      ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
      ...options.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));

  const logTails = () => {
    const dir = path.join(dataDir, "logs");
    if (!fs.existsSync(dir)) return "";
    return fs
      .readdirSync(dir)
      .map((f) => `--- ${f}\n${fs.readFileSync(path.join(dir, f), "utf8").split("\n").slice(-15).join("\n").slice(-3000)}`)
      .join("\n");
  };

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      if (alive(child)) {
        const exited = new Promise<void>((r) => child.once("exit", () => r()));
        child.kill("SIGTERM"); // the script stops its own children, then Postgres
        await Promise.race([exited, sleep(30_000)]);
        if (alive(child)) child.kill("SIGKILL");
      }
      // Whatever it could not stop (or everything, after a SIGKILL): by PID, SIGTERM then SIGKILL.
      let left = processesOf(dataDir);
      for (const pid of left) {
        try {
          process.kill(pid, "SIGTERM");
        } catch {
          // already gone
        }
      }
      const deadline = Date.now() + 5_000;
      while (left.length > 0 && Date.now() < deadline) {
        await sleep(100);
        left = processesOf(dataDir);
      }
      for (const pid of left) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
    })();
    return stopped;
  };

  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the stack was not ready within ${(options.timeoutMs ?? 300_000) / 1000} s:\n${output}\n${logTails()}`)), options.timeoutMs ?? 300_000);
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`scripts/start.mjs exited (${code}) before it was ready:\n${output}\n${logTails()}`));
      });
      child.stdout!.on("data", () => {
        if (/ready: cold start took/.test(output) && output.includes("Ctrl-C stops everything")) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  } catch (error) {
    await stop();
    throw error;
  }

  const row = (label: RegExp): string => {
    const line = output.split("\n").find((l) => label.test(l));
    if (!line) throw new Error(`the stack's table has no row matching ${label}:\n${output}`);
    return line;
  };
  const urlIn = (line: string) => line.match(/https?:\/\/[^\s]+/)![0];
  const account = (label: RegExp, index: number): StackAccount => {
    const [, address, privateKey] = row(label).match(/(0x[0-9a-fA-F]{40})\s+(0x[0-9a-fA-F]{64})/)!;
    return { index, address: address as `0x${string}`, privateKey: privateKey as Hex };
  };
  const address = (label: RegExp) => row(label).match(/0x[0-9a-fA-F]{40}/)![0];
  const webLine = output.split("\n").find((l) => /^\s+Web app/.test(l));
  if (!webLine) {
    await stop();
    throw new Error(`the stack serves no web app (is web/index.html there? see the output):\n${output}`);
  }
  return {
    webUrl: urlIn(webLine),
    apiUrl: urlIn(row(/^\s+GraphQL API/)),
    orchestratorUrl: urlIn(row(/^\s+Orchestrator/)).replace(/\/v1\/.*$/, ""),
    rpcUrl: urlIn(row(/^\s+JSON-RPC/)),
    ports,
    contracts: {
      token: address(/^\s+FTNSToken\s/),
      marketplace: address(/^\s+ModelMarketplace\s/),
      governor: address(/^\s+FTNSGovernor\s/),
      timelock: address(/^\s+ProtocolTimelock/),
      committee: address(/^\s+FederationCommittee\s/),
    },
    demoListing: BigInt(row(/Demo provider gateway \(listing \d+\)/).match(/listing (\d+)/)![1]!),
    escrowId: BigInt(output.match(/escrow (\d+) \(100 FTNS\)/)![1]!),
    proposalId: BigInt(output.match(/gov:vote .*--id (\d+)/)![1]!),
    accounts: {
      renter: account(/^\s+renter \(account 1,/, 1),
      voter: account(/^\s+voter \(account 2,/, 2),
      provider: account(/^\s+demo provider \(account 18/, 18),
    },
    dataDir,
    startupSeconds: (Date.now() - t0) / 1000,
    output: () => output,
    logTails,
    pid: child.pid!,
    stop,
  };
}
