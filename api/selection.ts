/**
 * The executor's field collection (graphql-js `collectFields`, which graphql does not export): the fields one
 * object type's selection sets select, by response key, with same-key fields merged, @skip/@include honoured and
 * each named fragment spread once per collection. The row-cost model (cost.ts) and the relation trees (tree.ts)
 * both see a selection exactly as the executor will run it.
 */
import {
  getDirectiveValues,
  GraphQLIncludeDirective,
  GraphQLSkipDirective,
  isAbstractType,
  Kind,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLObjectType,
  type GraphQLSchema,
  type SelectionSetNode,
} from "graphql";

export function collectFields(
  schema: GraphQLSchema,
  type: GraphQLObjectType,
  sets: readonly SelectionSetNode[],
  fragments: Record<string, FragmentDefinitionNode>,
  variables: Record<string, unknown>,
): Map<string, FieldNode[]> {
  const included = (node: { directives?: readonly unknown[] }) => {
    if (!node.directives?.length) return true;
    const skip = getDirectiveValues(GraphQLSkipDirective, node as never, variables);
    if (skip?.if === true) return false;
    const include = getDirectiveValues(GraphQLIncludeDirective, node as never, variables);
    return include?.if !== false;
  };
  const applies = (typeCondition: string | undefined) => {
    if (!typeCondition || typeCondition === type.name) return true;
    const conditional = schema.getType(typeCondition);
    return !!conditional && isAbstractType(conditional) && schema.isSubType(conditional, type);
  };
  const fields = new Map<string, FieldNode[]>();
  const seen = new Set<string>();
  const collect = (set: SelectionSetNode) => {
    for (const s of set.selections) {
      if (!included(s)) continue;
      if (s.kind === Kind.FIELD) {
        const key = s.alias?.value ?? s.name.value;
        const list = fields.get(key);
        if (list) list.push(s);
        else fields.set(key, [s]);
      } else if (s.kind === Kind.INLINE_FRAGMENT) {
        if (applies(s.typeCondition?.name.value)) collect(s.selectionSet);
      } else {
        const name = s.name.value;
        if (seen.has(name)) continue;
        seen.add(name);
        const fragment = fragments[name];
        if (fragment && applies(fragment.typeCondition.name.value)) collect(fragment.selectionSet);
      }
    }
  };
  for (const set of sets) collect(set);
  return fields;
}

/** The selection sets of a field's nodes (a field selected twice under one key has two). */
export const selectionSets = (nodes: readonly FieldNode[]): SelectionSetNode[] => nodes.map((n) => n.selectionSet).filter((s): s is SelectionSetNode => !!s);
