/**
 * The built app (vite's output, web/dist) from memory-cheap streams: hashed files under /assets/ are immutable for a
 * year, index.html is revalidated (ETag) on every load, text files are compressed (brotli, else gzip) once per file
 * version and kept, and any other GET path that is not a file answers index.html (client-side routing). Paths are
 * decoded and normalised before anything touches the disk; one that climbs out of the dist directory (`..`, an
 * encoded slash or backslash, a NUL) is refused with 400, a symlink out of it with 404.
 */
import fs from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";
import { promisify } from "node:util";
import zlib from "node:zlib";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".webmanifest": "application/manifest+json; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".avif": "image/avif",
  ".ico": "image/x-icon",
  ".woff": "font/woff",
  ".woff2": "font/woff2",
  ".ttf": "font/ttf",
  ".otf": "font/otf",
  ".wasm": "application/wasm",
  ".xml": "application/xml",
};
const COMPRESSIBLE = new Set([".html", ".js", ".mjs", ".css", ".json", ".map", ".webmanifest", ".txt", ".svg", ".xml", ".wasm", ".ico", ".ttf", ".otf"]);
const MIN_COMPRESS_BYTES = 512;
const IMMUTABLE = "public, max-age=31536000, immutable";

const brotli = promisify(zlib.brotliCompress);
const gzip = promisify(zlib.gzip);

export type Encoding = "br" | "gzip" | "identity";

/** The best encoding the client accepts (brotli, then gzip), by the Accept-Encoding header and its q-values. */
export function negotiateEncoding(header: string | undefined): Encoding {
  if (!header) return "identity";
  const accepted = new Map<string, number>();
  for (const part of header.split(",")) {
    const [name, ...params] = part.trim().toLowerCase().split(";");
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    accepted.set(name!, q ? Number(q.slice(2)) || 0 : 1);
  }
  const ok = (name: string) => (accepted.get(name) ?? accepted.get("*") ?? 0) > 0;
  if (ok("br")) return "br";
  if (ok("gzip")) return "gzip";
  return "identity";
}

/** A URL path turned into a path relative to the dist directory, or "bad" when it tries to leave it. */
export function safeRelativePath(urlPath: string): string | "bad" {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return "bad";
  }
  if (decoded.includes("\0") || decoded.includes("\\")) return "bad";
  const segments = decoded.split("/").filter((s) => s !== "" && s !== ".");
  if (segments.some((s) => s === "..")) return "bad";
  return segments.join("/");
}

interface Variant {
  body: Buffer;
  etag: string;
}

interface CachedFile {
  key: string; // mtime and size: a rebuilt file is a new version
  identity: Variant;
  br?: Promise<Buffer>;
  gzip?: Promise<Buffer>;
}

export class StaticFiles {
  private readonly root: string;
  private readonly cache = new Map<string, CachedFile>();
  private cachedBytes = 0;
  private static readonly MAX_CACHED_BYTES = 64 * 1024 * 1024;

  constructor(dist: string) {
    this.root = fs.realpathSync(dist);
  }

