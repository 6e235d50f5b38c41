/**
 * The networks PRSM deploys to. Live networks read their RPC URL and deployer key from the environment;
 * `liveNetworkEnv` lists what each one needs so the deploy preflight can refuse to start (and so deploy
 * nothing) when any of it is missing.
 */
import type { NetworksUserConfig } from "hardhat/types";
import { optionalEnv, requireAddress, requirePrivateKey, requireUrl } from "./env";

export interface LiveNetwork {
  chainId: number;
  rpcUrlVariable: string;
}

export const LIVE_NETWORKS: Record<string, LiveNetwork> = {
  amoy: { chainId: 80002, rpcUrlVariable: "AMOY_RPC_URL" },
  polygon: { chainId: 137, rpcUrlVariable: "POLYGON_RPC_URL" },
  // The live profile, unchanged, against a local Hardhat node started with chain id 80002 (`npm run
  // deploy:rehearsal`): the same scripts, parameters and checks as Amoy, with its own genesis plan of local keys.
  rehearsal: { chainId: 80002, rpcUrlVariable: "REHEARSAL_RPC_URL" },
};

/** Variables a deployment to `network` cannot do without. */
export function liveNetworkEnv(network: string): string[] {
  const live = LIVE_NETWORKS[network];
  if (!live) return [];
  return [live.rpcUrlVariable, "DEPLOYER_PRIVATE_KEY", "GUARDIAN_ADDRESS", "SAFETY_COUNCIL_ADDRESS"];
}

export function isLiveNetwork(network: string): boolean {
  return network in LIVE_NETWORKS;
}

/**
 * Throws a ConfigError naming the first missing or malformed variable a deployment to `network` needs.
 * Called before hardhat-deploy touches the RPC, so a bad configuration sends no transaction at all.
 */
export function assertLiveNetworkEnv(network: string, env: NodeJS.ProcessEnv = process.env): void {
  const live = LIVE_NETWORKS[network];
  if (!live) return;
  requireUrl(live.rpcUrlVariable, env);
  requirePrivateKey("DEPLOYER_PRIVATE_KEY", env);
  requireAddress("GUARDIAN_ADDRESS", env);
  requireAddress("SAFETY_COUNCIL_ADDRESS", env);
}

// Hardhat needs a syntactically valid URL at config load even for networks that are not used; the
// preflight (deploy/00_preflight.ts) rejects this placeholder before any transaction is sent.
const UNSET_RPC = "http://unset.invalid";

function liveNetworks(): NetworksUserConfig {
  const key = optionalEnv("DEPLOYER_PRIVATE_KEY");
  const networks: NetworksUserConfig = {};
  for (const [name, live] of Object.entries(LIVE_NETWORKS)) {
    networks[name] = {
      url: optionalEnv(live.rpcUrlVariable) ?? UNSET_RPC,
      chainId: live.chainId,
      accounts: key ? [key] : [],
      // hardhat-deploy waits for confirmations on live networks; the rehearsal's automining node never mines a
      // block on its own, so it counts as not live there (the profile and every check stay the live ones).
      live: name !== "rehearsal",
      saveDeployments: true,
      tags: ["live"],
    };
  }
  return networks;
}

export function networks(): NetworksUserConfig {
  return {
    hardhat: {
      // `hardhat node` for the rehearsal runs as chain 80002 (HARDHAT_CHAIN_ID), like Amoy.
      chainId: Number(optionalEnv("HARDHAT_CHAIN_ID") ?? 31337),
      // Timestamp clocks (ERC-6372) and escrow expiries rely on block time; keep it realistic.
      allowBlocksWithSameTimestamp: false,
      tags: ["local"],
    },
    localhost: {
      url: optionalEnv("LOCAL_RPC_URL") ?? "http://127.0.0.1:8545",
      chainId: 31337,
      tags: ["local"],
    },
    // A second local chain for the end-to-end tests (its own port and deployments/e2e), so they never disturb a
    // developer's `npm start` chain and its deployments/localhost.
    e2e: {
      url: optionalEnv("E2E_RPC_URL") ?? "http://127.0.0.1:8645",
      chainId: 31337,
      tags: ["local"],
      // hardhat-deploy treats every network but hardhat/localhost as live and then waits for new blocks after each
      // transaction, which an automining node never produces on its own.
      live: false,
      saveDeployments: true,
    },
    ...liveNetworks(),
  };
}
