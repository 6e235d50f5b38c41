/**
 * OpenRouter-style routing preferences (https://openrouter.ai/docs, "provider routing"), read from the OpenAI request
 * body the renter signed. The body is forwarded to the provider byte for byte (the renter's authorization signs
 * those exact bytes and the gateway checks it), so these fields reach the gateway too, which ignores them.
 *
 * The candidates are always the renter's own escrows (one per authorization it sent); these preferences only filter
 * and order them, on top of the X-PRSM-Category / -Listing / -Max-Price headers, which keep working.
 *
 * Provider identifiers (in `provider.order`, `only`, `ignore`):
 *   - a provider address `0x…` (any case): every listing of that provider;
 *   - a listing id, as a number, a decimal string ("12") or "listing-12": that one listing.
 * Model ids (in `model` and `models`):
 *   - "listing-<id>": that one listing;
 *   - a category name (language, image, code, speech, embedding, other): any listing of that category;
 *   - anything else: the model name a listing's gateway serves (GET /v1/info `model`, e.g. "prsm-demo-nlp").
 *   `models` entries must match: an entry no candidate matches is passed over for the next one. The request's own
 *   `model` is tried first, but only if it names something: every OpenAI client sends one ("gpt-4o" from a default
 *   configuration), and the escrows already say what the renter pays for, so a plain name no candidate serves is
 *   ignored. "listing-<id>" and category names in `model` always apply.
 *
 * `provider` fields:
 *   order            providers tried first, in this order; the other candidates follow (ranked) unless
 *                    allow_fallbacks is false
 *   only / ignore    allowlist / denylist of providers
 *   allow_fallbacks  default true; false: only the `order` providers are tried, or, without `order`, only the
 *                    first-ranked candidate. It applies within each model of the `models` list: that list is a
 *                    fallback of its own, as on OpenRouter
 *   sort             "price" (cheapest first), "latency" (lowest measured latency first), "throughput" (most
 *                    successful answers per second first: the orchestrator measures calls, not tokens); unset:
 *                    the default ranking (price x latency / success rate, ranking.ts)
 *   max_price        the highest price per unit a listing may charge, in FTNS wei (1e-18 FTNS) per billing unit,
 *                    NOT OpenRouter's dollars per million tokens. Either one integer (a number up to 2^53 or a
 *                    decimal string) for every unit, or an object { prompt, completion, request, second }: a
 *                    token-billed listing charges one price for prompt and completion tokens alike, so it must be
 *                    within both `prompt` and `completion` (each if given); `request` bounds request-billed
 *                    listings, `second` second-billed ones; a unit without a bound is not bounded.
 * Any other `provider` field is refused (400) rather than silently not honoured (e.g. OpenRouter's
 * `data_collection`: PRSM cannot promise it).
 *
 * Groups are formed by model (first matching model id), filtered, ordered within the group, and tried group after
 * group; the orchestrator's attempt loop fails over along that one list.
 */
import { CATEGORIES } from "../../config/parameters";
import { BadRequest, WorkerError } from "../shared/errors";
import { UNIT_NAMES } from "../provider-gateway/gateway";
import type { ServiceStats } from "./ranking";
import type { ServedListing } from "./registry";

export type ProviderRef = { kind: "address"; address: string } | { kind: "listing"; listingId: bigint };
export type ModelRef = { kind: "listing"; listingId: bigint } | { kind: "category"; category: number } | { kind: "name"; name: string };
export type Sort = "price" | "latency" | "throughput";

/** Per billing unit (0 token, 1 request, 2 second): the highest price per unit in FTNS wei; absent = unbounded. */
export type MaxPrice = Partial<Record<0 | 1 | 2, bigint>>;

export interface ModelChoice {
  ref: ModelRef;
  /** The request's own `model`, which is ignored when it is a plain name no candidate serves. */
  lenient: boolean;
}

