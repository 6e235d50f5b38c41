/**
 * The row cost of a query, computed on the parsed, validated document with its variables before anything executes,
 * and the refusals that follow from it (a GraphQL error with a code and HTTP 400; no SQL runs):
 *
 *   QUERY_TOO_EXPENSIVE   the rows the query may read (every object field counts the product of the `limit`s on its
 *                         path, each aliased copy separately) exceed `maxRows`
 *   RELATION_LIMIT_EXCEEDED  a relation (a `limit` below the root) asks for more than `maxRelationLimit` rows
 *   RELATION_TOO_DEEP     more than `maxRelationDepth` object hops below the root field, or a type entered more than
 *                         `maxTypeRepeat` times on one path (listings{escrows{charges{escrow{listing{escrows...}}}}})
 *   RESPONSE_TOO_LARGE    (useResponseSizeCap, after execution) the serialised answer is larger than `maxResponseBytes`
 *
 * A `limit` is read as the executor would read it (graphql's own getArgumentValues: literal, variable, or the
 * argument's default in the schema), so the model follows the SDL; a list root field without a default falls back to
 * `defaultListSize` (what the resolvers use). A page wrapper's `limit` (listings(limit){items{...}}) applies to the
 * wrapper's list field, not to its pageInfo. Fields are collected like the executor collects them (api/selection.ts:
 * same response key merged, @skip/@include honoured, each fragment once per selection set), so a fragment spread many
 * times costs once and an alias costs again, as execution would.
 *
 * Hand-written rather than graphql-armor's costLimit (which ignores `limit`, the thing that decides how many rows a
 * query reads) or graphql-query-complexity (a new dependency, and it needs per-field estimator directives in the SDL
 * where this reads the arguments' defaults as they are).
 */
import {
  getArgumentValues,
  getNamedType,
  getNullableType,
  getVariableValues,
  GraphQLError,
  GraphQLList,
  isObjectType,
  Kind,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLObjectType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  visit,
} from "graphql";
import type { Plugin } from "graphql-yoga";
import { checkLimit } from "./list";
import { collectFields, selectionSets } from "./selection";
import { busyError, type HeavyGate } from "./heavy";

export interface CostLimits {
  /** Rows one response may read (the sum over object fields of the product of the limits on their path). */
  maxRows: number;
  /** Largest `limit` on a relation (a list field below the root). */
  maxRelationLimit: number;
  /** Object fields below the root field on one path. */
  maxRelationDepth: number;
  /** How often one object type may appear on one path (2 allows charges{escrow{...}} below an escrow). */
  maxTypeRepeat: number;
  /** Rows assumed for a list root field whose `limit` has no default in the schema (the resolvers' default). */
  defaultListSize: number;
  /** The serialised result's size cap, the last line of defence after the row model. */
  maxResponseBytes: number;
}

export interface Cost {
  rows: number;
  depth: number;
  /** The variables did not coerce: the executor refuses the request; such a cost is never remembered. */
  invalidVariables?: boolean;
}

/** Fields visited while measuring: beyond this the document itself is the attack (nested aliased fragments). */
const MAX_VISITS = 20_000;

export function costError(message: string, code: string, extensions: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, { extensions: { code, ...extensions, http: { status: 400 } } });
}

