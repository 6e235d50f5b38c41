/**
 * What the API knows about each indexed table: its view, GraphQL type, key, and fields with their kinds. The object
 * types themselves are written by hand in schema.graphql; from this table the server derives each list query's filter
 * input (`_gt/_lt/_gte/_lte/_in/_contains`), its ordering enum and the SQL behind both, so that a new column needs
 * one line here and one in the SDL. Column names are Ponder's: the field name in snake_case.
 *
 * At scale (a million escrows, millions of charges) a list is only as fast as its index, so what the API offers is
 * bounded by what indexer/ponder.schema.ts indexes:
 * - `orderBy` lists the orderable fields; each has an index (field, key) (the key alone is the primary key's);
 * - a relation reads the child's rows by foreign key in the child's `defaultOrder` (which is in `orderBy`), through
 *   an index (fk, defaultOrder, key); RELATIONS below names them all;
 * - `contains` offers `_contains` filters (a scan of the whole table) only on tables that stay small.
 * test/e2e/api-read.test.ts checks these indexes exist in the indexer's database.
 */
export type FieldKind = "id" | "hex" | "text" | "bigint" | "int" | "bool" | "json";

export interface FieldSpec {
  kind: FieldKind;
  /** NULL-able columns can be filtered but not ordered by (keyset pagination needs total order). */
  nullable?: boolean;
}

export interface EntitySpec {
  /** GraphQL object type. */
  type: string;
  /** View in the views schema. */
  table: string;
  /** Query field for one row (by key) and for lists. */
  single: string;
  list: string;
  /** Primary key fields, in order. */
  key: string[];
  fields: Record<string, FieldSpec>;
  defaultOrder: string;
  /** Fields a list may be ordered by: each backed by an index (field, ...key). The first is not special. */
  orderBy: string[];
  /** Whether text-like fields get `_contains` filters: only for tables small enough to scan. */
  contains: boolean;
}

/** A list field of a parent type answered by a child entity's rows whose `fk` equals the parent's `parentField`. */
export interface RelationSpec {
  parent: string;
  field: string;
  child: string;
  fk: string;
  parentField: string;
}

const f = (kind: FieldKind, nullable = false): FieldSpec => ({ kind, nullable });

