/**
 * End-to-end harness: real processes on 127.0.0.1 only. A Hardhat node, the deploy scripts against it (network
 * `e2e`, deployments/e2e), and worker processes started with node_modules/.bin/tsx, each stopped by PID.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createPublicClient, createWalletClient, http, type Address, type Hex, type PublicClient, type TypedDataDomain } from "viem";
import { hardhat } from "viem/chains";
import { mnemonicToAccount, type HDAccount } from "viem/accounts";
import { deploymentsDir } from "../../config/deployments";
import { fastAccount } from "../../workers/shared/fast-account";

export const ROOT = path.resolve(__dirname, "..", "..");
const BIN = (tool: string) => path.join(ROOT, "node_modules", ".bin", tool);
const MNEMONIC = "test test test test test test test test test test test junk"; // Hardhat's public dev accounts

const accounts = new Map<number, HDAccount>();

/**
 * Hardhat dev account `index`, derived once (a derivation costs tens of milliseconds). Typed data is signed through
 * workers/shared/fast-account.ts (the same bytes as viem's, ~10x faster: the tests and benchmarks sign thousands).
 */
export function account(index: number): HDAccount {
  let a = accounts.get(index);
  if (!a) {
    const hd = mnemonicToAccount(MNEMONIC, { addressIndex: index });
    const key = hd.getHdKey().privateKey;
    if (!key) throw new Error("no private key");
    a = { ...hd, signTypedData: fastAccount(`0x${Buffer.from(key).toString("hex")}`).signTypedData };
    accounts.set(index, a);
  }
  return a;
}

export function privateKeyOf(index: number): Hex {
  const key = account(index).getHdKey().privateKey;
  if (!key) throw new Error("no private key");
  return `0x${Buffer.from(key).toString("hex")}` as Hex;
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ""}`);
}

export class Processes {
  private readonly children = new Set<ChildProcess>();

  spawn(name: string, cmd: string, args: string[], env: Record<string, string>, logFile: string): ChildProcess {
    const out = fs.openSync(logFile, "a");
    const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", out, out] });
    child.on("exit", () => this.children.delete(child));
    this.children.add(child);
    return child;
  }

  async stop(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill(signal);
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.children].map((c) => this.stop(c)));
  }
}

export interface Chain {
  rpcUrl: string;
  publicClient: PublicClient;
  logDir: string;
}

/**
 * `--no-compile` once `npm test`'s compile stage ran (PRSM_CONTRACTS_COMPILED=1): the other test lane may be reading
 * the artifacts, and Hardhat rewrites its compile cache on every compile, even a no-op one.
 */
export function noCompileAfterTestStage(): string[] {
  return process.env.PRSM_CONTRACTS_COMPILED === "1" ? ["--no-compile"] : [];
}

/** Starts a Hardhat node on `port` and deploys the protocol to it with the deploy scripts (network e2e). */
export async function startChain(processes: Processes, port: number): Promise<Chain> {
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), "prsm-e2e-"));
  const rpcUrl = `http://127.0.0.1:${port}`;
  processes.spawn("chain", BIN("hardhat"), ["node", "--hostname", "127.0.0.1", "--port", String(port), "--no-deploy"], {}, path.join(logDir, "chain.log"));
  const publicClient = createPublicClient({ chain: hardhat, transport: http(rpcUrl), pollingInterval: 50 }) as PublicClient;
  await waitFor("the hardhat node", () => publicClient.getChainId(), 60_000, 200);
  const deploy = spawnSync(BIN("hardhat"), ["deploy", "--network", "e2e", "--reset", ...noCompileAfterTestStage()], {
    cwd: ROOT,
    env: { ...process.env, E2E_RPC_URL: rpcUrl },
    encoding: "utf8",
    timeout: 300_000,
  });
  fs.writeFileSync(path.join(logDir, "deploy.log"), deploy.stdout + deploy.stderr);
  if (deploy.status !== 0) throw new Error(`deploy failed:\n${deploy.stdout}\n${deploy.stderr}`);
  return { rpcUrl, publicClient, logDir };
}

