/**
 * The indexer's tables. Ponder writes them in its deployment schema and publishes them as views in the stable views
 * schema (PONDER_VIEWS_SCHEMA, default `prsm`) that the API reads. Amounts are FTNS wei (NUMERIC(78) in Postgres),
 * times are block timestamps in seconds, ids of event rows are `<txHash>-<logIndex>`.
 */
import { index, onchainTable } from "ponder";

// ---------------------------------------------------------------- token
export const account = onchainTable("account", (t) => ({
  address: t.hex().primaryKey(),
  balance: t.bigint().notNull(),
  /** Voting power delegated to this account (ERC-5805 getVotes). */
  votes: t.bigint().notNull(),
  delegate: t.hex(),
  updatedAt: t.bigint().notNull(),
}));

export const transfer = onchainTable(
  "transfer",
  (t) => ({
    id: t.text().primaryKey(),
    from: t.hex().notNull(),
    to: t.hex().notNull(),
    value: t.bigint().notNull(),
    blockNumber: t.bigint().notNull(),
    timestamp: t.bigint().notNull(),
    txHash: t.hex().notNull(),
  }),
  (t) => ({ fromIdx: index().on(t.from), toIdx: index().on(t.to) }),
);

export const delegation = onchainTable(
  "delegation",
  (t) => ({
    id: t.text().primaryKey(),
    delegator: t.hex().notNull(),
    fromDelegate: t.hex().notNull(),
    toDelegate: t.hex().notNull(),
    timestamp: t.bigint().notNull(),
  }),
  (t) => ({ delegatorIdx: index().on(t.delegator) }),
);

// ---------------------------------------------------------------- marketplace
export const listing = onchainTable(
  "listing",
  (t) => ({
    id: t.bigint().primaryKey(),
    provider: t.hex().notNull(),
    category: t.integer().notNull(),
    contentHash: t.hex().notNull(),
    metadataUri: t.text().notNull(),
    unit: t.integer().notNull(),
    pricePerUnit: t.bigint().notNull(),
    royaltyRecipient: t.hex().notNull(),
    royaltyBps: t.integer().notNull(),
    bond: t.bigint().notNull(),
    /** ListingStatus in the contract: 1 active, 2 paused, 3 delisted. */
    status: t.integer().notNull(),
    unbondingAt: t.bigint().notNull(),
    escrowCount: t.integer().notNull(),
    /** Sum of every charge against the listing's escrows. */
    volume: t.bigint().notNull(),
    ratingCount: t.integer().notNull(),
    ratingTotal: t.integer().notNull(),
    createdAt: t.bigint().notNull(),
  }),
  (t) => ({ providerIdx: index().on(t.provider), categoryIdx: index().on(t.category) }),
);

export const listingPrice = onchainTable(
  "listing_price",
  (t) => ({
    id: t.text().primaryKey(),
    listingId: t.bigint().notNull(),
    oldPrice: t.bigint().notNull(),
    newPrice: t.bigint().notNull(),
    timestamp: t.bigint().notNull(),
  }),
  (t) => ({ listingIdx: index().on(t.listingId) }),
);

export const escrow = onchainTable(
  "escrow",
  (t) => ({
    id: t.bigint().primaryKey(),
    listingId: t.bigint().notNull(),
    renter: t.hex().notNull(),
    provider: t.hex().notNull(),
    deposit: t.bigint().notNull(),
    spendCap: t.bigint().notNull(),
    pricePerUnit: t.bigint().notNull(),
    expiresAt: t.bigint().notNull(),
    /**
     * What counts against the spend cap (settled, pending and disputed charges); deposit - charged is what remains.
     * A dispute refunded while the escrow is open gives its amount back here.
     */
    charged: t.bigint().notNull(),
    /**
     * Disputes resolved in the renter's favour: returned to the escrow while it is open (subtracted from `charged`),
     * or paid to the renter as a payout once it has closed.
     */
    refundedByDisputes: t.bigint().notNull(),
    /** The last attested report's number (receipt charges carry none): 0 until a committee-attested charge. */
    sequence: t.bigint().notNull(),
    /** Cumulative usage accounted (the last charge's cumulative units); refunded units stay accounted. */
    units: t.bigint().notNull(),
    /** "open" or "closed". */
    status: t.text().notNull(),
    refund: t.bigint(),
    closedBy: t.hex(),
    openedAt: t.bigint().notNull(),
    closedAt: t.bigint(),
  }),
  (t) => ({ renterIdx: index().on(t.renter), listingIdx: index().on(t.listingId), providerIdx: index().on(t.provider) }),
);

