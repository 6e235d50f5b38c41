/**
 * Real-process support for the sender and log-scan unit tests: a bare Hardhat node (a throwaway config, so nothing
 * is compiled or deployed and the repository's contracts do not matter) stopped by PID, a small test contract
 * compiled with the solc package and installed with hardhat_setCode, and a JSON-RPC proxy in front of the node that
 * can fail requests on demand (an RPC outage without stopping the chain).
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { createPublicClient, createWalletClient, http as httpTransport, parseAbi, type Address, type Hex, type PublicClient } from "viem";
import { hardhat } from "viem/chains";
import type { LocalAccount } from "viem/accounts";
import type { ChainContext } from "../../workers/shared/chain";

const ROOT = path.resolve(__dirname, "..", "..");

export interface BareChain {
  rpcUrl: string;
  client: PublicClient;
  /** A JSON-RPC call straight to the node (hardhat_* / evm_* methods). */
  rpc(method: string, params?: unknown[]): Promise<unknown>;
  stop(): Promise<void>;
}

export async function startBareChain(port: number): Promise<BareChain> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "prsm-unit-chain-"));
  const config = path.join(dir, "hardhat.config.cjs");
  fs.writeFileSync(config, "module.exports = { networks: { hardhat: { chainId: 31337 } } };\n");
  const log = fs.openSync(path.join(dir, "chain.log"), "a");
  const child: ChildProcess = spawn(
    path.join(ROOT, "node_modules", ".bin", "hardhat"),
    ["--config", config, "node", "--hostname", "127.0.0.1", "--port", String(port)],
    { cwd: ROOT, stdio: ["ignore", log, log] },
  );
  const rpcUrl = `http://127.0.0.1:${port}`;
  const rpc = async (method: string, params: unknown[] = []) => {
    const res = await fetch(rpcUrl, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) });
    const body = (await res.json()) as { result?: unknown; error?: { message: string } };
    if (body.error) throw new Error(`${method}: ${body.error.message}`);
    return body.result;
  };
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`hardhat node exited (${child.exitCode}); see ${dir}/chain.log`);
    try {
      if ((await rpc("eth_chainId")) === "0x7a69") break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error("hardhat node did not start");
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  // A leftover process on the port would answer too: only a fresh chain (block 0) is ours.
  if ((await rpc("eth_blockNumber")) !== "0x0") {
    await stop();
    throw new Error(`port ${port} is held by another chain`);
  }
  const client = createPublicClient({ chain: hardhat, transport: httpTransport(rpcUrl), pollingInterval: 50 }) as PublicClient;
  return { rpcUrl, client, rpc, stop };
}

/** A call that reverts on demand and the marketplace's settlement events (same signatures), for installing anywhere. */
export const PROBE_SOURCE = `// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;
contract Probe {
    uint256 public count;
    event UsageCharged(uint256 indexed escrowId, uint256 indexed chargeId, uint64 sequence, uint256 cumulativeUnits, uint256 units, uint256 amount, bool attested, bytes32 resultDigest, uint48 disputableUntil);
    event EscrowClosed(uint256 indexed escrowId, address indexed closedBy, uint256 refund, bool byAgreement);
    event UsageBatchCharged(uint256 indexed batchId, uint256 disputableUntil, bytes32[] applied);
    function bump(bool fail) external { require(!fail, "refused"); count += 1; }
    function charged(uint256 escrowId, uint256 cumulativeUnits) external { emit UsageCharged(escrowId, 0, 1, cumulativeUnits, 0, 0, true, bytes32(0), 0); }
    function closed(uint256 escrowId) external { emit EscrowClosed(escrowId, msg.sender, 0, false); }
    function batch(uint256 batchId, bytes32[] calldata applied) external { emit UsageBatchCharged(batchId, 0, applied); }
}
`;

/** The Probe's ABI as a deployment would carry it *before* the batch module: UsageBatchCharged is not in it. */
export const PROBE_ABI = parseAbi([
  "function count() view returns (uint256)",
  "function bump(bool fail)",
  "function charged(uint256 escrowId, uint256 cumulativeUnits)",
  "function closed(uint256 escrowId)",
  "function batch(uint256 batchId, bytes32[] applied)",
  "event UsageCharged(uint256 indexed escrowId, uint256 indexed chargeId, uint64 sequence, uint256 cumulativeUnits, uint256 units, uint256 amount, bool attested, bytes32 resultDigest, uint48 disputableUntil)",
  "event EscrowClosed(uint256 indexed escrowId, address indexed closedBy, uint256 refund, bool byAgreement)",
]);

