/**
 * The part of Node's Buffer that the repository's shared signing code (workers/shared/authorization.ts, recover.ts,
 * usage-report.ts) and the renter client (workers/renter/client.ts) use, on a Uint8Array, installed as
 * `globalThis.Buffer` by the browser native-crypto module (which every one of those modules imports first). Written
 * here rather than taken from the `buffer` npm package: only an old 4.x copy is present, as a transitive dependency.
 *
 * Supported: alloc, allocUnsafe, from(string, "hex" | "utf8" | "base64" | "base64url") / from(bytes), byteLength,
 * concat, isBuffer, and on instances toString("hex" | "utf8" | "base64" | "base64url"), write(string, offset,
 * "hex" | "utf8"), copy(target, targetStart), subarray (a BrowserBuffer), fill, set.
 */
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function hexToBytes(hex: string): Uint8Array {
  const clean = hex.length % 2 ? hex.slice(0, -1) : hex;
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) {
    const byte = parseInt(clean.substr(i * 2, 2), 16);
    if (Number.isNaN(byte)) return out.subarray(0, i); // Node stops at the first invalid pair
    out[i] = byte;
  }
  return out;
}

function base64ToBytes(text: string): Uint8Array {
  let b64 = text.replace(/-/g, "+").replace(/_/g, "/").replace(/[^A-Za-z0-9+/]/g, "");
  while (b64.length % 4) b64 += "=";
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function bytesToBase64(bytes: Uint8Array, url: boolean): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  const b64 = btoa(bin);
  return url ? b64.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "") : b64;
}

function encode(text: string, encoding = "utf8"): Uint8Array {
  switch (encoding) {
    case "hex":
      return hexToBytes(text);
    case "base64":
    case "base64url":
      return base64ToBytes(text);
    case "utf8":
    case "utf-8":
      return encoder.encode(text);
    default:
      throw new TypeError(`BrowserBuffer: unsupported encoding ${encoding}`);
  }
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

export class BrowserBuffer extends Uint8Array {
  static alloc(size: number, fill = 0): BrowserBuffer {
    const b = new BrowserBuffer(size);
    if (fill) b.fill(fill);
    return b;
  }

  static allocUnsafe(size: number): BrowserBuffer {
    return new BrowserBuffer(size);
  }

  // `any` parameters: Node's from(value, encoding) and Uint8Array's from(items, mapfn) share the name.
  static override from(value: any, encoding?: any): BrowserBuffer {
    if (typeof value === "string") {
      const bytes = encode(value, encoding);
      const b = new BrowserBuffer(bytes.length);
      b.set(bytes);
      return b;
    }
    if (value instanceof ArrayBuffer) return new BrowserBuffer(value.slice(0));
    const b = new BrowserBuffer((value as ArrayLike<number>).length);
    b.set(value as ArrayLike<number>);
    return b;
  }

  static byteLength(value: string | Uint8Array, encoding = "utf8"): number {
    return typeof value === "string" ? encode(value, encoding).length : value.byteLength;
  }

  static concat(list: readonly Uint8Array[], totalLength?: number): BrowserBuffer {
    const total = totalLength ?? list.reduce((n, b) => n + b.length, 0);
    const out = new BrowserBuffer(total);
    let offset = 0;
    for (const b of list) {
      if (offset >= total) break;
      out.set(b.subarray(0, total - offset), offset);
      offset += b.length;
    }
    return out;
  }

  static isBuffer(value: unknown): value is BrowserBuffer {
    return value instanceof BrowserBuffer;
  }

  override toString(encoding = "utf8"): string {
    switch (encoding) {
      case "hex": {
        let s = "";
        for (let i = 0; i < this.length; i++) s += HEX[this[i]!];
        return s;
      }
      case "base64":
        return bytesToBase64(this, false);
      case "base64url":
        return bytesToBase64(this, true);
      case "utf8":
      case "utf-8":
        return decoder.decode(this);
      default:
        throw new TypeError(`BrowserBuffer: unsupported encoding ${encoding}`);
    }
  }

  /** Writes `text` at `offset` (Node's signature: string, offset, encoding); returns the bytes written. */
  write(text: string, offset = 0, encoding = "utf8"): number {
    const bytes = encode(text, encoding);
    const n = Math.min(bytes.length, this.length - offset);
    this.set(bytes.subarray(0, n), offset);
    return n;
  }

  copy(target: Uint8Array, targetStart = 0, sourceStart = 0, sourceEnd = this.length): number {
    const part = this.subarray(sourceStart, Math.min(sourceEnd, sourceStart + (target.length - targetStart)));
    target.set(part, targetStart);
    return part.length;
  }

  override subarray(begin?: number, end?: number): BrowserBuffer {
    const view = Uint8Array.prototype.subarray.call(this, begin, end);
    return new BrowserBuffer(view.buffer as ArrayBuffer, view.byteOffset, view.byteLength);
  }
}

/** Installs BrowserBuffer as globalThis.Buffer unless a Buffer already exists (Node, tests). */
export function installBuffer(): void {
  const g = globalThis as { Buffer?: unknown };
  if (!g.Buffer) g.Buffer = BrowserBuffer;
}