export const charge = onchainTable(
  "charge",
  (t) => ({
    id: t.text().primaryKey(),
    /** The contract's charge id for attested (disputable) charges; 0 for receipt charges. */
    chargeId: t.bigint().notNull(),
    escrowId: t.bigint().notNull(),
    listingId: t.bigint().notNull(),
    sequence: t.bigint().notNull(),
    cumulativeUnits: t.bigint().notNull(),
    units: t.bigint().notNull(),
    amount: t.bigint().notNull(),
    attested: t.boolean().notNull(),
    resultDigest: t.hex().notNull(),
    disputableUntil: t.bigint().notNull(),
    /** "settled", "pending" (attested, in its dispute window), "disputed", "refunded" (dispute lost by provider). */
    status: t.text().notNull(),
    timestamp: t.bigint().notNull(),
    txHash: t.hex().notNull(),
    /** Set for an entry of a batched settlement: the batch and the entry's position among its applied words. */
    batchId: t.bigint(),
    batchIndex: t.integer(),
  }),
  (t) => ({
    escrowIdx: index().on(t.escrowId),
    listingIdx: index().on(t.listingId),
    chargeIdIdx: index().on(t.chargeId),
    batchIdx: index().on(t.batchId, t.listingId),
  }),
);

export const payout = onchainTable(
  "payout",
  (t) => ({
    id: t.text().primaryKey(),
    escrowId: t.bigint().notNull(),
    chargeId: t.bigint().notNull(),
    provider: t.hex().notNull(),
    providerAmount: t.bigint().notNull(),
    treasury: t.hex().notNull(),
    fee: t.bigint().notNull(),
    royaltyRecipient: t.hex().notNull(),
    royalty: t.bigint().notNull(),
    timestamp: t.bigint().notNull(),
  }),
  (t) => ({ escrowIdx: index().on(t.escrowId), providerIdx: index().on(t.provider) }),
);

export const withdrawal = onchainTable(
  "withdrawal",
  (t) => ({
    id: t.text().primaryKey(),
    account: t.hex().notNull(),
    amount: t.bigint().notNull(),
    timestamp: t.bigint().notNull(),
  }),
  (t) => ({ accountIdx: index().on(t.account) }),
);

export const dispute = onchainTable(
  "dispute",
  (t) => ({
    chargeId: t.bigint().primaryKey(),
    escrowId: t.bigint().notNull(),
    renter: t.hex().notNull(),
    /** FTNS the renter bonded to dispute (the escrow's terms'); to the provider if the charge stands. */
    bond: t.bigint(),
    /** The arbiter's deadline; after it, anyone may let the charge stand (resolveExpiredDispute). */
    resolveBy: t.bigint(),
    openedAt: t.bigint().notNull(),
    resolved: t.boolean().notNull(),
    paidToProvider: t.boolean(),
    /** Set on resolution: true when nobody resolved it before its deadline and the charge stood by default. */
    byDefault: t.boolean(),
    amount: t.bigint(),
    resolver: t.hex(),
    resolvedAt: t.bigint(),
  }),
  (t) => ({ escrowIdx: index().on(t.escrowId) }),
);

export const rating = onchainTable(
  "rating",
  (t) => ({
    escrowId: t.bigint().primaryKey(),
    listingId: t.bigint().notNull(),
    renter: t.hex().notNull(),
    score: t.integer().notNull(),
    timestamp: t.bigint().notNull(),
  }),
  (t) => ({ listingIdx: index().on(t.listingId) }),
);

// ---------------------------------------------------------------- federation committee
export const committeeMember = onchainTable("committee_member", (t) => ({
  address: t.hex().primaryKey(),
  bond: t.bigint().notNull(),
  /** "bonded" (not yet admitted), "active", "removed", "slashed". */
  status: t.text().notNull(),
  admittedAt: t.bigint(),
  removedAt: t.bigint(),
  unbondingAt: t.bigint(),
}));

export const committeeEpoch = onchainTable("committee_epoch", (t) => ({
  epoch: t.bigint().primaryKey(),
  members: t.json().$type<string[]>().notNull(),
  quorum: t.integer().notNull(),
  startedAt: t.bigint().notNull(),
}));

/** Charges settled by a committee attestation (UsageCharged with attested = true). */
export const attestation = onchainTable(
  "attestation",
  (t) => ({
    id: t.text().primaryKey(),
    escrowId: t.bigint().notNull(),
    chargeId: t.bigint().notNull(),
    sequence: t.bigint().notNull(),
    amount: t.bigint().notNull(),
    resultDigest: t.hex().notNull(),
    submitter: t.hex().notNull(),
    timestamp: t.bigint().notNull(),
  }),
  (t) => ({ escrowIdx: index().on(t.escrowId) }),
);

