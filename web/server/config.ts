/**
 * The web server's configuration: environment variables validated once at start (an invalid or missing one stops
 * the process with its name, like every other PRSM process), and the `/config.json` the browser app reads, built
 * from the deployment files of NETWORK (deployments/<NETWORK>/<Name>.json) and the chain's id.
 *
 *   WEB_PORT              8080
 *   WEB_HOST              127.0.0.1
 *   NETWORK               localhost (also e2e, rehearsal, amoy, polygon): which deployments/ folder and chain
 *   WEB_API_URL           the GraphQL API's URL, e.g. http://127.0.0.1:4000/graphql (required); served at /graphql
 *   WEB_ORCHESTRATOR_URL  the orchestrator's base URL, e.g. http://127.0.0.1:8800 (required); served at /v1/*
 *   WEB_RPC_URL           the server's own JSON-RPC, asked eth_chainId at start (required for an unknown network)
 *   WEB_PUBLIC_RPC_URL    the RPC the browser is told to use (default: the network's public RPC on Amoy/Polygon,
 *                         WEB_RPC_URL or http://127.0.0.1:8545 on a local chain)
 *   WEB_DIST              the built app (default web/dist; `npm run build:web`)
 *   WEB_DEPLOYMENTS_DIR   where the deployment files are (default deployments/)
 *   WEB_MAX_BODY_BYTES    largest proxied request body (default 1 MiB; 413 beyond)
 *   WEB_UPSTREAM_TIMEOUT_MS  wait for an upstream's response headers (default 30000; 504 beyond)
 *   WEB_STREAM_IDLE_TIMEOUT_MS  longest pause inside a proxied response, streams included (default 600000)
 */
import fs from "node:fs";
import path from "node:path";
import { deploymentsDir } from "../../config/deployments";
import { ConfigError, optionalEnv } from "../../config/env";
import { FTNS_USD_MICROS } from "../../config/launch-models";

export const ROOT = path.resolve(__dirname, "..", "..");

export interface WebConfig {
  port: number;
  host: string;
  network: string;
  apiUrl: URL;
  orchestratorUrl: URL;
  rpcUrl?: string;
  publicRpcUrl?: string;
  dist: string;
  deploymentsDir: string;
  maxBodyBytes: number;
  upstreamTimeoutMs: number;
  streamIdleTimeoutMs: number;
}

/** What the browser app reads from GET /config.json (the app agents code against exactly this shape). */
export interface AppConfig {
  network: string;
  chainId: number;
  chainName: string;
  rpcUrl: string;
  blockExplorerUrl: string | null;
  nativeCurrency: { name: string; symbol: string; decimals: number };
  contracts: { token: string; marketplace: string; governor: string; timelock: string; committee: string };
  apiUrl: string;
  orchestratorUrl: string;
  usdPerFtns: number | null;
}

const POL = { name: "POL", symbol: "POL", decimals: 18 };

/** The chains the app can be pointed at, with the public values it passes to wallet_addEthereumChain. */
export const KNOWN_NETWORKS: Record<string, { chainId: number; chainName: string; rpcUrl?: string; blockExplorerUrl: string | null }> = {
  localhost: { chainId: 31337, chainName: "Hardhat (local)", blockExplorerUrl: null },
  e2e: { chainId: 31337, chainName: "Hardhat (local)", blockExplorerUrl: null },
  rehearsal: { chainId: 80002, chainName: "PRSM rehearsal (local, chain 80002)", blockExplorerUrl: null },
  amoy: { chainId: 80002, chainName: "Polygon Amoy Testnet", rpcUrl: "https://rpc-amoy.polygon.technology", blockExplorerUrl: "https://amoy.polygonscan.com" },
  polygon: { chainId: 137, chainName: "Polygon Mainnet", rpcUrl: "https://polygon-rpc.com", blockExplorerUrl: "https://polygonscan.com" },
};

/** The deployment file of each contract the app talks to. */
export const CONTRACT_FILES = {
  token: "FTNSToken",
  marketplace: "ModelMarketplace",
  governor: "FTNSGovernor",
  timelock: "ProtocolTimelock",
  committee: "FederationCommittee",
} as const;

/**
 * The documented USD reference rate of FTNS (config/launch-models.ts: the launch listings' prices are converted at
 * 1 FTNS = 0.10 USD). A convention for showing estimates, not an oracle.
 */
export const USD_PER_FTNS = Number(FTNS_USD_MICROS) / 1e6;

function url(name: string, value: string | undefined, required: boolean): URL | undefined {
  if (value === undefined) {
    if (required) throw new ConfigError(name, "is required but not set (e.g. http://127.0.0.1:4000/graphql for WEB_API_URL)");
    return undefined;
  }
  try {
    const parsed = new URL(value);
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new Error("protocol");
    return parsed;
  } catch {
    throw new ConfigError(name, `must be an http(s) URL, got "${value}"`);
  }
}

