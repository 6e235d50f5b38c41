/**
 * Fast EIP-712 signer recovery. viem's recoverTypedDataAddress costs about 3-4.5 ms per call on these machines (its
 * pure-JS point arithmetic is most of it, hashTypedData's validation and ABI encoding about 0.2 ms), which caps a
 * consensus node at a few hundred signatures a second. Here:
 *
 * - the digest: the domain separator is computed once per domain, and a struct whose fields are all atomic static
 *   types (uintN, intN, address, bool, bytesN: every message type the workers sign) is hashed from a precomputed type
 *   hash and words written straight into one buffer. Anything else (strings, arrays, nested structs, values of an
 *   unexpected JS type, an `EIP712Domain` entry in `types`) goes to viem's hashTypedData, so the digest is always
 *   what viem computes, and out-of-range values throw as they do there;
 * - the curve and the hash: libsecp256k1 and keccak through native-crypto.ts (native addons, or WASM / JS where
 *   they do not load); the checksummed form of a recovered address is cached (signers repeat).
 *
 * The signature rules are OpenZeppelin ECDSA's, which the contracts apply: exactly 65 bytes `r ‖ s ‖ v`, v 27 or 28,
 * 0 < r < n, 0 < s <= n/2 (no malleable high-s twin). viem accepts more (v 0/1, high s); such signatures throw here.
 *
 * Everything is synchronous (the WASM module loads synchronously at import); a failure throws
 * InvalidSignatureError, or viem's own error for a message that cannot be hashed.
 */
import { keccakBytes, recoverPublicKey } from "./native-crypto";
import {
  checksumAddress,
  domainSeparator,
  hashTypedData,
  isAddress,
  type Address,
  type Hex,
  type TypedData,
  type TypedDataDomain,
} from "viem";

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const HALF_N = N >> 1n;
const SIGNATURE = /^0x[0-9a-fA-F]{130}$/;
const HEX = /^0x[0-9a-fA-F]*$/;

export type InvalidSignatureReason = "format" | "v" | "r" | "s" | "recovery";

export class InvalidSignatureError extends Error {
  constructor(readonly reason: InvalidSignatureReason, message: string) {
    super(message);
    this.name = "InvalidSignatureError";
  }
}

/** Field types as written in `types` (viem's TypedData shape, loosened: callers pass `as const` objects). */
type Types = Record<string, readonly { name: string; type: string }[]>;

/**
 * The signer of an EIP-712 `signature` over (`domain`, `types`, `primaryType`, `message`), checksummed. Synchronous.
 * Same answer as viem's recoverTypedDataAddress for every signature OpenZeppelin's ECDSA accepts; throws
 * InvalidSignatureError for the ones it rejects (wrong length, v not 27/28, r or s out of range, high s, no point).
 */
export function recoverTypedSigner(
  domain: TypedDataDomain,
  types: TypedData | Types,
  primaryType: string,
  message: Record<string, unknown>,
  signature: Hex,
): Address {
  const { r, s, v } = parseSignature(signature); // cheap checks before any hashing
  return recoverPoint(typedDataDigestBytes(domain, types, primaryType, message), r, s, v);
}

/** The signer of a 65-byte `signature` over a 32-byte digest, under the same rules as recoverTypedSigner. */
export function recoverDigestSigner(digest: Hex, signature: Hex): Address {
  if (typeof digest !== "string" || digest.length !== 66 || !HEX.test(digest)) throw new TypeError("digest must be 32 bytes of hex");
  const { r, s, v } = parseSignature(signature);
  return recoverPoint(Buffer.from(digest.slice(2), "hex"), r, s, v);
}

/** The EIP-712 digest (what hashTypedData returns), through the precomputed path when the type allows it. */
export function typedDataDigest(domain: TypedDataDomain, types: TypedData | Types, primaryType: string, message: Record<string, unknown>): Hex {
  return `0x${Buffer.from(typedDataDigestBytes(domain, types, primaryType, message)).toString("hex")}`;
}

interface ParsedSignature {
  r: bigint;
  s: bigint;
  v: 27 | 28;
}

function parseSignature(signature: Hex): ParsedSignature {
  if (typeof signature !== "string" || !SIGNATURE.test(signature)) {
    throw new InvalidSignatureError("format", "a signature is 65 bytes of hex (r, s, v)");
  }
  const r = BigInt(`0x${signature.slice(2, 66)}`);
  const s = BigInt(`0x${signature.slice(66, 130)}`);
  const v = parseInt(signature.slice(130, 132), 16);
  if (v !== 27 && v !== 28) throw new InvalidSignatureError("v", `signature v must be 27 or 28, got ${v}`);
  if (r === 0n || r >= N) throw new InvalidSignatureError("r", "signature r is out of range");
  if (s === 0n || s > HALF_N) throw new InvalidSignatureError("s", "signature s is zero or in the upper half of the curve order (malleable)");
  return { r, s, v };
}

const sigBuffer = Buffer.alloc(64);

function recoverPoint(digest: Uint8Array, r: bigint, s: bigint, v: 27 | 28): Address {
  sigBuffer.write(r.toString(16).padStart(64, "0"), 0, "hex");
  sigBuffer.write(s.toString(16).padStart(64, "0"), 32, "hex");
  let point: Uint8Array | null;
  try {
    point = recoverPublicKey(digest, sigBuffer, (v - 27) as 0 | 1);
  } catch (error) {
    throw new InvalidSignatureError("recovery", `signature does not recover: ${(error as Error).message}`);
  }
  if (!point) throw new InvalidSignatureError("recovery", "signature does not recover to a public key");
  const lower = Buffer.from(keccakBytes(point.subarray(1)).subarray(12)).toString("hex");
  let address = checksums.get(lower);
  if (!address) {
    address = checksumAddress(`0x${lower}`);
    if (checksums.size >= 10_000) checksums.clear(); // bounded; renters and providers repeat
    checksums.set(lower, address);
  }
  return address;
}

