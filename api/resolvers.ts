/**
 * Resolvers. Root fields for every entity come from entities.ts (one row by key, a page of rows), with the
 * relation pages selected below them in the same statement (api/tree.ts); other relations go through the
 * request's DataLoaders; a row's camelCase fields read Ponder's snake_case columns.
 */
import { GraphQLScalarType, Kind, type GraphQLResolveInfo } from "graphql";
import { needs, selectedColumns } from "./columns";
import { proposalState } from "../indexer/lib/proposal-state";
import { column, ENTITIES, RELATIONS } from "./entities";
import type { Head } from "./head";
import { badInput, checkLimit, checkRelationLimit, listQuery, type ListArgs } from "./list";
import { SQL_TYPE, type Loaders } from "./loaders";
import { treeRows, treeSelect } from "./tree";
import type { Database } from "./db";
import { hasArg, involves, type EventFeed, type FeedEvent } from "./events";
import { filter, pipe } from "graphql-yoga";

export interface ApiContext {
  db: Database;
  feed: EventFeed;
  schema: string;
  loaders: Loaders;
  head: () => Head | undefined;
}

type Row = Record<string, unknown>;
type Resolver = (row: Row, args: Record<string, unknown>, ctx: ApiContext, info?: GraphQLResolveInfo) => unknown;

const BigIntScalar = new GraphQLScalarType({
  name: "BigInt",
  description: "An integer of any size, as a decimal string",
  serialize: (value) => String(value),
  parseValue: (value) => parseBigInt(value),
  parseLiteral: (ast) => {
    if (ast.kind === Kind.STRING || ast.kind === Kind.INT) return parseBigInt(ast.value);
    throw badInput("BigInt takes a decimal string or an integer");
  },
});

function parseBigInt(value: unknown): string {
  const text = typeof value === "number" && Number.isSafeInteger(value) ? String(value) : value;
  if (typeof text !== "string" || !/^-?\d{1,78}$/.test(text)) throw badInput(`"${String(value).slice(0, 80)}" is not an integer`);
  return BigInt(text).toString();
}

const JSONScalar = new GraphQLScalarType({ name: "JSON", serialize: (value) => value });

// A relation page the root field's statement already read (api/tree.ts), or one statement per relation per request.
const many = (type: string, field: string, parentColumn: string): Resolver => (row, args, ctx, info) =>
  (info && treeRows(row, info.path.key)) ??
  ctx.loaders.many(type, field, row[parentColumn] as string, checkRelationLimit(args.limit as number | undefined), selectedColumns(type, info));
const one = (type: string, field: string, parentColumn: string): Resolver => (row, _args, ctx) =>
  ctx.loaders.one(type, field, row[parentColumn] as string);

function tally(row: Row) {
  const forWeight = BigInt(row.for_weight as string);
  const againstWeight = BigInt(row.against_weight as string);
  const abstainWeight = BigInt(row.abstain_weight as string);
  const quorum = BigInt(row.quorum as string);
  return {
    for_weight: forWeight, against_weight: againstWeight, abstain_weight: abstainWeight, quorum, vote_count: row.vote_count,
    quorum_reached: forWeight + abstainWeight >= quorum,
    succeeded: forWeight + abstainWeight >= quorum && forWeight > againstWeight,
  };
}

function stateOf(row: Row, head: Head | undefined): string {
  return proposalState(
    {
      lifecycle: row.lifecycle as string, voteStart: BigInt(row.vote_start as string), voteEnd: BigInt(row.vote_end as string),
      forWeight: BigInt(row.for_weight as string), againstWeight: BigInt(row.against_weight as string),
      abstainWeight: BigInt(row.abstain_weight as string), quorum: BigInt(row.quorum as string),
    },
    head?.timestamp ?? 0n,
  );
}

