/**
 * Listing metadata: a listing names its model only through `metadataURI` (config/launch-models.ts writes a base64
 * `data:` URI of a JSON object with name, vendor, description, ...). This module turns such a URI into the fields a
 * front end shows, and says why when it cannot. Pure apart from the optional IPFS fetch: the indexer calls it in the
 * Listed handler, the unit tests call it directly.
 *
 * What is decoded, and why only that:
 * - `data:` URIs (RFC 2397), base64 or percent-encoded, whatever their media type (the JSON parse decides);
 * - `ipfs://<cid>[/path]` through a gateway (IPFS_GATEWAY), only when one is configured: IPFS content is addressed
 *   by its hash, so a reindex reads the same bytes (a gateway that fails is recorded as `fetch-failed`);
 * - nothing else: `https://` and the like are mutable, so fetching them in a handler would make the indexed tables
 *   depend on when they were indexed. Such URIs stay available raw (metadataUri) and get `unsupported-uri`.
 *
 * Every failure is a value, never an exception: a provider controls the URI, and a handler that threw on a bad one
 * would stop the indexer for everybody.
 */

/** Decoded documents larger than this are refused (`too-large`): the JSON is stored in every listing row. */
export const MAX_METADATA_BYTES = 64 * 1024;
/** Nesting deeper than this is refused (`too-deep`): what is stored must stay printable and queryable. */
export const MAX_METADATA_DEPTH = 32;
export const DEFAULT_IPFS_TIMEOUT_MS = 5_000;

export type MetadataErrorCode =
  | "empty"
  | "unsupported-uri"
  | "invalid-data-uri"
  | "invalid-base64"
  | "invalid-utf8"
  | "too-large"
  | "too-deep"
  | "not-json"
  | "not-object"
  | "no-ipfs-gateway"
  | "fetch-failed";

export interface ListingMetadata {
  name: string | null;
  vendor: string | null;
  description: string | null;
  /** The decoded JSON object (strings made storable: no NUL, no lone surrogates), null when decoding failed. */
  metadata: Record<string, unknown> | null;
  /** `<code>: <detail>` when nothing could be decoded, null otherwise (missing fields are not an error). */
  error: string | null;
}

export interface ResolveOptions {
  /** Base URL of an IPFS HTTP gateway (e.g. https://ipfs.io); `ipfs://<cid>/p` is read from `<base>/ipfs/<cid>/p`. */
  ipfsGateway?: string;
  timeoutMs?: number;
  maxBytes?: number;
  fetch?: typeof fetch;
}

class MetadataError extends Error {
  constructor(
    readonly code: MetadataErrorCode,
    detail: string,
  ) {
    super(`${code}: ${detail}`);
  }
}

const failed = (error: MetadataError): ListingMetadata => ({ name: null, vendor: null, description: null, metadata: null, error: error.message });

/** Decodes a `data:` URI's payload to bytes (RFC 2397, with the WHATWG fetch spec's forgiving base64). */
export function decodeDataUri(uri: string, maxBytes = MAX_METADATA_BYTES): Uint8Array {
  const comma = uri.indexOf(",");
  if (!/^data:/i.test(uri) || comma < 0) throw new MetadataError("invalid-data-uri", "a data: URI needs a comma before its payload");
  const header = uri.slice(5, comma);
  const body = uri.slice(comma + 1);
  const base64 = /;\s*base64\s*$/i.test(header);
  // Cheap refusal before decoding anything: base64 grows 4/3, percent-encoding at most 3/1, so a body this long
  // cannot decode to fewer than maxBytes.
  if (body.length > (base64 ? Math.ceil((maxBytes * 4) / 3) + 4 : maxBytes * 3) + 1024) {
    throw new MetadataError("too-large", `the payload is ${body.length} characters; at most ${maxBytes} bytes are decoded`);
  }
  const bytes = percentDecode(body);
  if (!base64) return checkSize(bytes, maxBytes);
  const text = Buffer.from(bytes).toString("latin1").replace(/[\t\n\f\r ]/g, "");
  // Buffer.from(…, "base64") skips characters it does not know instead of failing: validate first.
  const unpadded = text.endsWith("==") ? text.slice(0, -2) : text.endsWith("=") ? text.slice(0, -1) : text;
  if (!/^[A-Za-z0-9+/]*$/.test(unpadded) || (text.length !== unpadded.length && text.length % 4 !== 0) || unpadded.length % 4 === 1) {
    throw new MetadataError("invalid-base64", "the payload is not base64");
  }
  return checkSize(new Uint8Array(Buffer.from(unpadded, "base64")), maxBytes);
}