const checksums = new Map<string, Address>();

// ---- digests -----------------------------------------------------------------------------------------------------

/** Writes one field's 32-byte word at `offset`; false when the value is not of the canonical JS type (use viem). */
type FieldEncoder = (value: unknown, out: Buffer, offset: number) => boolean;

interface CompiledStruct {
  typeHash: Buffer;
  fields: { name: string; encode: FieldEncoder }[];
}

const compiled = new WeakMap<object, Map<string, CompiledStruct | null>>();

function compile(types: Types, primaryType: string): CompiledStruct | null {
  let perTypes = compiled.get(types);
  if (!perTypes) compiled.set(types, (perTypes = new Map()));
  let entry = perTypes.get(primaryType);
  if (entry === undefined) {
    entry = compileStruct(types, primaryType);
    perTypes.set(primaryType, entry);
  }
  return entry;
}

function compileStruct(types: Types, primaryType: string): CompiledStruct | null {
  if (primaryType === "EIP712Domain" || Object.hasOwn(types, "EIP712Domain")) return null;
  const struct = Object.hasOwn(types, primaryType) ? types[primaryType] : undefined;
  if (!struct) return null;
  const fields: CompiledStruct["fields"] = [];
  for (const { name, type } of struct) {
    if (Object.hasOwn(types, type)) return null; // nested struct
    const encode = encoderFor(type);
    if (!encode) return null;
    fields.push({ name, encode });
  }
  const encodedType = `${primaryType}(${struct.map((f) => `${f.type} ${f.name}`).join(",")})`;
  return { typeHash: Buffer.from(keccakBytes(Buffer.from(encodedType, "utf8"))), fields };
}

function encoderFor(type: string): FieldEncoder | undefined {
  const int = /^(u?)int(8|16|24|32|40|48|56|64|72|80|88|96|104|112|120|128|136|144|152|160|168|176|184|192|200|208|216|224|232|240|248|256)$/.exec(type);
  if (int) {
    const bits = BigInt(int[2]);
    const signed = int[1] === "";
    const min = signed ? -(1n << (bits - 1n)) : 0n;
    const max = signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
    return (value, out, offset) => {
      let n: bigint;
      if (typeof value === "bigint") n = value;
      else if (typeof value === "number" && Number.isSafeInteger(value)) n = BigInt(value);
      else return false;
      if (n < min || n > max) return false; // viem throws its range error
      if (n < 0n) n += 1n << 256n;
      out.write(n.toString(16).padStart(64, "0"), offset, "hex");
      return true;
    };
  }
  if (type === "address") {
    return (value, out, offset) => {
      if (typeof value !== "string" || !isAddress(value)) return false;
      out.fill(0, offset, offset + 12);
      out.write(value.slice(2), offset + 12, "hex");
      return true;
    };
  }
  if (type === "bool") {
    return (value, out, offset) => {
      if (typeof value !== "boolean") return false;
      out.fill(0, offset, offset + 32);
      out[offset + 31] = value ? 1 : 0;
      return true;
    };
  }
  const bytes = /^bytes([1-9]|[12][0-9]|3[0-2])$/.exec(type);
  if (bytes) {
    const size = Number(bytes[1]);
    return (value, out, offset) => {
      if (typeof value !== "string" || value.length !== 2 + 2 * size || !HEX.test(value)) return false;
      out.fill(0, offset, offset + 32);
      out.write(value.slice(2), offset, "hex");
      return true;
    };
  }
  return undefined; // string, bytes, arrays: viem
}

const separators = new Map<string, Buffer>();

/** The domain separator, cached by the domain's content (not by object: a mutated domain must not hit a stale entry). */
function separatorOf(domain: TypedDataDomain): Buffer {
  const part = (x: unknown) => (x == null ? "-" : `+${String(x)}`);
  const key = [domain.name, domain.version, domain.chainId, domain.verifyingContract, domain.salt].map(part).join("\u0000");
  let separator = separators.get(key);
  if (!separator) {
    separator = Buffer.from(domainSeparator({ domain }).slice(2), "hex"); // validates the domain as viem does
    if (separators.size >= 64) separators.clear(); // a handful in practice; never unbounded
    separators.set(key, separator);
  }
  return separator;
}

function typedDataDigestBytes(domain: TypedDataDomain, types: TypedData | Types, primaryType: string, message: Record<string, unknown>): Uint8Array {
  const struct = typeof types === "object" && types !== null ? compile(types as Types, primaryType) : null;
  if (struct && typeof message === "object" && message !== null) {
    const words = Buffer.allocUnsafe(32 * (1 + struct.fields.length));
    struct.typeHash.copy(words, 0);
    let ok = true;
    for (let i = 0; i < struct.fields.length && ok; i++) {
      const field = struct.fields[i]!;
      ok = field.encode(message[field.name], words, 32 * (i + 1));
    }
    if (ok) {
      const preimage = Buffer.allocUnsafe(66);
      preimage[0] = 0x19;
      preimage[1] = 0x01;
      separatorOf(domain).copy(preimage, 2);
      preimage.set(keccakBytes(words), 34);
      return keccakBytes(preimage);
    }
  }
  const digest = hashTypedData({ domain, types: types as TypedData, primaryType, message } as Parameters<typeof hashTypedData>[0]);
  return Buffer.from(digest.slice(2), "hex");
}