export function createResolvers() {
  const Query: Record<string, Resolver> = {
    _meta: (_r, _a, ctx) => {
      const head = ctx.head();
      return { block: head ? { number: head.number, timestamp: head.timestamp } : null, ready: head?.ready ?? false };
    },
    // One row the indexer keeps current (market_stat), instead of counting a million escrows on every call.
    marketStats: async (_r, _a, ctx) => {
      const [stats] = await ctx.db.query(
        `SELECT listings, active_listings, providers, escrows, open_escrows, renters, charges, volume::text, fees::text
           FROM "${ctx.schema}".market_stat WHERE id = 'global'`,
        [],
        { prepare: true },
      );
      return stats ?? { listings: 0, active_listings: 0, providers: 0, escrows: 0, open_escrows: 0, renters: 0, charges: 0, volume: "0", fees: "0" };
    },
    topListings: async (_r, args, ctx) => {
      const limit = checkLimit(args.limit as number);
      const params: unknown[] = [limit];
      let where = "";
      if (args.category !== undefined && args.category !== null) {
        params.push(args.category);
        where = `WHERE category = $2`;
      }
      return ctx.db.query(`SELECT * FROM "${ctx.schema}".listing ${where} ORDER BY volume DESC, id ASC LIMIT $1`, params);
    },
    proposalTally: async (_r, args, ctx) => {
      const row = await ctx.loaders.one("Proposal", "id", args.id as string);
      return row ? tally(row) : null;
    },
  };

  for (const spec of ENTITIES) {
    const key = spec.key[0];
    const kind = spec.fields[key].kind;
    Query[spec.single] = async (_r, args, ctx, info) => {
      // With relations selected below it, the row and those relation pages in one statement (api/tree.ts).
      const tree = info && args[key] !== null && args[key] !== undefined ? treeSelect(spec.type, info, ctx.schema) : "";
      if (!tree) return ctx.loaders.one(spec.type, key, args[key] as string);
      const value = kind === "hex" ? String(args[key]).toLowerCase() : args[key];
      const [row] = await ctx.db.query(`SELECT t.*${tree} FROM "${ctx.schema}"."${spec.table}" t WHERE t."${column(key)}" = $1::${SQL_TYPE[kind]}`, [value], { prepare: true });
      return row ?? null;
    };
    Query[spec.list] = async (_r, args, ctx, info) => {
      const q = listQuery(ctx.schema, spec, args as ListArgs, undefined, info ? treeSelect(spec.type, info, ctx.schema, true) : "");
      return q.toPage(await ctx.db.query(q.sql, q.params));
    };
  }

  // Every entity field reads its snake_case column; relation and derived fields are added below.
  const types: Record<string, Record<string, Resolver>> = {};
  for (const spec of ENTITIES) {
    types[spec.type] = {};
    for (const field of Object.keys(spec.fields)) {
      const col = column(field);
      if (col !== field) types[spec.type][field] = (row) => row[col];
    }
  }
  // Each relation or derived field with the columns of its row it reads (api/columns.ts: a relation page reads only
  // the columns its selection needs).
  const derive = (type: string, fields: Record<string, [Resolver, string[]]>) => {
    for (const [field, [resolver, columns]] of Object.entries(fields)) {
      types[type][field] = resolver;
      needs(type, field, columns);
    }
  };
  for (const r of RELATIONS) derive(r.parent, { [r.field]: [many(r.child, r.fk, column(r.parentField)), [column(r.parentField)]] });
  derive("Account", {
    participant: [one("Participant", "address", "address"), ["address"]],
    committeeMember: [one("CommitteeMember", "address", "address"), ["address"]],
  });
  derive("Listing", {
    averageRating: [(row) => ((row.rating_count as number) > 0 ? (row.rating_total as number) / (row.rating_count as number) : null), ["rating_count", "rating_total"]],
    providerAccount: [one("Account", "address", "provider"), ["provider"]],
  });
  derive("Escrow", {
    remaining: [(row) => (BigInt(row.deposit as string) - BigInt(row.charged as string)).toString(), ["deposit", "charged"]],
    listing: [one("Listing", "id", "listing_id"), ["listing_id"]],
    renterAccount: [one("Account", "address", "renter"), ["renter"]],
    rating: [one("Rating", "escrowId", "id"), ["id"]],
  });
  derive("Charge", {
    escrow: [one("Escrow", "id", "escrow_id"), ["escrow_id"]],
    dispute: [(row, _a, ctx) => (row.attested ? ctx.loaders.one("Dispute", "chargeId", row.charge_id as string) : null), ["attested", "charge_id"]],
  });
  const tallyColumns = ["for_weight", "against_weight", "abstain_weight", "quorum", "vote_count"];
  derive("Proposal", {
    state: [(row, _a, ctx) => stateOf(row, ctx.head()), ["lifecycle", "vote_start", "vote_end", ...tallyColumns]],
    tally: [(row) => tally(row), tallyColumns],
  });
  derive("Vote", { proposal: [one("Proposal", "id", "proposal_id"), ["proposal_id"]] });
  types.ProposalTally = {
    forWeight: (t) => t.for_weight, againstWeight: (t) => t.against_weight, abstainWeight: (t) => t.abstain_weight,
    quorumReached: (t) => t.quorum_reached, voteCount: (t) => t.vote_count,
  };
  types.MarketStats = { activeListings: (s) => s.active_listings, openEscrows: (s) => s.open_escrows };

  const Subscription = {
    newBlock: {
      subscribe: (_r: unknown, _a: unknown, ctx: ApiContext) => ctx.feed.pubsub.subscribe("block"),
      resolve: (block: unknown) => block,
    },
    accountEvents: {
      subscribe: (_r: unknown, args: { address: string }, ctx: ApiContext) => {
        if (!/^0x[0-9a-fA-F]{40}$/.test(args.address)) throw badInput(`"${args.address.slice(0, 80)}" is not an address`);
        return pipe(ctx.feed.pubsub.subscribe("event"), filter((e: FeedEvent) => involves(e, args.address)));
      },
      resolve: (event: FeedEvent) => event,
    },
    listingEvents: {
      subscribe: (_r: unknown, args: { id: string }, ctx: ApiContext) =>
        pipe(ctx.feed.pubsub.subscribe("event"), filter((e: FeedEvent) => hasArg(e, "listingId", args.id))),
      resolve: (event: FeedEvent) => event,
    },
    proposalEvents: {
      subscribe: (_r: unknown, args: { id: string }, ctx: ApiContext) =>
        pipe(ctx.feed.pubsub.subscribe("event"), filter((e: FeedEvent) => hasArg(e, "proposalId", args.id))),
      resolve: (event: FeedEvent) => event,
    },
  };

  return { BigInt: BigIntScalar, JSON: JSONScalar, Query, Subscription, ...types };
}