export interface RoutingPreferences {
  order: ProviderRef[];
  only?: ProviderRef[];
  ignore: ProviderRef[];
  allowFallbacks: boolean;
  sort?: Sort;
  maxPrice?: MaxPrice;
  models: ModelChoice[];
}

/** What routing needs of a candidate (the orchestrator's Candidate has it). */
export interface RoutableCandidate {
  listingId: bigint;
  /** The escrow's price per unit (fixed when it opened), which is what the renter pays. */
  pricePerUnit: bigint;
  served: { listing: { provider: string; category: number; unit: number }; model?: string };
}

export const NO_PREFERENCES: RoutingPreferences = { order: [], ignore: [], allowFallbacks: true, models: [] };

const PROVIDER_FIELDS = ["order", "only", "ignore", "allow_fallbacks", "sort", "max_price"];
const SORTS: readonly Sort[] = ["price", "latency", "throughput"];
const MAX_PRICE_UNITS: Record<string, (0 | 1 | 2)[]> = { prompt: [0], completion: [0], request: [1], second: [2] };
const MAX_LIST = 256;
const MAX_MODELS = 32;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const LISTING = /^(?:listing-)?([1-9]\d{0,19})$/;
const UINT = /^\d{1,78}$/;

function providerRef(value: unknown, field: string): ProviderRef {
  if (typeof value === "number" && Number.isSafeInteger(value) && value > 0) return { kind: "listing", listingId: BigInt(value) };
  if (typeof value === "string") {
    if (ADDRESS.test(value)) return { kind: "address", address: value.toLowerCase() };
    const m = LISTING.exec(value);
    if (m) return { kind: "listing", listingId: BigInt(m[1]!) };
  }
  throw new BadRequest(`${field} must be a provider address (0x and 40 hex digits) or a listing id (12, "12" or "listing-12")`);
}

function providerList(value: unknown, field: string): ProviderRef[] {
  if (!Array.isArray(value)) throw new BadRequest(`${field} must be an array of provider addresses or listing ids`);
  if (value.length > MAX_LIST) throw new BadRequest(`${field} has more than ${MAX_LIST} entries`);
  return value.map((v, i) => providerRef(v, `${field}[${i}]`));
}

function modelRef(value: unknown, field: string): ModelRef {
  if (typeof value !== "string" || value.length === 0 || value.length > 256) throw new BadRequest(`${field} must be a non-empty model id (at most 256 characters)`);
  const m = /^listing-([1-9]\d{0,19})$/.exec(value);
  if (m) return { kind: "listing", listingId: BigInt(m[1]!) };
  if (/^listing-/.test(value)) throw new BadRequest(`${field} must be listing-<id> with a positive integer id`);
  const category = CATEGORIES.indexOf(value);
  if (category >= 0) return { kind: "category", category };
  return { kind: "name", name: value };
}

function price(value: unknown, field: string): bigint {
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  if (typeof value === "string" && UINT.test(value)) return BigInt(value);
  throw new BadRequest(`${field} must be a price per unit in FTNS wei: a non-negative integer (a decimal string above 2^53)`);
}

function maxPrice(value: unknown): MaxPrice {
  if (typeof value !== "object" || value === null) return { 0: price(value, "provider.max_price"), 1: price(value, "provider.max_price"), 2: price(value, "provider.max_price") };
  if (Array.isArray(value)) throw new BadRequest("provider.max_price must be a price per unit or an object { prompt, completion, request, second }");
  const limits: MaxPrice = {};
  for (const [key, v] of Object.entries(value)) {
    const units = MAX_PRICE_UNITS[key];
    if (!units) throw new BadRequest(`provider.max_price.${key} is not supported (use prompt, completion, request or second)`);
    const p = price(v, `provider.max_price.${key}`);
    for (const unit of units) if (limits[unit] === undefined || p < limits[unit]!) limits[unit] = p;
  }
  return limits;
}