export const slash = onchainTable("slash", (t) => ({
  id: t.text().primaryKey(),
  member: t.hex().notNull(),
  reporter: t.hex().notNull(),
  escrowId: t.bigint().notNull(),
  sequence: t.bigint().notNull(),
  reward: t.bigint().notNull(),
  toTreasury: t.bigint().notNull(),
  timestamp: t.bigint().notNull(),
}));

// ---------------------------------------------------------------- governance
export const proposal = onchainTable(
  "proposal",
  (t) => ({
    id: t.bigint().primaryKey(),
    proposer: t.hex().notNull(),
    targets: t.json().$type<string[]>().notNull(),
    values: t.json().$type<string[]>().notNull(),
    calldatas: t.json().$type<string[]>().notNull(),
    description: t.text().notNull(),
    voteStart: t.bigint().notNull(),
    voteEnd: t.bigint().notNull(),
    /** Lifecycle from events: "created", "queued", "executed", "canceled". The API derives the full state. */
    lifecycle: t.text().notNull(),
    eta: t.bigint(),
    /** The timelock operation id once queued: a cancellation in the timelock itself cancels the proposal too. */
    timelockOperation: t.hex(),
    /** Quadratic weights (sqrt of votes, 9-decimal units), as the governor counts them. */
    forWeight: t.bigint().notNull(),
    againstWeight: t.bigint().notNull(),
    abstainWeight: t.bigint().notNull(),
    /** The quorum at the proposal's snapshot (quadratic units): the one in force when voting starts. */
    quorum: t.bigint().notNull(),
    voteCount: t.integer().notNull(),
    createdAt: t.bigint().notNull(),
  }),
  (t) => ({ proposerIdx: index().on(t.proposer), voteStartIdx: index().on(t.voteStart) }),
);

export const vote = onchainTable(
  "vote",
  (t) => ({
    id: t.text().primaryKey(),
    proposalId: t.bigint().notNull(),
    voter: t.hex().notNull(),
    support: t.integer().notNull(),
    weight: t.bigint().notNull(),
    reason: t.text().notNull(),
    timestamp: t.bigint().notNull(),
  }),
  (t) => ({ proposalIdx: index().on(t.proposalId), voterIdx: index().on(t.voter) }),
);

export const proposalTransition = onchainTable(
  "proposal_transition",
  (t) => ({
    id: t.text().primaryKey(),
    proposalId: t.bigint().notNull(),
    lifecycle: t.text().notNull(),
    timestamp: t.bigint().notNull(),
  }),
  (t) => ({ proposalIdx: index().on(t.proposalId) }),
);

export const participant = onchainTable("participant", (t) => ({
  address: t.hex().primaryKey(),
  registered: t.boolean().notNull(),
  registrar: t.hex().notNull(),
  /** Votes count from this time on (an attestor's registration takes effect 14 days after it is made). */
  since: t.bigint().notNull(),
  until: t.bigint(),
}));

// ---------------------------------------------------------------- statistics and everything else
export const dailyStat = onchainTable("daily_stat", (t) => ({
  /** Days since the Unix epoch (UTC). */
  day: t.integer().primaryKey(),
  volume: t.bigint().notNull(),
  fees: t.bigint().notNull(),
  chargeCount: t.integer().notNull(),
  escrowsOpened: t.integer().notNull(),
  escrowsClosed: t.integer().notNull(),
  /** Open escrows at the end of the day (running count). */
  activeEscrows: t.integer().notNull(),
  newListings: t.integer().notNull(),
}));

/** Every event of every indexed contract, with its decoded arguments: configuration, roles, upgrades, timelock calls. */
export const protocolEvent = onchainTable(
  "protocol_event",
  (t) => ({
    id: t.text().primaryKey(),
    contract: t.text().notNull(),
    name: t.text().notNull(),
    args: t.json().notNull(),
    blockNumber: t.bigint().notNull(),
    timestamp: t.bigint().notNull(),
    txHash: t.hex().notNull(),
  }),
  (t) => ({ contractNameIdx: index().on(t.contract, t.name) }),
);

/** Running values the handlers carry between events (e.g. the open-escrow count for daily statistics). */
export const protocolState = onchainTable("protocol_state", (t) => ({
  id: t.text().primaryKey(),
  value: t.bigint().notNull(),
}));
