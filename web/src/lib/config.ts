/**
 * The deployment the app talks to, from the server's GET /config.json (web/server.ts writes it from the running
 * stack or the network's deployment), so one build serves localhost, Amoy and Polygon.
 */
import type { Address } from "viem";

export interface AppConfig {
  network: string;
  chainId: number;
  chainName: string;
  rpcUrl: string;
  blockExplorerUrl: string | null;
  nativeCurrency: { name: string; symbol: string; decimals: number };
  contracts: { token: Address; marketplace: Address; governor: Address; timelock: Address; committee: Address };
  /** Same-origin GraphQL endpoint ("/graphql"). */
  apiUrl: string;
  /** Same-origin orchestrator base ("/v1"). */
  orchestratorUrl: string;
  /** An FTNS price in USD for estimates; null when none is configured. */
  usdPerFtns: number | null;
}

let loaded: Promise<AppConfig> | undefined;

/** Fetches /config.json once (later calls share the answer; a failure is retried on the next call). */
export function loadConfig(): Promise<AppConfig> {
  loaded ??= (async () => {
    const res = await fetch("/config.json", { headers: { accept: "application/json" } });
    if (!res.ok) throw new Error(`/config.json answered ${res.status}`);
    const json = (await res.json()) as AppConfig;
    if (typeof json.chainId !== "number" || !json.contracts?.marketplace) throw new Error("/config.json is missing chainId or contracts");
    return json;
  })().catch((error) => {
    loaded = undefined;
    throw error;
  });
  return loaded;
}

/** The config once loaded (the app renders nothing that needs it before loadConfig resolved in main.tsx). */
let current: AppConfig | undefined;
export function setCurrentConfig(config: AppConfig): void {
  current = config;
}
export function currentConfig(): AppConfig {
  if (!current) throw new Error("the configuration is not loaded yet");
  return current;
}
