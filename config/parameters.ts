/**
 * Per-network protocol parameters, kept out of the deploy scripts so that a reviewer can compare the
 * networks side by side. Durations are in seconds (every clock in PRSM is a timestamp clock).
 */
const DAY = 24 * 60 * 60;

export interface ProtocolParameters {
  timelock: {
    /** Delay between queueing and executing any governance action. */
    minDelay: number;
  };
  token: {
    /** Who may pause FTNS transfers: "deployer" on local chains, an environment variable elsewhere. */
    guardian: { kind: "deployer" } | { kind: "env"; variable: string };
  };
}

const LIVE: ProtocolParameters = {
  timelock: { minDelay: 2 * DAY },
  token: { guardian: { kind: "env", variable: "GUARDIAN_ADDRESS" } },
};

/** Local chains use short delays so that whole lifecycles fit into a test or a demo. */
const LOCAL: ProtocolParameters = {
  timelock: { minDelay: 60 },
  token: { guardian: { kind: "deployer" } },
};

const BY_NETWORK: Record<string, ProtocolParameters> = {
  hardhat: LOCAL,
  localhost: LOCAL,
  amoy: LIVE,
  polygon: LIVE,
};

export function parametersFor(network: string): ProtocolParameters {
  const parameters = BY_NETWORK[network];
  if (!parameters) throw new Error(`No protocol parameters for network "${network}" (config/parameters.ts)`);
  return parameters;
}

/** FTNS has 18 decimals; amounts in this file and in scripts are written in whole tokens. */
export const FTNS_DECIMALS = 18n;
export const ONE_FTNS = 10n ** FTNS_DECIMALS;
