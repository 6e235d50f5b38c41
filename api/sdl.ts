/**
 * The schema: api/schema.graphql (the hand-written types) plus, per entity, what entities.ts determines: its filter
 * input, ordering enum, page type and the two root fields (one row by key, a page of rows).
 */
import fs from "node:fs";
import path from "node:path";
import { ENTITIES, type FieldKind } from "./entities";
import { suffixesFor } from "./list";

const GRAPHQL_TYPE: Record<FieldKind, string> = { id: "String", hex: "String", text: "String", bigint: "BigInt", int: "Int", bool: "Boolean", json: "JSON" };

export function typeDefs(): string {
  const parts = [fs.readFileSync(path.join(__dirname, "schema.graphql"), "utf8")];
  for (const e of ENTITIES) {
    const filters: string[] = [];
    for (const [name, field] of Object.entries(e.fields)) {
      for (const suffix of suffixesFor(e, field)) {
        const t = GRAPHQL_TYPE[field.kind];
        filters.push(`  ${name}${suffix}: ${suffix === "_in" ? `[${t}!]` : t}`);
      }
    }
    for (const n of e.orderBy) {
      // Keyset pagination compares (field, key) tuples: a NULL would drop rows from every page.
      const f = e.fields[n];
      if (!f || f.nullable || f.kind === "json") throw new Error(`${e.type}.orderBy: ${n} is not a non-null scalar field`);
    }
    if (!e.orderBy.includes(e.defaultOrder)) throw new Error(`${e.type}: the default order ${e.defaultOrder} is not in orderBy`);
    const orderable = e.orderBy.map((n) => `  ${n}`);
    const keyArgs = e.key.map((k) => `${k}: ${GRAPHQL_TYPE[e.fields[k].kind]}!`).join(", ");
    parts.push(`input ${e.type}Filter {\n${filters.join("\n")}\n}
enum ${e.type}OrderBy {\n${orderable.join("\n")}\n}
type ${e.type}Page {\n  items: [${e.type}!]!\n  pageInfo: PageInfo!\n}
extend type Query {
  ${e.single}(${keyArgs}): ${e.type}
  ${e.list}(where: ${e.type}Filter, orderBy: ${e.type}OrderBy, orderDirection: OrderDirection, after: String, before: String, limit: Int): ${e.type}Page!
}`);
  }
  return parts.join("\n\n");
}