/** Reads `provider` and `models` (and `model`) from a request body already checked to be an object; 400 names the field. */
export function parseRouting(body: unknown): RoutingPreferences {
  const b = body as Record<string, unknown>;
  const prefs: RoutingPreferences = { order: [], ignore: [], allowFallbacks: true, models: [] };
  if (typeof b.model === "string" && b.model.length > 0 && b.model.length <= 256) {
    const ref = modelRef(b.model, "model");
    prefs.models.push({ ref, lenient: ref.kind === "name" });
  }
  if (b.models !== undefined) {
    if (!Array.isArray(b.models)) throw new BadRequest("models must be an array of model ids");
    if (b.models.length > MAX_MODELS) throw new BadRequest(`models has more than ${MAX_MODELS} entries`);
    b.models.forEach((m, i) => prefs.models.push({ ref: modelRef(m, `models[${i}]`), lenient: false }));
  }
  const p = b.provider;
  if (p === undefined) return prefs;
  if (typeof p !== "object" || p === null || Array.isArray(p)) throw new BadRequest("provider must be an object of routing preferences");
  const o = p as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!PROVIDER_FIELDS.includes(key)) throw new BadRequest(`provider.${key} is not supported (supported: ${PROVIDER_FIELDS.join(", ")})`);
  }
  // JSON null means "not set", as OpenRouter's SDKs send it.
  if (o.order != null) prefs.order = providerList(o.order, "provider.order");
  if (o.only != null) prefs.only = providerList(o.only, "provider.only");
  if (o.ignore != null) prefs.ignore = providerList(o.ignore, "provider.ignore");
  if (o.allow_fallbacks != null) {
    if (typeof o.allow_fallbacks !== "boolean") throw new BadRequest("provider.allow_fallbacks must be true or false");
    prefs.allowFallbacks = o.allow_fallbacks;
  }
  if (o.sort != null) {
    if (!SORTS.includes(o.sort as Sort)) throw new BadRequest(`provider.sort must be one of ${SORTS.join(", ")}`);
    prefs.sort = o.sort as Sort;
  }
  if (o.max_price != null) prefs.maxPrice = maxPrice(o.max_price);
  return prefs;
}

export function matchesProvider(ref: ProviderRef, c: RoutableCandidate): boolean {
  return ref.kind === "listing" ? ref.listingId === c.listingId : ref.address === c.served.listing.provider.toLowerCase();
}

export function matchesModel(ref: ModelRef, c: RoutableCandidate): boolean {
  if (ref.kind === "listing") return ref.listingId === c.listingId;
  if (ref.kind === "category") return ref.category === c.served.listing.category;
  return ref.name === c.served.model;
}

export interface Exclusion {
  listingId: string;
  reason: "provider-not-allowed" | "provider-ignored" | "over-max-price" | "model-not-requested" | "not-in-order";
}

function sortKey(sort: Sort, stats: ServiceStats, c: RoutableCandidate): number {
  if (sort === "latency") return stats.expectedLatencyMs(c.listingId);
  if (sort === "throughput") return -stats.throughput(c.listingId);
  return 0; // price is compared as bigint below
}

function ordered<T extends RoutableCandidate>(group: T[], prefs: RoutingPreferences, stats: ServiceStats, excluded: Exclusion[]): T[] {
  // The default ranking first, so that it breaks the ties of `sort` and of `order` (Array.prototype.sort is stable).
  let list = stats.rank(group);
  const sort = prefs.sort;
  if (sort === "price") list.sort((a, b) => (a.pricePerUnit < b.pricePerUnit ? -1 : a.pricePerUnit > b.pricePerUnit ? 1 : 0));
  else if (sort) {
    const keys = new Map(list.map((c) => [c, sortKey(sort, stats, c)]));
    list.sort((a, b) => keys.get(a)! - keys.get(b)!);
  }
  if (prefs.order.length > 0) {
    const rankOf = (c: T) => {
      const i = prefs.order.findIndex((ref) => matchesProvider(ref, c));
      return i < 0 ? Infinity : i;
    };
    list = list.map((c) => ({ c, r: rankOf(c) })).sort((a, b) => (a.r === b.r ? 0 : a.r < b.r ? -1 : 1)).map(({ c }) => c);
    if (!prefs.allowFallbacks) {
      for (const c of list) if (rankOf(c) === Infinity) excluded.push({ listingId: c.listingId.toString(), reason: "not-in-order" });
      list = list.filter((c) => rankOf(c) !== Infinity);
    }
  } else if (!prefs.allowFallbacks && list.length > 1) {
    for (const c of list.slice(1)) excluded.push({ listingId: c.listingId.toString(), reason: "not-in-order" });
    list = list.slice(0, 1);
  }
  return list;
}

