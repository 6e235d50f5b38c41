/**
 * Per-network protocol parameters, kept out of the deploy scripts so that a reviewer can compare the
 * networks side by side. Durations are in seconds (every clock in PRSM is a timestamp clock).
 */
const DAY = 24 * 60 * 60;

/** Marketplace categories at launch, in id order; governance may add more (`addCategory`). */
export const CATEGORIES = ["language", "image", "code", "speech", "embedding", "other"];

export interface ProtocolParameters {
  timelock: {
    /** Delay between queueing and executing any governance action. */
    minDelay: number;
  };
  token: {
    /** Who may pause FTNS transfers: "deployer" on local chains, an environment variable elsewhere. */
    guardian: { kind: "deployer" } | { kind: "env"; variable: string };
  };
  governor: {
    votingDelay: number;
    votingPeriod: number;
    /** In FTNS (linear): what a proposer must have delegated to it. */
    proposalThreshold: bigint;
    /** In quadratic units with 9 decimals (see IGovernorCountingQuadratic): sqrt of raw FTNS units. */
    quorum: bigint;
    lateQuorumVoteExtension: number;
    /** Who can cancel queued proposals: a named local account, or an address from the environment. */
    safetyCouncil: { kind: "namedAccount"; name: string } | { kind: "env"; variable: string };
    /** Bootstrap participants: the first N local accounts, or the genesis plan's `participants` (live networks). */
    initialParticipants: { kind: "localAccounts"; count: number } | { kind: "genesis" };
  };
  marketplace: {
    /** Share of every charge paid to the treasury, in basis points (hard cap 1,000 in the contract). */
    protocolFeeBps: number;
    /** FTNS a listing must bond to be rentable. */
    minProviderBond: bigint;
    /** Smallest deposit an escrow may open with (spam and bond-locking guard). */
    minEscrowDeposit: bigint;
    /** Longest an escrow may run (expiry at most this far from opening). */
    maxEscrowDuration: number;
    /** How long a renter may dispute an attested charge before it can be paid out. */
    disputeWindow: number;
    /** FTNS a renter bonds to dispute a charge; forfeited to the provider when the charge stands. */
    disputeBond: bigint;
    /** How long the arbiter has to resolve a dispute; after that the charge stands by default. */
    disputeResolutionPeriod: number;
    /** Share of the listing's bond slashed (to the treasury) when the renter wins a dispute, in basis points. */
    disputeSlashBps: number;
    /** How long a delisted listing's bond stays locked. */
    unbondingDelay: number;
    /** After an escrow expires, how long the provider may still submit charges before anyone may close it. */
    settlementGrace: number;
    categories: string[];
    /** List the eight launch models at deployment: always on local networks; on live ones as the genesis plan says. */
    seedLaunchListings: { kind: "always" } | { kind: "genesis" };
  };
  committee: {
    /** FTNS a node must bond before it can be admitted. */
    minBond: bigint;
    /** A bond this large admits a node without a governance vote; 0 = admission by governance only. */
    autoAdmissionBond: bigint;
    unbondingDelay: number;
    /** How long attestations for a just-replaced epoch stay valid. */
    epochGrace: number;
    /** Share of a slashed bond paid to whoever proved the equivocation, in basis points. */
    slashRewardBps: number;
    /** Attestations from a smaller committee are refused (4 = the smallest committee that tolerates a fault). */
    minCommitteeSize: number;
  };
  /** Local networks only: FTNS the treasury sends to demo accounts through a real timelock operation. */
  localFunding?: { accounts: number; amount: bigint };
  /** Local networks only: accounts that bond and are admitted as the consensus nodes at deployment. */
  localCommittee?: { firstAccount: number; count: number };
}

/** One quadratic unit: sqrt(1 FTNS in raw units) = sqrt(1e18) = 1e9. */
export const QUADRATIC_UNIT = 10n ** 9n;

const LIVE: ProtocolParameters = {
  timelock: { minDelay: 2 * DAY },
  token: { guardian: { kind: "env", variable: "GUARDIAN_ADDRESS" } },
  governor: {
    votingDelay: 1 * DAY,
    votingPeriod: 7 * DAY,
    proposalThreshold: 1_000n * 10n ** 18n,
    // e.g. 50 participants with 10,000 FTNS each (100 units apiece)
    quorum: 5_000n * 10n ** 9n,
    lateQuorumVoteExtension: 2 * DAY,
    safetyCouncil: { kind: "env", variable: "SAFETY_COUNCIL_ADDRESS" },
    initialParticipants: { kind: "genesis" },
  },
  marketplace: {
    protocolFeeBps: 250,
    minProviderBond: 10_000n * 10n ** 18n,
    minEscrowDeposit: 1n * 10n ** 18n,
    maxEscrowDuration: 365 * DAY,
    disputeWindow: 14 * DAY,
    disputeBond: 10n * 10n ** 18n,
    disputeResolutionPeriod: 14 * DAY,
    disputeSlashBps: 500,
    unbondingDelay: 7 * DAY,
    settlementGrace: 1 * DAY,
    categories: CATEGORIES,
    seedLaunchListings: { kind: "genesis" },
  },
  committee: {
    minBond: 50_000n * 10n ** 18n,
    autoAdmissionBond: 0n,
    unbondingDelay: 14 * DAY,
    epochGrace: 60 * 60,
    slashRewardBps: 5_000,
    minCommitteeSize: 4,
  },
};

/** Local chains use short delays so that whole lifecycles fit into a test or a demo. */
const LOCAL: ProtocolParameters = {
  timelock: { minDelay: 60 },
  token: { guardian: { kind: "deployer" } },
  governor: {
    votingDelay: 10,
    votingPeriod: 300,
    proposalThreshold: 1_000n * 10n ** 18n,
    // one participant with 10,000 FTNS
    quorum: 100n * 10n ** 9n,
    lateQuorumVoteExtension: 60,
    safetyCouncil: { kind: "namedAccount", name: "safetyCouncil" },
    initialParticipants: { kind: "localAccounts", count: 10 },
  },
  marketplace: {
    protocolFeeBps: 250,
    minProviderBond: 100n * 10n ** 18n,
    minEscrowDeposit: 10n ** 15n,
    maxEscrowDuration: 90 * DAY,
    disputeWindow: 300,
    disputeBond: 1n * 10n ** 18n,
    disputeResolutionPeriod: 600,
    disputeSlashBps: 500,
    unbondingDelay: 600,
    settlementGrace: 60,
    categories: CATEGORIES,
    seedLaunchListings: { kind: "always" },
  },
  committee: {
    minBond: 100n * 10n ** 18n,
    autoAdmissionBond: 0n,
    unbondingDelay: 600,
    epochGrace: 300,
    slashRewardBps: 5_000,
    minCommitteeSize: 4,
  },
  localFunding: { accounts: 19, amount: 100_000n * 10n ** 18n },
  localCommittee: { firstAccount: 14, count: 4 },
};

const BY_NETWORK: Record<string, ProtocolParameters> = {
  hardhat: LOCAL,
  localhost: LOCAL,
  e2e: LOCAL,
  amoy: LIVE,
  rehearsal: LIVE,
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