export const ENTITIES: EntitySpec[] = [
  {
    type: "Account", table: "account", single: "account", list: "accounts", key: ["address"], defaultOrder: "address", orderBy: ["address", "balance", "votes"], contains: false,
    fields: { address: f("hex"), balance: f("bigint"), votes: f("bigint"), delegate: f("hex", true), updatedAt: f("bigint") },
  },
  {
    type: "Transfer", table: "transfer", single: "transfer", list: "transfers", key: ["id"], defaultOrder: "blockNumber", orderBy: ["blockNumber", "value"], contains: false,
    fields: { id: f("id"), from: f("hex"), to: f("hex"), value: f("bigint"), blockNumber: f("bigint"), timestamp: f("bigint"), txHash: f("hex") },
  },
  {
    type: "Delegation", table: "delegation", single: "delegation", list: "delegations", key: ["id"], defaultOrder: "timestamp", orderBy: ["timestamp"], contains: false,
    fields: { id: f("id"), delegator: f("hex"), fromDelegate: f("hex"), toDelegate: f("hex"), timestamp: f("bigint") },
  },
  {
    type: "Listing", table: "listing", single: "listing", list: "listings", key: ["id"], defaultOrder: "id", orderBy: ["id", "pricePerUnit", "createdAt", "volume", "escrowCount", "category"], contains: true,
    fields: {
      id: f("bigint"), provider: f("hex"), category: f("int"), contentHash: f("hex"), metadataUri: f("text"), unit: f("int"),
      pricePerUnit: f("bigint"), royaltyRecipient: f("hex"), royaltyBps: f("int"), bond: f("bigint"), status: f("int"),
      unbondingAt: f("bigint"), escrowCount: f("int"), volume: f("bigint"), ratingCount: f("int"), ratingTotal: f("int"), createdAt: f("bigint"),
      name: f("text", true), vendor: f("text", true), description: f("text", true), categoryName: f("text", true),
      metadata: f("json", true), metadataError: f("text", true),
    },
  },
  {
    type: "Category", table: "category", single: "category", list: "categories", key: ["id"], defaultOrder: "id", orderBy: ["id"], contains: true,
    fields: { id: f("int"), name: f("text") },
  },
  {
    type: "ListingPrice", table: "listing_price", single: "listingPrice", list: "listingPrices", key: ["id"], defaultOrder: "timestamp", orderBy: ["timestamp"], contains: true,
    fields: { id: f("id"), listingId: f("bigint"), oldPrice: f("bigint"), newPrice: f("bigint"), timestamp: f("bigint") },
  },
  {
    type: "Escrow", table: "escrow", single: "escrow", list: "escrows", key: ["id"], defaultOrder: "openedAt", orderBy: ["id", "openedAt", "expiresAt"], contains: false,
    fields: {
      id: f("bigint"), listingId: f("bigint"), renter: f("hex"), provider: f("hex"), deposit: f("bigint"), spendCap: f("bigint"),
      pricePerUnit: f("bigint"), expiresAt: f("bigint"), charged: f("bigint"), refundedByDisputes: f("bigint"), sequence: f("bigint"),
      units: f("bigint"),
      status: f("text"), refund: f("bigint", true), closedBy: f("hex", true), openedAt: f("bigint"), closedAt: f("bigint", true),
    },
  },
  {
    type: "Charge", table: "charge", single: "charge", list: "charges", key: ["id"], defaultOrder: "timestamp", orderBy: ["timestamp"], contains: false,
    fields: {
      id: f("id"), chargeId: f("bigint"), escrowId: f("bigint"), listingId: f("bigint"), sequence: f("bigint"), cumulativeUnits: f("bigint"),
      units: f("bigint"), amount: f("bigint"), attested: f("bool"), resultDigest: f("hex"), disputableUntil: f("bigint"), status: f("text"),
      timestamp: f("bigint"), txHash: f("hex"), batchId: f("bigint", true), batchIndex: f("int", true),
    },
  },
  {
    type: "Payout", table: "payout", single: "payout", list: "payouts", key: ["id"], defaultOrder: "timestamp", orderBy: ["timestamp"], contains: false,
    fields: {
      id: f("id"), escrowId: f("bigint"), chargeId: f("bigint"), provider: f("hex"), providerAmount: f("bigint"), treasury: f("hex"),
      fee: f("bigint"), royaltyRecipient: f("hex"), royalty: f("bigint"), timestamp: f("bigint"),
    },
  },
  {
    type: "Withdrawal", table: "withdrawal", single: "withdrawal", list: "withdrawals", key: ["id"], defaultOrder: "timestamp", orderBy: ["timestamp"], contains: false,
    fields: { id: f("id"), account: f("hex"), amount: f("bigint"), timestamp: f("bigint") },
  },
  {
    type: "Dispute", table: "dispute", single: "dispute", list: "disputes", key: ["chargeId"], defaultOrder: "openedAt", orderBy: ["chargeId", "openedAt"], contains: true,
    fields: {
      chargeId: f("bigint"), escrowId: f("bigint"), renter: f("hex"), openedAt: f("bigint"), resolved: f("bool"),
      paidToProvider: f("bool", true), amount: f("bigint", true), resolver: f("hex", true), resolvedAt: f("bigint", true),
      bond: f("bigint", true), resolveBy: f("bigint", true), byDefault: f("bool", true),
    },
  },
  {
    type: "Rating", table: "rating", single: "rating", list: "ratings", key: ["escrowId"], defaultOrder: "timestamp", orderBy: ["timestamp"], contains: false,
    fields: { escrowId: f("bigint"), listingId: f("bigint"), renter: f("hex"), score: f("int"), timestamp: f("bigint") },
  },
  {
    type: "CommitteeMember", table: "committee_member", single: "committeeMember", list: "committeeMembers", key: ["address"], defaultOrder: "address", orderBy: ["address", "bond"], contains: true,
    fields: {
      address: f("hex"), bond: f("bigint"), status: f("text"), admittedAt: f("bigint", true), removedAt: f("bigint", true), unbondingAt: f("bigint", true),
    },
  },
  {
    type: "CommitteeEpoch", table: "committee_epoch", single: "committeeEpoch", list: "committeeEpochs", key: ["epoch"], defaultOrder: "epoch", orderBy: ["epoch"], contains: true,
    fields: { epoch: f("bigint"), members: f("json"), quorum: f("int"), startedAt: f("bigint") },
  },
  {
    type: "Attestation", table: "attestation", single: "attestation", list: "attestations", key: ["id"], defaultOrder: "timestamp", orderBy: ["timestamp"], contains: false,
    fields: {
      id: f("id"), escrowId: f("bigint"), chargeId: f("bigint"), sequence: f("bigint"), amount: f("bigint"), resultDigest: f("hex"),
      submitter: f("hex"), timestamp: f("bigint"),
    },
  },
  {
    type: "Slash", table: "slash", single: "slash", list: "slashes", key: ["id"], defaultOrder: "timestamp", orderBy: ["timestamp"], contains: true,
    fields: {
      id: f("id"), member: f("hex"), reporter: f("hex"), escrowId: f("bigint"), sequence: f("bigint"), reward: f("bigint"),
      toTreasury: f("bigint"), timestamp: f("bigint"),
    },
  },
  {
    type: "Proposal", table: "proposal", single: "proposal", list: "proposals", key: ["id"], defaultOrder: "createdAt", orderBy: ["createdAt", "id", "voteStart", "voteEnd"], contains: true,
    fields: {
      id: f("bigint"), proposer: f("hex"), targets: f("json"), values: f("json"), calldatas: f("json"), description: f("text"),
      voteStart: f("bigint"), voteEnd: f("bigint"), lifecycle: f("text"), eta: f("bigint", true), timelockOperation: f("hex", true),
      forWeight: f("bigint"), againstWeight: f("bigint"), abstainWeight: f("bigint"), quorum: f("bigint"), voteCount: f("int"), createdAt: f("bigint"),
    },
  },
  {
    type: "Vote", table: "vote", single: "vote", list: "votes", key: ["id"], defaultOrder: "timestamp", orderBy: ["timestamp", "weight"], contains: false,
    fields: { id: f("id"), proposalId: f("bigint"), voter: f("hex"), support: f("int"), weight: f("bigint"), reason: f("text"), timestamp: f("bigint") },
  },
  {
    type: "ProposalTransition", table: "proposal_transition", single: "proposalTransition", list: "proposalTransitions", key: ["id"], defaultOrder: "timestamp", orderBy: ["timestamp"], contains: true,
    fields: { id: f("id"), proposalId: f("bigint"), lifecycle: f("text"), timestamp: f("bigint") },
  },
  {
    type: "Participant", table: "participant", single: "participant", list: "participants", key: ["address"], defaultOrder: "address", orderBy: ["address"], contains: true,
    fields: { address: f("hex"), registered: f("bool"), registrar: f("hex"), since: f("bigint"), until: f("bigint", true) },
  },
  {
    type: "DailyStat", table: "daily_stat", single: "dailyStat", list: "dailyStats", key: ["day"], defaultOrder: "day", orderBy: ["day"], contains: true,
    fields: {
      day: f("int"), volume: f("bigint"), fees: f("bigint"), chargeCount: f("int"), escrowsOpened: f("int"), escrowsClosed: f("int"),
      activeEscrows: f("int"), newListings: f("int"),
    },
  },
  {
    type: "ProtocolEvent", table: "protocol_event", single: "protocolEvent", list: "protocolEvents", key: ["id"], defaultOrder: "blockNumber", orderBy: ["blockNumber"], contains: false,
    fields: { id: f("id"), contract: f("text"), name: f("text"), args: f("json"), blockNumber: f("bigint"), timestamp: f("bigint"), txHash: f("hex") },
  },
];

