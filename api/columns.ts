/**
 * Which columns a relation page must read for the fields a request selects: each selected field's own column, the
 * columns a derived field or a relation reads (registered next to its resolver in resolvers.ts with `needs`), the
 * key and the default order. A wide child row (a charge has 16 columns) then costs Postgres, the wire and pg's row
 * parser only what is asked: `escrows { charges { id amount } }` reads 5 columns per charge, not all of them.
 * Any field not accounted for makes the answer `undefined`, which means every column (`SELECT *`): a resolver
 * added without its `needs` entry is slower, never wrong.
 */
import { Kind, type FieldNode, type FragmentDefinitionNode, type GraphQLResolveInfo, type SelectionSetNode } from "graphql";
import { column, entity } from "./entities";

const NEEDS = new Map<string, Map<string, string[]>>();

/** Declares that `type.field` (a relation or derived field) reads `columns` of its row. */
export function needs(type: string, field: string, columns: string[]): void {
  let fields = NEEDS.get(type);
  if (!fields) NEEDS.set(type, (fields = new Map()));
  fields.set(field, columns);
}

// graphql-js hands every row of a list the same fieldNodes array: one answer per field of a response, not per row.
const memo = new WeakMap<readonly unknown[], { type: string; columns: string[] | undefined }>();

/** The sorted column list the selection under `info` needs from rows of `type`, or undefined for all columns. */
export function selectedColumns(type: string, info: GraphQLResolveInfo | undefined): string[] | undefined {
  if (!info) return undefined;
  const known = memo.get(info.fieldNodes);
  if (known && known.type === type) return known.columns;
  const columns = columnsFor(type, info.fieldNodes, info.fragments);
  memo.set(info.fieldNodes, { type, columns });
  return columns;
}

/** The same for the field nodes of one selected field (api/tree.ts walks selections before any resolver runs). */
export function columnsFor(type: string, fieldNodes: readonly FieldNode[], fragments: Record<string, FragmentDefinitionNode>): string[] | undefined {
  const spec = entity(type);
  const columns = new Set<string>([...spec.key.map(column), column(spec.defaultOrder)]);
  const derived = NEEDS.get(type);
  const visit = (set: SelectionSetNode | undefined, depth: number): boolean => {
    // Deeper than this (fragments inside fragments) is not followed: every column, never a guess.
    if (!set || depth > 10) return false;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        const name = selection.name.value;
        if (name === "__typename") continue;
        const needed = spec.fields[name] ? [column(name)] : derived?.get(name);
        if (!needed) return false;
        for (const c of needed) columns.add(c);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        if (!visit(selection.selectionSet, depth + 1)) return false;
      } else {
        const fragment = fragments[selection.name.value];
        if (!fragment || !visit(fragment.selectionSet, depth + 1)) return false;
      }
    }
    return true;
  };
  for (const node of fieldNodes) if (!visit(node.selectionSet, 0)) return undefined;
  return [...columns].sort();
}

/** Every column a row of `type` may be read for: its fields' columns and those its derived fields declared. */
export function allColumns(type: string): string[] {
  const spec = entity(type);
  const columns = new Set<string>(Object.keys(spec.fields).map(column));
  for (const needed of NEEDS.get(type)?.values() ?? []) for (const c of needed) columns.add(c);
  return [...columns].sort();
}