/**
 * The candidates in the order they are to be tried, each once. Throws 422 `no-candidate` (naming why each was left
 * out) when the preferences leave none.
 */
export function applyRouting<T extends RoutableCandidate>(candidates: T[], prefs: RoutingPreferences, stats: ServiceStats): T[] {
  const excluded: Exclusion[] = [];
  const exclude = (c: T, reason: Exclusion["reason"]) => excluded.push({ listingId: c.listingId.toString(), reason });
  const models = prefs.models.filter((m) => !m.lenient || candidates.some((c) => matchesModel(m.ref, c))).map((m) => m.ref);
  const groups: T[][] = models.length > 0 ? models.map(() => []) : [[]];
  for (const c of candidates) {
    if (prefs.only && !prefs.only.some((ref) => matchesProvider(ref, c))) exclude(c, "provider-not-allowed");
    else if (prefs.ignore.some((ref) => matchesProvider(ref, c))) exclude(c, "provider-ignored");
    else if (prefs.maxPrice?.[c.served.listing.unit as 0 | 1 | 2] !== undefined && c.pricePerUnit > prefs.maxPrice[c.served.listing.unit as 0 | 1 | 2]!) {
      exclude(c, "over-max-price");
    } else if (models.length === 0) groups[0]!.push(c);
    else {
      const i = models.findIndex((ref) => matchesModel(ref, c));
      if (i < 0) exclude(c, "model-not-requested");
      else groups[i]!.push(c);
    }
  }
  const result = groups.flatMap((group) => ordered(group, prefs, stats, excluded));
  if (result.length === 0) {
    throw new WorkerError("no listing matches the routing preferences (provider, models, model)", "no-candidate", 422, { excluded });
  }
  return result;
}

/**
 * GET /v1/models: every rentable listing (active, served by a gateway that proved its provider key), in OpenAI's
 * list format with PRSM's fields beside the standard ones. `id` is the model id routing matches ("listing-<id>");
 * prices are FTNS wei per billing unit, as decimal strings (they exceed 2^53); `pricing` repeats the price in
 * OpenRouter's shape (prompt and completion for token-billed listings, else request or second); `latencyMs` is
 * null until a call succeeded.
 */
export function modelList(served: ServedListing[], stats: ServiceStats) {
  const data = served
    .filter((s) => s.listing.status === 1)
    .sort((a, b) => (a.listingId < b.listingId ? -1 : 1))
    .map((s) => {
      const o = stats.observation(s.listingId);
      const price = s.listing.pricePerUnit.toString();
      const unit = UNIT_NAMES[s.listing.unit] ?? "token";
      return {
        id: `listing-${s.listingId}`,
        object: "model" as const,
        created: s.since,
        owned_by: s.listing.provider,
        name: s.model,
        listingId: s.listingId.toString(),
        provider: s.listing.provider,
        category: CATEGORIES[s.listing.category] ?? "other",
        unit,
        pricePerUnit: price,
        pricing: unit === "token" ? { prompt: price, completion: price } : { [unit]: price },
        successRate: Math.round(stats.successProbability(s.listingId) * 1000) / 1000,
        latencyMs: o.latencyMs === undefined ? null : Math.round(o.latencyMs),
      };
    });
  return { object: "list" as const, data };
}