  /** Compresses every text file of the build in the background, so the first visitor does not wait for it. */
  warm(): void {
    const walk = (dir: string) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(full);
        else if (entry.isFile() && COMPRESSIBLE.has(path.extname(entry.name).toLowerCase())) {
          const file = this.load(full);
          if (file) void this.compressed(file, "br").catch(() => undefined), void this.compressed(file, "gzip").catch(() => undefined);
        }
      }
    };
    try {
      walk(this.root);
    } catch {
      // a build being replaced under us: files are loaded on demand anyway
    }
  }

  /** Serves `urlPath`; tells `mark` its route class for metrics ("asset", "index", "static", "not-found", "bad-path") before answering. */
  async serve(req: IncomingMessage, res: ServerResponse, urlPath: string, mark: (route: string) => void = () => undefined): Promise<void> {
    const relative = safeRelativePath(urlPath);
    if (relative === "bad") {
      mark("bad-path");
      sendText(res, 400, "bad path");
      return;
    }
    let file = relative === "" ? undefined : this.resolve(relative);
    let route = relative.startsWith("assets/") ? "asset" : "static";
    if (!file) {
      // A missing hashed asset is a real 404 (an old page asking for a chunk of a replaced build must fail clearly,
      // not receive HTML); any other path is a route of the app.
      if (relative.startsWith("assets/")) {
        mark("not-found");
        sendText(res, 404, "not found");
        return;
      }
      file = this.resolve("index.html");
      route = "index";
      if (!file) {
        mark("not-found");
        sendText(res, 503, "the app is not built: run npm run build:web");
        return;
      }
    }
    if (path.basename(file) === "index.html" && path.dirname(file) === this.root) route = "index";
    const cached = this.load(file);
    if (!cached) {
      mark("not-found");
      sendText(res, 404, "not found");
      return;
    }
    mark(route);
    const ext = path.extname(file).toLowerCase();
    const headers: Record<string, string> = {
      "content-type": TYPES[ext] ?? "application/octet-stream",
      "cache-control": route === "asset" ? IMMUTABLE : route === "index" ? "no-cache" : "public, max-age=3600",
      "x-content-type-options": "nosniff",
    };
    if (route === "index") {
      headers["referrer-policy"] = "strict-origin-when-cross-origin";
      headers["x-frame-options"] = "DENY";
    }
    let encoding: Encoding = "identity";
    if (COMPRESSIBLE.has(ext) && cached.identity.body.length >= MIN_COMPRESS_BYTES) {
      headers.vary = "accept-encoding";
      encoding = negotiateEncoding(req.headers["accept-encoding"] as string | undefined);
    }
    const etag = encoding === "identity" ? cached.identity.etag : `${cached.identity.etag.slice(0, -1)}-${encoding}"`;
    headers.etag = etag;
    if (req.headers["if-none-match"] === etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    const body = encoding === "identity" ? cached.identity.body : await this.compressed(cached, encoding);
    if (encoding !== "identity") headers["content-encoding"] = encoding;
    headers["content-length"] = String(body.length);
    res.writeHead(200, headers);
    res.end(req.method === "HEAD" ? undefined : body);
  }

  /** The absolute path of a regular file inside the dist directory (symlinks resolved), or undefined. */
  private resolve(relative: string): string | undefined {
    const candidate = path.join(this.root, relative);
    try {
      const real = fs.realpathSync(candidate);
      if (real !== this.root && !real.startsWith(this.root + path.sep)) return undefined;
      return fs.statSync(real).isFile() ? real : undefined;
    } catch {
      return undefined;
    }
  }

  private load(file: string): CachedFile | undefined {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(file);
    } catch {
      return undefined;
    }
    const key = `${stat.mtimeMs}:${stat.size}`;
    const hit = this.cache.get(file);
    if (hit && hit.key === key) return hit;
    let body: Buffer;
    try {
      body = fs.readFileSync(file);
    } catch {
      return undefined;
    }
    const entry: CachedFile = { key, identity: { body, etag: `"${stat.size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"` } };
    if (hit) this.cachedBytes -= hit.identity.body.length;
    if (this.cachedBytes + body.length > StaticFiles.MAX_CACHED_BYTES) {
      this.cache.clear(); // a build much larger than any real one: keep memory bounded, start over
      this.cachedBytes = 0;
    }
    this.cache.set(file, entry);
    this.cachedBytes += body.length;
    return entry;
  }

  private compressed(file: CachedFile, encoding: "br" | "gzip"): Promise<Buffer> {
    if (encoding === "br") {
      file.br ??= brotli(file.identity.body, {
        params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: file.identity.body.length },
      });
      return file.br;
    }
    file.gzip ??= gzip(file.identity.body, { level: 9 });
    return file.gzip;
  }
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(text), "x-content-type-options": "nosniff" });
  res.end(text);
}
