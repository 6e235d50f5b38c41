import path from "node:path";

/**
 * The folder that holds deployments/<network>/<Name>.json: `deployments/` in the repository, or PRSM_DEPLOYMENTS_DIR
 * (the test runner gives each parallel end-to-end lane its own, so two lanes' e2e chains never share files).
 * Hardhat-deploy, the workers, the indexer, the web server and the scripts all resolve it this way.
 */
export function deploymentsDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(__dirname, "..", env.PRSM_DEPLOYMENTS_DIR || "deployments");
}

/** Deployment names (as saved under deployments/<network>/) and the tags that select deploy scripts. */
export const Deployments = {
  Timelock: "ProtocolTimelock",
  Token: "FTNSToken",
  Governor: "FTNSGovernor",
  Marketplace: "ModelMarketplace",
  Committee: "FederationCommittee",
} as const;

export const Tags = {
  Preflight: "Preflight",
  Timelock: "Timelock",
  Token: "FTNSToken",
  Governor: "FTNSGovernor",
  Marketplace: "ModelMarketplace",
  Committee: "FederationCommittee",
  LocalFunding: "LocalFunding",
  LocalCommittee: "LocalCommittee",
  LaunchListings: "LaunchListings",
  DemoListing: "DemoListing",
  Genesis: "Genesis",
  Handover: "Handover",
} as const;