/** The cost of `operationName` in `document` with `rawVariables`; throws a coded GraphQLError when over a limit. */
export function measureCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  rawVariables: Record<string, unknown> | null | undefined,
  limits: CostLimits,
): Cost {
  const fragments: Record<string, FragmentDefinitionNode> = {};
  const operations: OperationDefinitionNode[] = [];
  for (const d of document.definitions) {
    if (d.kind === Kind.FRAGMENT_DEFINITION) fragments[d.name.value] = d;
    else if (d.kind === Kind.OPERATION_DEFINITION) operations.push(d);
  }
  const operation = operationName ? operations.find((o) => o.name?.value === operationName) : operations.length === 1 ? operations[0] : undefined;
  if (!operation) return { rows: 0, depth: 0 }; // the executor reports the missing or ambiguous operation
  const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], rawVariables ?? {}, { maxErrors: 1 });
  if (coerced.errors) return { rows: 0, depth: 0, invalidVariables: true }; // the executor reports them, before any resolver runs
  const variables = coerced.coerced;
  const root = operation.operation === "query" ? schema.getQueryType() : operation.operation === "subscription" ? schema.getSubscriptionType() : schema.getMutationType();
  if (!root) return { rows: 0, depth: 0 };

  let rows = 0;
  let maxDepth = 0;
  let visits = 0;
  const typesOnPath = new Map<string, number>();

  const walk = (type: GraphQLObjectType, sets: readonly SelectionSetNode[], product: number, pending: number | undefined, depth: number, isRoot: boolean) => {
    for (const nodes of collectFields(schema, type, sets, fragments, variables).values()) {
      if (++visits > MAX_VISITS) throw costError(`the query selects more than ${MAX_VISITS} fields`, "QUERY_TOO_EXPENSIVE");
      const name = nodes[0].name.value;
      if (name.startsWith("__")) continue; // __typename and introspection: bounded by the schema, not by the data
      const def = type.getFields()[name];
      if (!def) continue; // validation already refused unknown fields
      const returned = getNamedType(def.type);
      if (!isObjectType(returned)) continue; // scalars and enums read no rows of their own
      const isList = getNullableType(def.type) instanceof GraphQLList;
      let multiplier = 1;
      let childPending: number | undefined;
      const limit = limitOf(def, nodes[0], variables);
      if (limit !== undefined) {
        // The resolvers' own range check first (LIMIT_OUT_OF_RANGE, 1..1000), so a wrong limit gets the same answer
        // whether or not the query is also too expensive.
        const n = limit === null ? limits.defaultListSize : checkLimit(limit);
        if (!isRoot && n > limits.maxRelationLimit) {
          throw costError(`${type.name}.${name}: limit ${n} exceeds the relation limit of ${limits.maxRelationLimit}`, "RELATION_LIMIT_EXCEEDED", { field: `${type.name}.${name}`, limit: n, max: limits.maxRelationLimit });
        }
        if (isList) multiplier = n;
        else childPending = n; // a page: its items list carries the limit, its pageInfo does not
      } else if (isList) multiplier = pending ?? limits.defaultListSize;
      const here = product * Math.max(1, multiplier);
      rows += here;
      if (rows > limits.maxRows) {
        throw costError(`the query may read ${rows > 1e12 ? "over 10^12" : Math.round(rows)} rows (at ${type.name}.${name}); at most ${limits.maxRows} per request: lower the limits or split the query`, "QUERY_TOO_EXPENSIVE", { maxRows: limits.maxRows });
      }
      const childDepth = isRoot ? 0 : depth + 1;
      if (childDepth > limits.maxRelationDepth) {
        throw costError(`${type.name}.${name} is ${childDepth} relations below the root field; at most ${limits.maxRelationDepth}`, "RELATION_TOO_DEEP", { max: limits.maxRelationDepth });
      }
      const seenTimes = (typesOnPath.get(returned.name) ?? 0) + 1;
      if (seenTimes > limits.maxTypeRepeat) {
        throw costError(`${returned.name} appears ${seenTimes} times on one path (at ${type.name}.${name}); at most ${limits.maxTypeRepeat}: a relation cycle`, "RELATION_TOO_DEEP", { max: limits.maxTypeRepeat });
      }
      maxDepth = Math.max(maxDepth, childDepth);
      typesOnPath.set(returned.name, seenTimes);
      walk(returned, selectionSets(nodes), here, childPending, childDepth, false);
      typesOnPath.set(returned.name, seenTimes - 1);
    }
  };

  walk(root, [operation.selectionSet], 1, undefined, 0, true);
  return { rows, depth: maxDepth };
}

/**
 * The `limit` the executor will pass: a number, `null` when the field takes a limit but none is given and the schema
 * has no default, or undefined when the field takes no `limit` at all.
 */
function limitOf(def: GraphQLField<unknown, unknown>, node: FieldNode, variables: Record<string, unknown>): number | null | undefined {
  const arg = def.args.find((a) => a.name === "limit");
  if (!arg) return undefined;
  let value: unknown;
  try {
    // `limit` alone: the other arguments (a bad `where`) must not change what the limit reads as, since the cost
    // is remembered keyed by the variables of limits and directives only.
    value = getArgumentValues({ ...def, args: [arg] }, node, variables).limit;
  } catch {
    return null; // a bad argument: the executor refuses it before the resolver runs
  }
  return typeof value === "number" ? value : null;
}

/**
 * measureCost, remembered per parsed document (yoga's parser cache hands the same DocumentNode to repeated queries)
 * and operation + the variables the cost depends on: measuring costs 0.5-1.6 ms, most of a small query's CPU. Only
 * variables read by a `limit` argument or a directive (@skip/@include) change the cost, so a document sent with a
 * new `$address` each time (the web app's per-renter query) is measured once, not per request. Bounded per document.
 */
const measured = new WeakMap<DocumentNode, { costVariables: string[]; costs: Map<string, Cost | GraphQLError> }>();

/** Names of the variables used inside `limit` arguments or directive arguments anywhere in the document. */
export function costVariables(document: DocumentNode): string[] {
  const names = new Set<string>();
  let inside = 0; // > 0 while visiting a `limit` argument or a directive
  visit(document, {
    Argument: {
      enter: (node) => void (node.name.value === "limit" && inside++),
      leave: (node) => void (node.name.value === "limit" && inside--),
    },
    Directive: { enter: () => void inside++, leave: () => void inside-- },
    Variable: (node) => void (inside > 0 && names.add(node.name.value)),
  });
  return [...names].sort();
}