const rel = (parent: string, field: string, child: string, fk: string, parentField: string): RelationSpec => ({ parent, field, child, fk, parentField });

export const RELATIONS: RelationSpec[] = [
  rel("Account", "escrows", "Escrow", "renter", "address"),
  rel("Account", "listings", "Listing", "provider", "address"),
  rel("Account", "votesCast", "Vote", "voter", "address"),
  rel("Listing", "escrows", "Escrow", "listingId", "id"),
  rel("Listing", "charges", "Charge", "listingId", "id"),
  rel("Listing", "priceHistory", "ListingPrice", "listingId", "id"),
  rel("Listing", "ratings", "Rating", "listingId", "id"),
  rel("Escrow", "charges", "Charge", "escrowId", "id"),
  rel("Escrow", "payouts", "Payout", "escrowId", "id"),
  rel("CommitteeMember", "slashes", "Slash", "member", "address"),
  rel("Proposal", "votes", "Vote", "proposalId", "id"),
  rel("Proposal", "transitions", "ProposalTransition", "proposalId", "id"),
];

export const column = (field: string) => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

export function entity(type: string): EntitySpec {
  const spec = ENTITIES.find((e) => e.type === type);
  if (!spec) throw new Error(`unknown entity ${type}`);
  return spec;
}