/** Compiles the Probe (solc-js, about 2 s) and installs its runtime code at `address`. */
export async function installProbe(chain: BareChain, address: Address): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const solc = require("solc") as { compile(input: string): string };
  const input = {
    language: "Solidity",
    sources: { "Probe.sol": { content: PROBE_SOURCE } },
    settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: "cancun", outputSelection: { "*": { Probe: ["evm.deployedBytecode.object"] } } },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input))) as {
    errors?: { severity: string; formattedMessage: string }[];
    contracts: Record<string, Record<string, { evm: { deployedBytecode: { object: string } } }>>;
  };
  const errors = (output.errors ?? []).filter((e) => e.severity === "error");
  if (errors.length) throw new Error(errors.map((e) => e.formattedMessage).join("\n"));
  await chain.rpc("hardhat_setCode", [address, `0x${output.contracts["Probe.sol"]!.Probe!.evm.deployedBytecode.object}`]);
}

/** What the proxy does with one request: forward it, drop the connection, answer a JSON-RPC error, or forward and drop the answer. */
export type ProxyAction = "pass" | "drop" | "lose-response" | { error: string };

export interface ProxiedRequest {
  method: string;
  params: unknown[];
  action: ProxyAction;
  result?: unknown;
}

/** An HTTP JSON-RPC proxy on a free port; `rule` decides per request (default: pass everything). */
export class RpcProxy {
  readonly requests: ProxiedRequest[] = [];
  rule: (method: string, params: unknown[]) => ProxyAction = () => "pass";
  private server?: http.Server;
  url = "";

  constructor(private readonly target: string) {}

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => void this.handle(req, res, Buffer.concat(chunks).toString("utf8")));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  count(method: string): number {
    return this.requests.filter((r) => r.method === method && r.action === "pass").length;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse, body: string): Promise<void> {
    let call: { id: unknown; method: string; params?: unknown[] };
    try {
      call = JSON.parse(body);
    } catch {
      res.writeHead(400).end();
      return;
    }
    const params = call.params ?? [];
    const action = this.rule(call.method, params);
    const entry: ProxiedRequest = { method: call.method, params, action };
    this.requests.push(entry);
    if (action === "drop") {
      req.socket.destroy();
      return;
    }
    if (typeof action === "object") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ jsonrpc: "2.0", id: call.id, error: { code: -32005, message: action.error } }));
      return;
    }
    try {
      const upstream = await fetch(this.target, { method: "POST", headers: { "content-type": "application/json" }, body });
      const text = await upstream.text();
      try {
        entry.result = (JSON.parse(text) as { result?: unknown }).result;
      } catch {
        // not JSON: pass it on as it is
      }
      if (action === "lose-response") {
        req.socket.destroy();
        return;
      }
      res.writeHead(upstream.status, { "content-type": "application/json" }).end(text);
    } catch {
      req.socket.destroy();
    }
  }
}

/**
 * A ChainContext over `rpcUrl` with `account`, the marketplace at `marketplace` with `abi` (the rest is unused by
 * the sender and the log scan). No transport retries: the tests count requests.
 */
export function contextFor(rpcUrl: string, account: LocalAccount, marketplace: Address, abi: readonly unknown[] = PROBE_ABI): ChainContext {
  const transport = httpTransport(rpcUrl, { retryCount: 0, timeout: 5_000 });
  const publicClient = createPublicClient({ chain: hardhat, transport, pollingInterval: 50 }) as PublicClient;
  const walletClient = createWalletClient({ chain: hardhat, transport, account });
  const contract = { address: marketplace, abi: abi as never };
  const domain = { name: "unused", version: "1", chainId: 31337, verifyingContract: marketplace };
  return { publicClient, chain: hardhat, marketplace: contract, committee: contract, domain, marketplaceDomain: domain, walletClient, account };
}

export async function waitUntil(what: string, probe: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const toQuantity = (n: bigint | number): Hex => `0x${n.toString(16)}`;
