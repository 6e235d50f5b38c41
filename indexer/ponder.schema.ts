/**
 * The indexer's tables. Ponder writes them in its deployment schema and publishes them as views in the stable views
 * schema (PONDER_VIEWS_SCHEMA, default `prsm`) that the API reads. Amounts are FTNS wei (NUMERIC(78) in Postgres),
 * times are block timestamps in seconds, ids of event rows are `<txHash>-<logIndex>`.
 */
import { index, onchainTable } from "ponder";

/*
 * Indexes: every list the API serves is ordered by one of its entity's orderable fields (api/entities.ts) and then by
 * the primary key, and every relation reads a parent's children by foreign key in the child's default order. Each such
 * order has a composite index ending in the primary key, so that a page (keyset `(field, pk) > cursor ... LIMIT n`)
 * or a relation page (`fk = k ORDER BY default, pk LIMIT n`) is one index range scan of n rows, never a sort of the
 * table. An (fk, order, pk) index also serves plain `fk = k` filters, so it replaces the single-column fk index;
 * exact transaction-hash filters on the big tables get one the same way ((tx_hash, order, pk)).
 * Listed here once per order; api/entities.ts and test/e2e/api-read.test.ts keep the two in step.
 */

// ---------------------------------------------------------------- token
export const account = onchainTable(
  "account",
  (t) => ({
    address: t.hex().primaryKey(),
    balance: t.bigint().notNull(),
    /** Voting power delegated to this account (ERC-5805 getVotes). */
    votes: t.bigint().notNull(),
    delegate: t.hex(),
    updatedAt: t.bigint().notNull(),
  }),
  (t) => ({ balanceIdx: index().on(t.balance, t.address), votesIdx: index().on(t.votes, t.address) }),
);

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
  (t) => ({
    blockIdx: index().on(t.blockNumber, t.id),
    valueIdx: index().on(t.value, t.id),
    fromIdx: index().on(t.from, t.blockNumber, t.id),
    toIdx: index().on(t.to, t.blockNumber, t.id),
    txHashIdx: index().on(t.txHash, t.blockNumber, t.id),
  }),
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
  (t) => ({ timestampIdx: index().on(t.timestamp, t.id), delegatorIdx: index().on(t.delegator, t.timestamp, t.id) }),
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
    /**
     * Decoded from metadataUri (indexer/lib/metadata.ts): `data:` URIs always, `ipfs://` through IPFS_GATEWAY when
     * set. Null when absent or not a string; metadataError says why nothing could be decoded (null when it could).
     */
    name: t.text(),
    vendor: t.text(),
    description: t.text(),
    /** The decoded JSON object itself (null when decoding failed). */
    metadata: t.json(),
    metadataError: t.text(),
    /** The on-chain category's name (CategoryAdded), null for a category the indexer never saw added. */
    categoryName: t.text(),
  }),
  (t) => ({
    providerIdx: index().on(t.provider, t.id),
    categoryIdx: index().on(t.category, t.id),
    priceIdx: index().on(t.pricePerUnit, t.id),
    createdIdx: index().on(t.createdAt, t.id),
    volumeIdx: index().on(t.volume, t.id),
    // topListings: highest volume first, ties by id ascending (a mixed order a plain (volume, id) scan cannot give).
    topIdx: index("listing_volume_desc_id_index").on(t.volume.desc(), t.id),
    escrowCountIdx: index().on(t.escrowCount, t.id),
  }),
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
  (t) => ({ timestampIdx: index().on(t.timestamp, t.id), listingIdx: index().on(t.listingId, t.timestamp, t.id) }),
);

/** The marketplace's categories by id (CategoryAdded: initialisation adds the launch ones, governance more). */
export const category = onchainTable("category", (t) => ({
  id: t.integer().primaryKey(),
  name: t.text().notNull(),
}));

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
  (t) => ({
    openedIdx: index().on(t.openedAt, t.id),
    expiresIdx: index().on(t.expiresAt, t.id),
    renterIdx: index().on(t.renter, t.openedAt, t.id),
    listingIdx: index().on(t.listingId, t.openedAt, t.id),
    providerIdx: index().on(t.provider, t.openedAt, t.id),
  }),
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
    timestampIdx: index().on(t.timestamp, t.id),
    escrowIdx: index().on(t.escrowId, t.timestamp, t.id),
    listingIdx: index().on(t.listingId, t.timestamp, t.id),
    chargeIdIdx: index().on(t.chargeId),
    batchIdx: index().on(t.batchId, t.listingId),
    txHashIdx: index().on(t.txHash, t.timestamp, t.id),
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
  (t) => ({
    timestampIdx: index().on(t.timestamp, t.id),
    escrowIdx: index().on(t.escrowId, t.timestamp, t.id),
    providerIdx: index().on(t.provider, t.timestamp, t.id),
  }),
);

