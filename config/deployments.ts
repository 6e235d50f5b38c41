/** Deployment names (as saved under deployments/<network>/) and the tags that select deploy scripts. */
export const Deployments = {
  Timelock: "ProtocolTimelock",
  Token: "FTNSToken",
} as const;

export const Tags = {
  Preflight: "Preflight",
  Timelock: "Timelock",
  Token: "FTNSToken",
  Handover: "Handover",
} as const;
