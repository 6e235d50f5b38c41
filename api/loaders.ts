/**
 * Per-request DataLoaders: every relation field of every row in a response is answered by one SQL statement per
 * relation (WHERE foreign_key = ANY($1), at most `limit` rows per parent through a window function), not one per row.
 */
import DataLoader from "dataloader";
import type { Database } from "./db";
import { column, entity, type EntitySpec, type FieldKind } from "./entities";

const SQL_ARRAY: Record<FieldKind, string> = { id: "text[]", hex: "text[]", text: "text[]", bigint: "numeric[]", int: "int[]", bool: "bool[]", json: "jsonb[]" };
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
      const rows = await this.db.query(`SELECT * FROM "${this.schema}"."${spec.table}" WHERE "${column(field)}" = ANY($1::${SQL_ARRAY[spec.fields[field].kind]})`, [keys]);
      const byKey = new Map(rows.map((r) => [String(r[column(field)]).toLowerCase(), r]));
      return keys.map((k) => byKey.get(k.toLowerCase()) ?? null);
    });
    return loader.load(String(key)) as Promise<Row | null>;
  }

  /** Up to `limit` rows of `type` per key whose `field` equals the key, in the entity's default order. */
  many(type: string, field: string, key: string | null | undefined, limit: number): Promise<Row[]> {
    if (key === null || key === undefined) return Promise.resolve([]);
    const spec = entity(type);
    const loader = this.loader(`many:${type}:${field}:${limit}`, async (keys: readonly string[]) => {
      const fk = `"${column(field)}"`;
      const order = orderColumns(spec);
      const rows = await this.db.query(
        `SELECT * FROM (SELECT t.*, row_number() OVER (PARTITION BY t.${fk} ORDER BY ${order}) AS __rank
           FROM "${this.schema}"."${spec.table}" t WHERE t.${fk} = ANY($1::${SQL_ARRAY[spec.fields[field].kind]})) ranked
         WHERE __rank <= $2 ORDER BY __rank`,
        [keys, limit],
      );
      const groups = new Map<string, Row[]>();
      for (const row of rows) {
        const k = String(row[column(field)]).toLowerCase();
        delete row.__rank;
        groups.set(k, [...(groups.get(k) ?? []), row]);
      }
      return keys.map((k) => groups.get(k.toLowerCase()) ?? []);
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

function orderColumns(spec: EntitySpec): string {
  return [spec.defaultOrder, ...spec.key.filter((k) => k !== spec.defaultOrder)].map((f) => `t."${column(f)}"`).join(", ");
}