/** %XX to bytes; anything else (including a stray %) stays as its UTF-8 bytes, as URL parsers do. */
function percentDecode(text: string): Uint8Array {
  const raw = Buffer.from(text, "utf8");
  const out = new Uint8Array(raw.length);
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const hex = raw[i] === 0x25 && i + 2 < raw.length ? String.fromCharCode(raw[i + 1], raw[i + 2]) : "";
    if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
      out[n++] = parseInt(hex, 16);
      i += 2;
    } else out[n++] = raw[i];
  }
  return out.subarray(0, n);
}

function checkSize(bytes: Uint8Array, maxBytes: number): Uint8Array {
  if (bytes.length > maxBytes) throw new MetadataError("too-large", `${bytes.length} bytes; at most ${maxBytes}`);
  return bytes;
}

/** Parses a metadata document: a JSON object in UTF-8; name, vendor and description are taken when they are strings. */
export function parseMetadata(bytes: Uint8Array, maxBytes = MAX_METADATA_BYTES): ListingMetadata {
  try {
    checkSize(bytes, maxBytes);
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
    } catch {
      throw new MetadataError("invalid-utf8", "the document is not UTF-8 text");
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new MetadataError("not-json", (error as Error).message.slice(0, 200));
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw new MetadataError("not-object", `the document is ${value === null ? "null" : Array.isArray(value) ? "an array" : `a ${typeof value}`}, not a JSON object`);
    }
    const metadata = storable(value, 0) as Record<string, unknown>;
    return { name: field(metadata.name), vendor: field(metadata.vendor), description: field(metadata.description), metadata, error: null };
  } catch (error) {
    if (error instanceof MetadataError) return failed(error);
    throw error;
  }
}

function field(value: unknown): string | null {
  if (typeof value !== "string") return null;
  const trimmed = value.trim();
  return trimmed === "" ? null : trimmed;
}

/**
 * A copy Postgres accepts in text and jsonb columns: JSON may escape characters that neither can hold (\u0000, lone
 * surrogates), and an insert that failed on them would stop the indexer. Depth is bounded so the copy cannot overflow.
 */