function cachedCost(schema: GraphQLSchema, document: DocumentNode, operationName: string | null | undefined, variables: Record<string, unknown> | null | undefined, limits: CostLimits): Cost {
  let perDocument = measured.get(document);
  if (!perDocument) measured.set(document, (perDocument = { costVariables: costVariables(document), costs: new Map() }));
  let key: string;
  try {
    key = `${operationName ?? ""}\u0000${JSON.stringify(perDocument.costVariables.map((name) => (variables && Object.hasOwn(variables, name) ? [variables[name]] : [])))}`;
  } catch {
    return measureCost(schema, document, operationName, variables, limits); // unserialisable variables: no cache
  }
  let entry = perDocument.costs.get(key);
  if (entry === undefined) {
    try {
      entry = measureCost(schema, document, operationName, variables, limits);
    } catch (error) {
      if (!(error instanceof GraphQLError)) throw error;
      entry = error;
    }
    // Bad variables measure as nothing (the executor refuses them): remembering that would let the same limits
    // with good variables skip the model.
    if (!(entry instanceof GraphQLError) && entry.invalidVariables) return entry;
    if (perDocument.costs.size >= 256) perDocument.costs.clear();
    perDocument.costs.set(key, entry);
  }
  if (entry instanceof GraphQLError) throw entry;
  return entry;
}

/**
 * A row-cost refusal the server turns into HTTP 400; also used for the response-size cap. With `heavy`, a query
 * above its row threshold first takes a slot of that process-wide gate (heavy.ts), released once its answer is built.
 */
export function useRowCost(limits: CostLimits, onRefused?: (code: string) => void, heavy?: HeavyGate): Plugin {
  return {
    async onExecute({ args, setResultAndStopExecution }) {
      let cost: Cost;
      try {
        cost = cachedCost(args.schema, args.document, args.operationName, args.variableValues as Record<string, unknown>, limits);
      } catch (error) {
        if (!(error instanceof GraphQLError)) throw error;
        onRefused?.(String(error.extensions.code));
        setResultAndStopExecution({ errors: [error] });
        return;
      }
      let release: (() => void) | undefined;
      if (heavy && cost.rows > heavy.limits.rows) {
        const slot = await heavy.acquire();
        if (!slot) {
          onRefused?.("SERVER_BUSY");
          setResultAndStopExecution({ errors: [busyError(heavy.limits)] });
          return;
        }
        release = slot;
        // Execution errors come back as results; should one ever throw instead, the slot still returns.
        setTimeout(slot, 120_000).unref();
      }
      // Execution errors come back as results; the slot is returned once the answer is built.
      return release ? { onExecuteDone: () => release?.() } : undefined;
    },
  };
}

/**
 * The response-size cap, the last line of defence after the row model: it bounds what is sent even when rows are
 * wide (long metadata). Read off the serialised answer's Content-Length (yoga serialises once; measuring by a second
 * JSON.stringify cost a large answer's build time again), and answered as a coded 400 in the same media type.
 * Streams (subscriptions, incremental delivery) carry no length and are not capped here.
 */
export function useResponseSizeCap(maxBytes: number, onRefused?: (code: string) => void): Plugin {
  const refusal = (bytes: number) => {
    onRefused?.("RESPONSE_TOO_LARGE");
    return costError(`the response would be ${bytes} bytes; at most ${maxBytes}: lower the limits`, "RESPONSE_TOO_LARGE", { maxBytes });
  };
  return {
    // A single result asked for as a stream (Accept: text/event-stream or multipart/mixed) is sent without a
    // length: measured here instead, for those requests only.
    onResultProcess({ request, result, setResult }) {
      if (!result || Array.isArray(result) || Symbol.asyncIterator in (result as object)) return;
      const accept = request.headers.get("accept") ?? "";
      if (!/text\/event-stream|multipart\/mixed/i.test(accept)) return;
      const bytes = Buffer.byteLength(JSON.stringify(result));
      if (bytes > maxBytes) setResult({ errors: [refusal(bytes)] } as never);
    },
    onResponse({ response, setResponse, fetchAPI }) {
      const length = Number(response.headers.get("content-length") ?? 0);
      if (!(length > maxBytes)) return;
      const error = refusal(length);
      const { http: _http, ...extensions } = error.extensions;
      // The answer's own headers (CORS among them: a browser must be able to read the refusal), a new length.
      const headers: Record<string, string> = {};
      response.headers.forEach((value, name) => {
        if (name.toLowerCase() !== "content-length") headers[name] = value;
      });
      setResponse(new fetchAPI.Response(JSON.stringify({ errors: [{ message: error.message, extensions }] }), { status: 400, headers }));
    },
  };
}

/** Whether a result may be stored by the response cache: never one over the size cap (every hit would be refused). */
export function withinResponseSize(result: unknown, maxBytes: number): boolean {
  try {
    return Buffer.byteLength(JSON.stringify(result)) <= maxBytes;
  } catch {
    return false;
  }
}