export const withdrawal = onchainTable(
  "withdrawal",
  (t) => ({
    id: t.text().primaryKey(),
    account: t.hex().notNull(),
    amount: t.bigint().notNull(),
    timestamp: t.bigint().notNull(),
  }),
  (t) => ({ timestampIdx: index().on(t.timestamp, t.id), accountIdx: index().on(t.account, t.timestamp, t.id) }),
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
  (t) => ({ openedIdx: index().on(t.openedAt, t.chargeId), escrowIdx: index().on(t.escrowId, t.openedAt, t.chargeId) }),
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
  (t) => ({ timestampIdx: index().on(t.timestamp, t.escrowId), listingIdx: index().on(t.listingId, t.timestamp, t.escrowId) }),
);

/**
 * Session keys a renter authorized for an escrow (IMarketplaceSessionKeys). A key is authorized at most once per
 * escrow; `revokedAt` is set once revoked (authorizations count off chain until revokedAt + 600 s; receipts it
 * signed stay chargeable).
 */
export const sessionKey = onchainTable(
  "session_key",
  (t) => ({
    id: t.text().primaryKey(),
    escrowId: t.bigint().notNull(),
    key: t.hex().notNull(),
    authorizedAt: t.bigint().notNull(),
    revokedAt: t.bigint(),
  }),
  (t) => ({ escrowIdx: index().on(t.escrowId, t.id), keyIdx: index().on(t.key, t.id) }),
);

// ---------------------------------------------------------------- federation committee
export const committeeMember = onchainTable(
  "committee_member",
  (t) => ({
    address: t.hex().primaryKey(),
    bond: t.bigint().notNull(),
    /** "bonded" (not yet admitted), "active", "removed", "slashed". */
    status: t.text().notNull(),
    admittedAt: t.bigint(),
    removedAt: t.bigint(),
    unbondingAt: t.bigint(),
  }),
  (t) => ({ bondIdx: index().on(t.bond, t.address) }),
);

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
  (t) => ({ timestampIdx: index().on(t.timestamp, t.id), escrowIdx: index().on(t.escrowId, t.timestamp, t.id) }),
);

export const slash = onchainTable(
  "slash",
  (t) => ({
    id: t.text().primaryKey(),
    member: t.hex().notNull(),
    reporter: t.hex().notNull(),
    escrowId: t.bigint().notNull(),
    sequence: t.bigint().notNull(),
    reward: t.bigint().notNull(),
    toTreasury: t.bigint().notNull(),
    timestamp: t.bigint().notNull(),
  }),
  (t) => ({ timestampIdx: index().on(t.timestamp, t.id), memberIdx: index().on(t.member, t.timestamp, t.id) }),
);

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
  (t) => ({
    createdIdx: index().on(t.createdAt, t.id),
    voteStartIdx: index().on(t.voteStart, t.id),
    voteEndIdx: index().on(t.voteEnd, t.id),
    proposerIdx: index().on(t.proposer, t.createdAt, t.id),
  }),
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
  (t) => ({
    timestampIdx: index().on(t.timestamp, t.id),
    weightIdx: index().on(t.weight, t.id),
    proposalIdx: index().on(t.proposalId, t.timestamp, t.id),
    voterIdx: index().on(t.voter, t.timestamp, t.id),
  }),
);

export const proposalTransition = onchainTable(
  "proposal_transition",
  (t) => ({
    id: t.text().primaryKey(),
    proposalId: t.bigint().notNull(),
    lifecycle: t.text().notNull(),
    timestamp: t.bigint().notNull(),
  }),
  (t) => ({ timestampIdx: index().on(t.timestamp, t.id), proposalIdx: index().on(t.proposalId, t.timestamp, t.id) }),
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
  (t) => ({
    // Also what the API's subscription feed reads every block (block_number > cursor ORDER BY block_number, id).
    blockIdx: index().on(t.blockNumber, t.id),
    contractNameIdx: index().on(t.contract, t.name, t.blockNumber, t.id),
    txHashIdx: index().on(t.txHash, t.blockNumber, t.id),
  }),
);

/** Running values the handlers carry between events (e.g. the open-escrow count for daily statistics). */
export const protocolState = onchainTable("protocol_state", (t) => ({
  id: t.text().primaryKey(),
  value: t.bigint().notNull(),
}));

/**
 * The marketplace's running totals, one row (id "global"): what `marketStats` reads instead of counting the tables.
 * Each handler that changes a total moves it by the change (listings, escrows and charges as their rows are written;
 * volume and fees exactly as daily_stat's, so the totals equal the sums of daily_stat).
 */
export const marketStat = onchainTable("market_stat", (t) => ({
  id: t.text().primaryKey(),
  listings: t.integer().notNull(),
  /** Listings with status 1 (active). */
  activeListings: t.integer().notNull(),
  /** Distinct providers of listings. */
  providers: t.integer().notNull(),
  escrows: t.integer().notNull(),
  openEscrows: t.integer().notNull(),
  /** Distinct renters of escrows. */
  renters: t.integer().notNull(),
  charges: t.integer().notNull(),
  volume: t.bigint().notNull(),
  fees: t.bigint().notNull(),
}));

/** Per account: how many listings it provides and escrows it opened, so a first one is seen without counting. */
export const marketAccount = onchainTable("market_account", (t) => ({
  address: t.hex().primaryKey(),
  listings: t.integer().notNull(),
  escrows: t.integer().notNull(),
}));