function storable(value: unknown, depth: number): unknown {
  if (typeof value === "string") return clean(value);
  if (value === null || typeof value !== "object") return value;
  if (depth >= MAX_METADATA_DEPTH) throw new MetadataError("too-deep", `nested deeper than ${MAX_METADATA_DEPTH} levels`);
  if (Array.isArray(value)) return value.map((v) => storable(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[clean(k)] = storable(v, depth + 1);
  return out;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const clean = (s: string) => s.replace(/\u0000/g, "").replace(LONE_SURROGATE, "\uFFFD");

/** Decodes what needs no network: `data:` URIs; anything else gets its error (see resolveMetadata for IPFS). */
export function decodeMetadataUri(uri: string, maxBytes = MAX_METADATA_BYTES): ListingMetadata {
  try {
    const scheme = schemeOf(uri);
    if (scheme === "data") return parseMetadata(decodeDataUri(uri.trim(), maxBytes), maxBytes);
    if (scheme === "ipfs") throw new MetadataError("no-ipfs-gateway", "ipfs:// URIs are resolved only when IPFS_GATEWAY is set");
    throw unsupported(scheme);
  } catch (error) {
    if (error instanceof MetadataError) return failed(error);
    throw error;
  }
}

/** decodeMetadataUri, plus `ipfs://` through the configured gateway (with a timeout and a size cap). */
export async function resolveMetadata(uri: string, options: ResolveOptions = {}): Promise<ListingMetadata> {
  const maxBytes = options.maxBytes ?? MAX_METADATA_BYTES;
  try {
    if (schemeOf(uri) !== "ipfs" || !options.ipfsGateway) return decodeMetadataUri(uri, maxBytes);
    const bytes = await fetchCapped(ipfsUrl(options.ipfsGateway, uri.trim()), options.timeoutMs ?? DEFAULT_IPFS_TIMEOUT_MS, maxBytes, options.fetch ?? fetch);
    return parseMetadata(bytes, maxBytes);
  } catch (error) {
    if (error instanceof MetadataError) return failed(error);
    throw error;
  }
}

function schemeOf(uri: string): string {
  const trimmed = uri.trim();
  if (trimmed === "") throw new MetadataError("empty", "the listing has no metadata URI");
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(trimmed);
  if (!match) throw new MetadataError("unsupported-uri", "not a URI (no scheme)");
  return match[1].toLowerCase();
}

function unsupported(scheme: string): MetadataError {
  return new MetadataError("unsupported-uri", `${scheme}: URIs are not decoded (only data: and, with a gateway, ipfs:)`);
}

/** `ipfs://<cid>[/path]` (or the legacy `ipfs://ipfs/<cid>`) to `<gateway>/ipfs/<cid>[/path]`, segments escaped. */
export function ipfsUrl(gateway: string, uri: string): string {
  const rest = uri.replace(/^ipfs:\/\//i, "").replace(/^ipfs\//i, "").replace(/[?#].*$/, "");
  // Checked after percent-decoding: the URL setter below would resolve a "%2E%2E" segment to a parent directory.
  const segments = rest.split("/").filter((s) => s !== "").map(safeDecode);
  if (segments.length === 0 || !/^[A-Za-z0-9]+$/.test(segments[0]) || segments.some((s) => s === "." || s === "..")) {
    throw new MetadataError("unsupported-uri", "an ipfs:// URI needs a content id (and no . or .. segments)");
  }
  let base: URL;
  try {
    base = new URL(gateway);
  } catch {
    throw new MetadataError("fetch-failed", `IPFS_GATEWAY "${gateway.slice(0, 100)}" is not a URL`);
  }
  const prefix = base.pathname.replace(/\/+$/, "");
  base.pathname = `${prefix}/ipfs/${segments.map((s) => encodeURIComponent(s)).join("/")}`;
  return base.toString();
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

async function fetchCapped(url: string, timeoutMs: number, maxBytes: number, fetchFn: typeof fetch): Promise<Uint8Array> {
  const signal = AbortSignal.timeout(timeoutMs);
  let response: Response;
  try {
    response = await fetchFn(url, { signal, redirect: "follow", headers: { accept: "application/json, */*;q=0.5" } });
  } catch (error) {
    throw new MetadataError("fetch-failed", signal.aborted ? `no answer within ${timeoutMs} ms` : (error as Error).message.slice(0, 200));
  }
  if (!response.ok) {
    await response.body?.cancel().catch(() => undefined);
    throw new MetadataError("fetch-failed", `the gateway answered HTTP ${response.status}`);
  }
  const declared = Number(response.headers.get("content-length") ?? "NaN");
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw new MetadataError("too-large", `${declared} bytes; at most ${maxBytes}`);
  }
  if (!response.body) return new Uint8Array();
  // Read to the cap, not to the end: a gateway (or a document) that never stops must not fill the indexer's memory.
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > maxBytes) {
        await reader.cancel().catch(() => undefined);
        throw new MetadataError("too-large", `more than ${maxBytes} bytes`);
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof MetadataError) throw error;
    throw new MetadataError("fetch-failed", signal.aborted ? `no complete answer within ${timeoutMs} ms` : (error as Error).message.slice(0, 200));
  }
  return new Uint8Array(Buffer.concat(chunks));
}
