/** Deployment names (as saved under deployments/<network>/) and the tags that select deploy scripts. */
export const Deployments = {
  Timelock: "ProtocolTimelock",
  Token: "FTNSToken",
  Governor: "FTNSGovernor",
} as const;

export const Tags = {
  Preflight: "Preflight",
  Timelock: "Timelock",
  Token: "FTNSToken",
  Governor: "FTNSGovernor",
  Handover: "Handover",
} as const;
