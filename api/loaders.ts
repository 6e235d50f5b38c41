/**
 * Per-request DataLoaders: a relation field the root field's own statement did not read (api/tree.ts: relations
 * below a one-to-one hop, and the one-to-one hops themselves) is answered by one SQL statement per relation, not
 * one per row. A relation reads at most `limit` rows per parent: for each key, a LATERAL subquery
 * `fk = key ORDER BY <child's default order> LIMIT n` walks the index (fk, order, key) and stops after n rows. (A
 * window function over `fk = ANY(keys)` would read, and sort, every child row of every parent first.)
 */
import DataLoader from "dataloader";
import type { Database } from "./db";
import { column, entity, type EntitySpec, type FieldKind } from "./entities";

// A loader's SQL depends only on the entity, the field and, for relation pages, the selected columns (keys and limit
// are parameters): a small set, prepared (api/db.ts bounds how many texts one process prepares).
const PREPARED = { prepare: true } as const;
/** The SQL type of a key of each kind (a root row by key, api/resolvers.ts; arrays of them here). */
export const SQL_TYPE: Record<FieldKind, string> = { id: "text", hex: "text", text: "text", bigint: "numeric", int: "int", bool: "bool", json: "jsonb" };
const SQL_ARRAY = Object.fromEntries(Object.entries(SQL_TYPE).map(([kind, type]) => [kind, `${type}[]`])) as Record<FieldKind, string>;
type Row = Record<string, unknown>;

export class Loaders {
  private readonly loaders = new Map<string, DataLoader<string, unknown>>();

  constructor(
    private readonly db: Database,
    private readonly schema: string,
  ) {}

  /** Rows of `type` whose `field` equals the key (one row per key: a primary or unique key). */
  one(type: string, field: string, key: string | null | undefined): Promise<Row | null> {
    if (key === null || key === undefined) return Promise.resolve(null);
    const spec = entity(type);
    // Ponder stores addresses and hashes in lower case; callers may send checksummed ones.
    if (spec.fields[field].kind === "hex") key = String(key).toLowerCase();
    const loader = this.loader(`one:${type}:${field}`, async (keys: readonly string[]) => {
      const rows = await this.db.query(`SELECT * FROM "${this.schema}"."${spec.table}" WHERE "${column(field)}" = ANY($1::${SQL_ARRAY[spec.fields[field].kind]})`, [keys], PREPARED);
      const byKey = new Map(rows.map((r) => [String(r[column(field)]).toLowerCase(), r]));
      return keys.map((k) => byKey.get(k.toLowerCase()) ?? null);
    });
    return loader.load(String(key)) as Promise<Row | null>;
  }

  /**
   * Up to `limit` rows of `type` per key whose `field` equals the key, in the entity's default order; with `columns`
   * (api/columns.ts: what the request selects) only those columns and the foreign key, otherwise every column.
   */
  many(type: string, field: string, key: string | null | undefined, limit: number, columns?: string[]): Promise<Row[]> {
    if (key === null || key === undefined) return Promise.resolve([]);
    const spec = entity(type);
    const kind = spec.fields[field].kind;
    if (kind === "hex") key = String(key).toLowerCase();
    const fk = column(field);
    // Names from the entity table, never from the request: safe to splice.
    const select = columns ? [...new Set([...columns, fk])].map((c) => `t."${c}"`).join(", ") : "t.*";
    const loader = this.loader(`many:${type}:${field}:${limit}:${columns?.join(",") ?? "*"}`, async (keys: readonly string[]) => {
      const order = orderColumns(spec);
      // __rank numbers each parent's rows in the subquery's order, so grouping below keeps that order whatever the
      // join's output order is (the window runs over the n rows the index scan gives, already in order: no sort).
      const rows = await this.db.query(
        `SELECT c.* FROM unnest($1::${SQL_ARRAY[kind]}) AS k(key)
         CROSS JOIN LATERAL (
           SELECT ${select}, row_number() OVER (ORDER BY ${order}) AS __rank FROM "${this.schema}"."${spec.table}" t
            WHERE t."${fk}" = k.key ORDER BY ${order} LIMIT $2
         ) c`,
        [keys, limit],
        PREPARED,
      );
      const groups = new Map<string, Row[]>();
      for (const row of rows) {
        const k = String(row[fk]).toLowerCase();
        const group = groups.get(k);
        if (group) group.push(row);
        else groups.set(k, [row]);
      }
      return keys.map((k) => {
        const group = groups.get(k.toLowerCase()) ?? [];
        group.sort((a, b) => Number(a.__rank) - Number(b.__rank));
        for (const row of group) delete row.__rank;
        return group;
      });
    });
    return loader.load(String(key)) as Promise<Row[]>;
  }

  private loader(name: string, batch: (keys: readonly string[]) => Promise<unknown[]>): DataLoader<string, unknown> {
    let loader = this.loaders.get(name);
    if (!loader) {
      loader = new DataLoader(batch, { maxBatchSize: 1_000 });
      this.loaders.set(name, loader);
    }
    return loader;
  }
}

/** The child's default order, then its key: the order of a relation page and of its (fk, order, key) index. */
export function orderColumns(spec: EntitySpec, alias = "t"): string {
  return [spec.defaultOrder, ...spec.key.filter((k) => k !== spec.defaultOrder)].map((f) => `${alias}."${column(f)}"`).join(", ");
}
