/**
 * Relation trees: a root field's row (or page of rows) and the relation pages selected below it, read by ONE SQL
 * statement instead of one per level. `account(address) { escrows { charges } }` was three statements (account,
 * its escrows, their charges), each a round trip with its own parse, bind and row decoding in the API and an
 * executor start in Postgres; at 1M escrows that per-statement cost, not the rows, bounded the per-renter query's
 * throughput (bench/results/api-scale.md).
 *
 * Each selected one-to-many relation (entities.ts RELATIONS) becomes a correlated subquery that reads at most its
 * `limit` rows per parent through the (fk, order, key) index, in the child's default order, and aggregates them
 * into a JSON array under the column `__tree_<response key>`; relations below it nest the same way. Values keep
 * the types pg gives a plain row (numerics as decimal strings, ints and booleans as JSON numbers and booleans,
 * jsonb as objects), so the resolvers cannot tell a tree row from a loader row. The relation resolver
 * (resolvers.ts) answers from `__tree_<key>` when present and falls back to the DataLoader otherwise: relations
 * below a one-to-one hop (escrow { listing { escrows } }), a selection this module does not follow, or an
 * out-of-range limit (the loader then reports it) take the loader path, never a wrong answer.
 */
import { getArgumentValues, getNamedType, type FieldNode, type GraphQLObjectType, type GraphQLResolveInfo } from "graphql";
import { allColumns, columnsFor } from "./columns";
import { column, entity, RELATIONS, type EntitySpec, type RelationSpec } from "./entities";
import { MAX_RELATION_LIMIT } from "./list";
import { orderColumns } from "./loaders";
import { collectFields, selectionSets } from "./selection";

const TREE_PREFIX = "__tree_";

interface TreeBranch {
  /** The response key (alias or field name) the rows are answered under. */
  key: string;
  relation: RelationSpec;
  limit: number;
  columns: string[];
  children: TreeBranch[];
}

/** json_build_object takes at most 100 arguments: 50 keys. */
const MAX_KEYS = 50;
const MAX_IDENTIFIER = 63;
/** Nesting followed at most (the cost model refuses deeper relation paths before any resolver runs). */
const MAX_DEPTH = 6;

/**
 * The SQL select-list entries (`, (subquery) AS "__tree_x"`) for the relations selected under the root field in
 * `info` (with `listItems`, under its page's `items`), whose rows come from the table aliased `t`; empty when
 * nothing is selected that a tree can answer.
 */
export function treeSelect(type: string, info: GraphQLResolveInfo, schema: string, listItems = false): string {
  const objectType = info.schema.getType(type) as GraphQLObjectType | undefined;
  if (!objectType) return "";
  // A page's rows sit under its `items` field.
  const nodes = listItems ? itemsNodes(info) : info.fieldNodes;
  if (!nodes) return "";
  const branches = collectBranches(objectType, nodes, info, 0);
  return branches.map((b) => `, ${branchSql(b, "t", schema, 0)} AS "${TREE_PREFIX}${b.key}"`).join("");
}

/** The rows of the relation answered under response `key` of `row`, when the tree read them. */
export function treeRows(row: Record<string, unknown>, key: string | number): Record<string, unknown>[] | undefined {
  const rows = row[TREE_PREFIX + String(key)];
  return Array.isArray(rows) ? rows : undefined;
}

/** The `items` field nodes of a page; undefined when `items` is selected under more than one response key (or none). */
function itemsNodes(info: GraphQLResolveInfo): FieldNode[] | undefined {
  const page = getNamedType(info.returnType) as GraphQLObjectType;
  const items = [...collectFields(info.schema, page, selectionSets(info.fieldNodes), info.fragments, info.variableValues).values()].filter((nodes) => nodes[0].name.value === "items");
  // `items { escrows(limit: 1) } a: items { escrows(limit: 5) }` share their rows: one tree cannot answer both.
  return items.length === 1 ? items[0] : undefined;
}

function collectBranches(type: GraphQLObjectType, fieldNodes: readonly FieldNode[], info: GraphQLResolveInfo, depth: number): TreeBranch[] {
  if (depth >= MAX_DEPTH) return [];
  const branches: TreeBranch[] = [];
  for (const [key, nodes] of collectFields(info.schema, type, selectionSets(fieldNodes), info.fragments, info.variableValues)) {
    const relation = RELATIONS.find((r) => r.parent === type.name && r.field === nodes[0].name.value);
    // Postgres cuts identifiers at 63 bytes: two long aliases could meet under one column name.
    if (!relation || TREE_PREFIX.length + key.length > MAX_IDENTIFIER) continue;
    const def = type.getFields()[relation.field];
    let limit: unknown;
    try {
      limit = getArgumentValues(def, nodes[0], info.variableValues).limit;
    } catch {
      continue; // the executor reports the bad argument
    }
    // Out of range: the loader path raises the resolvers' own LIMIT_OUT_OF_RANGE at the right path.
    if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1 || limit > MAX_RELATION_LIMIT) continue;
    const childType = info.schema.getType(relation.child) as GraphQLObjectType;
    const columns = columnsFor(relation.child, nodes, info.fragments) ?? allColumns(relation.child);
    const children = collectBranches(childType, nodes, info, depth + 1);
    if (columns.length + children.length > MAX_KEYS) continue;
    branches.push({ key, relation, limit, columns, children });
  }
  return branches;
}

/** Per entity, the columns whose values JSON carries as they are; the rest (numerics, ids) go as text. */
const plainColumns = new Map<EntitySpec, Set<string>>();

/** Numerics (and ids, which may be numeric) as text: a JSON number would lose digits past 2^53. */
function valueSql(spec: EntitySpec, alias: string, col: string): string {
  let plain = plainColumns.get(spec);
  if (!plain) {
    const kinds = new Set(["int", "bool", "json", "text", "hex"]);
    plain = new Set(Object.entries(spec.fields).filter(([, f]) => kinds.has(f.kind)).map(([name]) => column(name)));
    plainColumns.set(spec, plain);
  }
  return plain.has(col) ? `${alias}."${col}"` : `${alias}."${col}"::text`;
}

function branchSql(branch: TreeBranch, parent: string, schema: string, depth: number): string {
  const spec = entity(branch.relation.child);
  const alias = `r${depth}`;
  const order = orderColumns(spec, alias);
  const pairs = branch.columns.map((c) => `'${c}', ${valueSql(spec, alias, c)}`);
  for (const child of branch.children) pairs.push(`'${TREE_PREFIX}${child.key}', ${branchSql(child, alias, schema, depth + 1)}`);
  // json_agg takes the rows in the order the ordered, limited subquery yields them (one scan feeding one aggregate,
  // never parallel at this size). An ORDER BY inside the aggregate (with a row_number to sort by) cost 12 % more
  // Postgres time per per-renter query (pgbench, random renters at 1M escrows: 0.82 against 0.71 ms);
  // test/e2e/api-read.test.ts checks every relation's order against the root lists.
  return (
    `(SELECT coalesce(json_agg(x.j), '[]'::json) FROM (` +
    `SELECT json_build_object(${pairs.join(", ")}) AS j ` +
    `FROM "${schema}"."${spec.table}" ${alias} WHERE ${alias}."${column(branch.relation.fk)}" = ${parent}."${column(branch.relation.parentField)}" ` +
    `ORDER BY ${order} LIMIT ${branch.limit}) x)`
  );
}
