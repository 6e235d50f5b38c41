/**
 * List queries: a filter object, an ordering and a cursor turned into one parameterised SQL statement with keyset
 * pagination (ORDER BY the chosen field, then the key; the cursor holds those values). Everything that reaches SQL as
 * an identifier comes from entities.ts, never from the request.
 */
import { GraphQLError } from "graphql";
import { column, type EntitySpec, type FieldSpec } from "./entities";

export const MAX_LIMIT = 1_000;
export const DEFAULT_LIMIT = 100;
/**
 * A relation's page per parent: nested pages multiply (100 listings x 100 escrows x 100 charges), so a relation
 * takes less than a root list.
 */
export const MAX_RELATION_LIMIT = 100;

export const FILTER_SUFFIXES = ["", "_not", "_in", "_gt", "_gte", "_lt", "_lte", "_contains"] as const;

export interface ListArgs {
  where?: Record<string, unknown> | null;
  orderBy?: string | null;
  orderDirection?: "asc" | "desc" | null;
  after?: string | null;
  before?: string | null;
  limit?: number | null;
}

export interface Page<T> {
  items: T[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}

export function badInput(message: string, code = "BAD_USER_INPUT"): GraphQLError {
  return new GraphQLError(message, { extensions: { code, http: { status: 400 } } });
}

/**
 * Which suffixes a field supports (contains: text-like, on tables small enough to scan; ordering comparisons:
 * numbers and text).
 */
export function suffixesFor(spec: EntitySpec, field: FieldSpec): string[] {
  switch (field.kind) {
    case "json":
      return [];
    case "bool":
      return ["", "_not"];
    case "bigint":
    case "int":
      return ["", "_not", "_in", "_gt", "_gte", "_lt", "_lte"];
    default:
      return FILTER_SUFFIXES.filter((s) => s !== "_contains" || spec.contains);
  }
}

/** Addresses and hashes are stored lower-case by Ponder: compare them that way whatever the caller sent. */
function normalise(field: FieldSpec, value: unknown): unknown {
  if (field.kind === "hex" && typeof value === "string") return value.toLowerCase();
  return value;
}

export function whereClause(spec: EntitySpec, where: Record<string, unknown> | null | undefined, params: unknown[]): string[] {
  const clauses: string[] = [];
  for (const [name, raw] of Object.entries(where ?? {})) {
    if (raw === undefined) continue;
    const suffix = FILTER_SUFFIXES.slice(1).find((s) => name.endsWith(s)) ?? "";
    const fieldName = name.slice(0, name.length - suffix.length);
    const field = spec.fields[fieldName];
    // Unreachable through the schema (its filter inputs come from suffixesFor); kept for direct calls.
    if (!field || !suffixesFor(spec, field).includes(suffix)) throw badInput(`unknown filter ${name}`);
    const col = `"${column(fieldName)}"`;
    if (raw === null) {
      clauses.push(suffix === "_not" ? `${col} IS NOT NULL` : `${col} IS NULL`);
      continue;
    }
    const push = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    switch (suffix) {
      case "":
        clauses.push(`${col} = ${push(normalise(field, raw))}`);
        break;
      case "_not":
        clauses.push(`${col} <> ${push(normalise(field, raw))}`);
        break;
      case "_in": {
        const values = raw as unknown[];
        if (values.length > MAX_LIMIT) throw badInput(`${name} takes at most ${MAX_LIMIT} values`);
        clauses.push(`${col} = ANY(${push(values.map((v) => normalise(field, v)))})`);
        break;
      }
      case "_gt":
        clauses.push(`${col} > ${push(raw)}`);
        break;
      case "_gte":
        clauses.push(`${col} >= ${push(raw)}`);
        break;
      case "_lt":
        clauses.push(`${col} < ${push(raw)}`);
        break;
      case "_lte":
        clauses.push(`${col} <= ${push(raw)}`);
        break;
      case "_contains":
        clauses.push(`position(${push(String(normalise(field, raw)))} in ${col}) > 0`);
        break;
    }
  }
  return clauses;
}

function encodeCursor(values: unknown[]): string {
  return Buffer.from(JSON.stringify(values)).toString("base64url");
}

function decodeCursor(cursor: string, expected: number): unknown[] {
  try {
    const values = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (Array.isArray(values) && values.length === expected && values.every((v) => typeof v === "string" || typeof v === "number" || typeof v === "boolean")) {
      return values;
    }
  } catch {
    // falls through to the error below
  }
  throw badInput(`invalid cursor "${cursor.slice(0, 64)}": use a startCursor or endCursor from a previous page`, "BAD_CURSOR");
}

export function checkLimit(limit: number | null | undefined, max = MAX_LIMIT, what = "limit"): number {
  const n = limit ?? DEFAULT_LIMIT;
  if (!Number.isInteger(n) || n < 1 || n > max) throw badInput(`${what} must be between 1 and ${max}, got ${n}`, "LIMIT_OUT_OF_RANGE");
  return n;
}

export const checkRelationLimit = (limit: number | null | undefined) => checkLimit(limit, MAX_RELATION_LIMIT, "a relation's limit");

/**
 * SELECT for one page; `extra` adds fixed conditions (a relation's foreign key), `select` more select-list entries
 * over the page's rows, aliased `t` (api/tree.ts: the relation pages selected below them).
 */
export function listQuery(schema: string, spec: EntitySpec, args: ListArgs, extra: { sql: string; params: unknown[] } | undefined, select = "") {
  const limit = checkLimit(args.limit);
  if (args.after && args.before) throw badInput("use either after or before, not both");
  const orderField = args.orderBy ?? spec.defaultOrder;
  // Only indexed orders (the schema's enum has no others): any other would sort the whole table for each page.
  if (!spec.orderBy.includes(orderField)) throw badInput(`cannot order ${spec.list} by ${orderField}: not an indexed order (${spec.orderBy.join(", ")})`, "ORDER_NOT_INDEXED");
  const sortFields = [orderField, ...spec.key.filter((k) => k !== orderField)];
  const desc = args.orderDirection === "desc";
  const params: unknown[] = [...(extra?.params ?? [])];
  const clauses = whereClause(spec, args.where, params);
  if (extra) clauses.unshift(extra.sql);

  const cursor = args.after ?? args.before;
  // Walking backwards (before) reads the reverse order and flips the page afterwards.
  const backwards = !!args.before;
  const ascending = desc === backwards;
  if (cursor) {
    const values = decodeCursor(cursor, sortFields.length);
    const placeholders = values.map((v) => {
      params.push(v);
      return `$${params.length}`;
    });
    const cols = sortFields.map((s) => `"${column(s)}"`).join(", ");
    clauses.push(`(${cols}) ${ascending ? ">" : "<"} (${placeholders.join(", ")})`);
  }
  const direction = ascending ? "ASC" : "DESC";
  const sql =
    `SELECT t.*${select} FROM "${schema}"."${spec.table}" t` +
    (clauses.length ? ` WHERE ${clauses.join(" AND ")}` : "") +
    ` ORDER BY ${sortFields.map((s) => `"${column(s)}" ${direction}`).join(", ")} LIMIT ${limit + 1}`;

  return {
    sql,
    params,
    toPage<T extends Record<string, unknown>>(rows: T[]): Page<T> {
      const more = rows.length > limit;
      const items = more ? rows.slice(0, limit) : rows;
      if (backwards) items.reverse();
      const cursorOf = (row: T) => encodeCursor(sortFields.map((s) => row[column(s)] as unknown));
      return {
        items,
        pageInfo: {
          hasNextPage: backwards ? !!args.before : more,
          hasPreviousPage: backwards ? more : !!args.after,
          startCursor: items.length ? cursorOf(items[0]) : null,
          endCursor: items.length ? cursorOf(items[items.length - 1]) : null,
        },
      };
    },
  };
}
