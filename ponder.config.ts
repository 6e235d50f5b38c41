/**
 * Ponder configuration (Ponder 0.16). The indexing code and schema live in indexer/ (run Ponder with
 * `--root indexer --config ../ponder.config.ts`, as the npm scripts do). Addresses and start blocks come from the
 * hardhat-deploy files of the chosen network, ABIs from the compiled artifacts (indexer/abis.ts, generated).
 *
 * Environment (checked here; a missing or wrong value stops Ponder with the variable's name):
 *   NETWORK        localhost (default) | e2e | amoy | polygon: deployments/<NETWORK>/ and the expected chain id
 *   PONDER_RPC_URL JSON-RPC endpoint (default: LOCAL_RPC_URL/E2E_RPC_URL or the local node for local networks)
 *   DATABASE_URL   Postgres 14-17 (the project's scripts start the embedded one and set it when unset)
 */
import fs from "node:fs";
import path from "node:path";
import { createConfig } from "ponder";
import { FTNSGovernorAbi, FTNSTokenAbi, FederationCommitteeAbi, ModelMarketplaceAbi, ProtocolTimelockAbi } from "./indexer/abis";

class IndexerConfigError extends Error {
  constructor(variable: string, problem: string) {
    super(`indexer configuration: ${variable} ${problem}`);
  }
}

const NETWORKS: Record<string, { chainId: number; defaultRpc?: string }> = {
  localhost: { chainId: 31337, defaultRpc: process.env.LOCAL_RPC_URL ?? "http://127.0.0.1:8545" },
  e2e: { chainId: 31337, defaultRpc: process.env.E2E_RPC_URL ?? "http://127.0.0.1:8645" },
  amoy: { chainId: 80002 },
  polygon: { chainId: 137 },
};

const network = process.env.NETWORK ?? "localhost";
const chain = NETWORKS[network];
if (!chain) throw new IndexerConfigError("NETWORK", `must be one of ${Object.keys(NETWORKS).join(", ")}, got "${network}"`);
const rpc = process.env.PONDER_RPC_URL ?? chain.defaultRpc;
if (!rpc) throw new IndexerConfigError("PONDER_RPC_URL", `is required for network ${network}`);
const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) throw new IndexerConfigError("DATABASE_URL", "is required (npm run indexer starts the embedded Postgres and sets it)");
const local = chain.chainId === 31337;

function deployed(name: string): { address: `0x${string}`; startBlock: number } {
  // Run from the repository root (the npm scripts are) or from indexer/.
  // PRSM_DEPLOYMENTS_DIR (absolute, or relative to the repository) replaces deployments/ (config/deployments.ts).
  const dirs = [process.cwd(), path.join(process.cwd(), "..")].map((dir) => path.resolve(dir, process.env.PRSM_DEPLOYMENTS_DIR || "deployments"));
  const candidates = dirs.map((dir) => path.join(dir, network, `${name}.json`));
  const source = candidates.find((file) => fs.existsSync(file)) ?? candidates[0];
  if (!fs.existsSync(source)) {
    throw new IndexerConfigError("NETWORK", `has no deployment of ${name} (deployments/${network}/${name}.json): deploy first`);
  }
  const json = JSON.parse(fs.readFileSync(source, "utf8"));
  return { address: json.address, startBlock: json.receipt?.blockNumber ?? 0 };
}

export default createConfig({
  database: { kind: "postgres", connectionString: databaseUrl, poolConfig: { max: 20 } },
  ordering: "multichain",
  chains: {
    protocol: {
      id: chain.chainId,
      rpc,
      // A local chain restarts from genesis with the same block hashes' numbers: never trust a cached RPC answer.
      disableCache: local,
      pollingInterval: local ? 200 : 1_000,
    },
  },
  contracts: {
    FTNSToken: { chain: "protocol", abi: FTNSTokenAbi, ...deployed("FTNSToken") },
    ProtocolTimelock: { chain: "protocol", abi: ProtocolTimelockAbi, ...deployed("ProtocolTimelock") },
    FTNSGovernor: { chain: "protocol", abi: FTNSGovernorAbi, ...deployed("FTNSGovernor") },
    ModelMarketplace: { chain: "protocol", abi: ModelMarketplaceAbi, ...deployed("ModelMarketplace") },
    FederationCommittee: { chain: "protocol", abi: FederationCommitteeAbi, ...deployed("FederationCommittee") },
  },
});
