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
