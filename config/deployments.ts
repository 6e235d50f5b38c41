/** Deployment names (as saved under deployments/<network>/) and the tags that select deploy scripts. */
export const Deployments = {
  Timelock: "ProtocolTimelock",
  Token: "FTNSToken",
  Governor: "FTNSGovernor",
  Marketplace: "ModelMarketplace",
} as const;

export const Tags = {
  Preflight: "Preflight",
  Timelock: "Timelock",
  Token: "FTNSToken",
  Governor: "FTNSGovernor",
  Marketplace: "ModelMarketplace",
  LocalFunding: "LocalFunding",
  LaunchListings: "LaunchListings",
  Handover: "Handover",
} as const;