function integer(name: string, fallback: number, env: NodeJS.ProcessEnv, min: number, max: number): number {
  const raw = optionalEnv(name, env);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) throw new ConfigError(name, `must be an integer from ${min} to ${max}, got "${raw}"`);
  return Number(raw);
}

/** Reads and checks every variable; throws a ConfigError naming the first bad one. */
export function loadWebConfig(env: NodeJS.ProcessEnv = process.env): WebConfig {
  const network = optionalEnv("NETWORK", env) ?? "localhost";
  if (!/^[a-z0-9_-]+$/i.test(network)) throw new ConfigError("NETWORK", `must be a network name like localhost, amoy or polygon, got "${network}"`);
  const host = optionalEnv("WEB_HOST", env) ?? "127.0.0.1";
  const rpc = url("WEB_RPC_URL", optionalEnv("WEB_RPC_URL", env), false);
  const publicRpc = url("WEB_PUBLIC_RPC_URL", optionalEnv("WEB_PUBLIC_RPC_URL", env), false);
  if (!KNOWN_NETWORKS[network] && !rpc) throw new ConfigError("WEB_RPC_URL", `is required for network "${network}" (its chain id is not known otherwise)`);
  const dist = path.resolve(ROOT, optionalEnv("WEB_DIST", env) ?? path.join("web", "dist"));
  if (!fs.existsSync(path.join(dist, "index.html"))) {
    throw new ConfigError("WEB_DIST", `no built app in ${dist} (index.html missing): run npm run build:web`);
  }
  return {
    port: integer("WEB_PORT", 8080, env, 0, 65535),
    host,
    network,
    apiUrl: url("WEB_API_URL", optionalEnv("WEB_API_URL", env), true)!,
    orchestratorUrl: url("WEB_ORCHESTRATOR_URL", optionalEnv("WEB_ORCHESTRATOR_URL", env), true)!,
    rpcUrl: rpc?.toString(),
    publicRpcUrl: publicRpc?.toString(),
    dist,
    deploymentsDir: ((dir) => (dir ? path.resolve(ROOT, dir) : deploymentsDir(env)))(optionalEnv("WEB_DEPLOYMENTS_DIR", env)),
    maxBodyBytes: integer("WEB_MAX_BODY_BYTES", 1024 * 1024, env, 1, 64 * 1024 * 1024),
    upstreamTimeoutMs: integer("WEB_UPSTREAM_TIMEOUT_MS", 30_000, env, 1, 3_600_000),
    streamIdleTimeoutMs: integer("WEB_STREAM_IDLE_TIMEOUT_MS", 600_000, env, 1, 86_400_000),
  };
}

/** eth_chainId of `rpcUrl`, within 5 s. */
export async function fetchChainId(rpcUrl: string, timeoutMs = 5_000): Promise<number> {
  const res = await fetch(rpcUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const json = (await res.json()) as { result?: string; error?: { message: string } };
  if (!json.result) throw new Error(json.error?.message ?? `HTTP ${res.status}`);
  return Number(BigInt(json.result));
}

/** Builds /config.json: chain from the RPC (or the known network), addresses from the deployment files. */
export async function buildAppConfig(config: WebConfig): Promise<AppConfig> {
  const known = KNOWN_NETWORKS[config.network];
  let chainId = known?.chainId;
  if (config.rpcUrl) {
    let answered: number;
    try {
      answered = await fetchChainId(config.rpcUrl);
    } catch (error) {
      throw new ConfigError("WEB_RPC_URL", `eth_chainId on ${config.rpcUrl} failed: ${(error as Error).message}`);
    }
    if (known && answered !== known.chainId) {
      throw new ConfigError("WEB_RPC_URL", `${config.rpcUrl} is chain ${answered}, but network "${config.network}" is chain ${known.chainId}`);
    }
    chainId = answered;
  }
  const contracts = {} as AppConfig["contracts"];
  for (const [key, name] of Object.entries(CONTRACT_FILES) as [keyof AppConfig["contracts"], string][]) {
    const file = path.join(config.deploymentsDir, config.network, `${name}.json`);
    if (!fs.existsSync(file)) throw new ConfigError("NETWORK", `no deployment of ${name} for network "${config.network}" (${file}); deploy first`);
    const address = (JSON.parse(fs.readFileSync(file, "utf8")) as { address?: string }).address;
    if (!address || !/^0x[0-9a-fA-F]{40}$/.test(address)) throw new ConfigError("NETWORK", `${file} has no valid address field`);
    contracts[key] = address;
  }
  const rpcUrl = config.publicRpcUrl ?? known?.rpcUrl ?? config.rpcUrl ?? "http://127.0.0.1:8545";
  return {
    network: config.network,
    chainId: chainId!,
    chainName: known?.chainName ?? `${config.network} (chain ${chainId})`,
    rpcUrl: rpcUrl.replace(/\/$/, ""),
    blockExplorerUrl: known?.blockExplorerUrl ?? null,
    nativeCurrency: POL,
    contracts,
    apiUrl: "/graphql",
    orchestratorUrl: "/v1",
    usdPerFtns: USD_PER_FTNS,
  };
}