/** Address and ABI only: a deployment file also holds constructor `args`, which must not leak into a call's args. */
export function deployment(name: string): { address: Address; abi: readonly unknown[] } {
  const { address, abi } = JSON.parse(fs.readFileSync(path.join(deploymentsDir(), "e2e", `${name}.json`), "utf8"));
  return { address, abi };
}

export function walletFor(chain: Chain, index: number) {
  return createWalletClient({ chain: hardhat, transport: http(chain.rpcUrl), account: account(index) });
}

/** A view call on a deployed contract (its ABI is loaded untyped, hence the casts, kept in this one place). */
export function readContract<T>(chain: Chain, c: { address: Address; abi: readonly unknown[] }, functionName: string, args: readonly unknown[] = []): Promise<T> {
  return chain.publicClient.readContract({ ...c, abi: c.abi as never, functionName, args: args as never }) as Promise<T>;
}

/** A deployed contract's EIP-712 domain, as it reports it (e.g. the marketplace's, where renter receipts are signed). */
export async function domainOf(chain: Pick<Chain, "publicClient">, name: string): Promise<TypedDataDomain> {
  const c = deployment(name);
  const [, domainName, version, chainId, verifyingContract] = (await chain.publicClient.readContract({
    ...c,
    abi: c.abi as never,
    functionName: "eip712Domain",
  })) as [Hex, string, string, bigint, Address];
  return { name: domainName, version, chainId: Number(chainId), verifyingContract };
}

export async function send(chain: Chain, hash: Hex): Promise<void> {
  const receipt = await chain.publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== "success") throw new Error(`transaction ${hash} reverted`);
}

export interface ConsensusNodeProcess {
  index: number;
  url: string;
  stateDir: string;
  child: ChildProcess;
}

/** Starts consensus node `index` (account) on `port`, with its own state directory, and waits for /health. */
export async function startConsensusNode(
  processes: Processes,
  chain: Chain,
  opts: { index: number; port: number; peers: string[]; stateDir: string; script?: string; env?: Record<string, string> },
): Promise<ConsensusNodeProcess> {
  const url = `http://127.0.0.1:${opts.port}`;
  // `node --import tsx` rather than the tsx CLI: the CLI runs the script in a child process, which a SIGKILL of the
  // CLI would leave running (and holding its port), and these tests kill nodes on purpose.
  const child = processes.spawn(
    `node-${opts.index}`,
    process.execPath,
    ["--import", "tsx", opts.script ?? path.join(ROOT, "workers", "consensus", "main.ts")],
    {
      CONSENSUS_NODE_KEY: privateKeyOf(opts.index),
      RPC_URL: chain.rpcUrl,
      CONSENSUS_PORT: String(opts.port),
      CONSENSUS_PEERS: opts.peers.join(","),
      NETWORK: "e2e",
      STATE_DIR: opts.stateDir,
      SUBMIT_STAGGER_MS: "400",
      TICK_MS: "300",
      // Tests settle each report as soon as it is held unless they set a policy of their own.
      SETTLE_MAX_AGE_MS: "0",
      LOG_LEVEL: "info",
      ...opts.env,
    },
    path.join(chain.logDir, `node-${opts.index}.log`),
  );
  await waitFor(`consensus node ${opts.index}`, async () => {
    if (child.exitCode !== null) throw new Error(`node ${opts.index} exited (${child.exitCode}); see ${chain.logDir}`);
    const res = await fetch(`${url}/health`);
    if (!res.ok) return undefined;
    // A leftover process on the same port would answer too: only this node's own address counts as ready.
    const { address } = (await res.json()) as { address: string };
    if (address.toLowerCase() !== account(opts.index).address.toLowerCase()) {
      throw new Error(`port ${opts.port} is held by another process (node ${address})`);
    }
    return true;
  }, 60_000, 100);
  return { index: opts.index, url, stateDir: opts.stateDir, child };
}
