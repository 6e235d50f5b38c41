/**
 * The renter's side of a rented query. Before a query leaves the renter, the renter signs a `UsageAuthorization`:
 * "for escrow E, this exact request (its digest) may bring the escrow's cumulative usage up to M units". The provider
 * gateway serves only requests carrying one, the provider's usage report commits to it (its resultDigest), and the
 * consensus nodes refuse to attest more units than the renter authorized. The renter's key never leaves the renter:
 * the orchestrator only relays these signatures.
 *
 * Everything is signed in the committee's EIP-712 domain, like the provider reports and attestations.
 */
import {
  concat,
  keccak256,
  toBytes,
  type Address,
  type Hex,
  type TypedDataDomain,
} from "viem";
import type { LocalAccount } from "viem/accounts";
import { BadRequest, Unauthorized } from "./errors";
import { keccakBytes } from "./native-crypto";
import { recoverTypedSigner, typedDataDigest } from "./recover";

export interface UsageAuthorization {
  escrowId: bigint;
  maxCumulativeUnits: bigint;
  requestDigest: Hex;
  /** Unix seconds after which a gateway must not serve the request (settlement may come later). */
  deadline: bigint;
  signature: Hex;
}

export const AUTHORIZATION_TYPES = {
  UsageAuthorization: [
    { name: "escrowId", type: "uint256" },
    { name: "maxCumulativeUnits", type: "uint256" },
    { name: "requestDigest", type: "bytes32" },
    { name: "deadline", type: "uint64" },
  ],
} as const;

/** Header carrying authorizations: `escrowId:maxCumulativeUnits:deadline:signature`, comma-separated when several. */
export const AUTHORIZATION_HEADER = "x-prsm-authorization";
/** Response header carrying the provider-signed usage report (base64url JSON). */
export const RECEIPT_HEADER = "x-prsm-receipt";

/** What a renter signs for: the endpoint path and the exact request body bytes. */
export function requestDigest(path: string, body: Uint8Array | string): Hex {
  const bytes = typeof body === "string" ? toBytes(body) : body;
  return keccak256(concat([toBytes(path), toBytes("\n"), bytes]));
}

/** What a provider commits to: the exact response body bytes. */
export function responseDigest(body: Uint8Array | string): Hex {
  return keccak256(typeof body === "string" ? toBytes(body) : body);
}

function message(a: Omit<UsageAuthorization, "signature">) {
  return { escrowId: a.escrowId, maxCumulativeUnits: a.maxCumulativeUnits, requestDigest: a.requestDigest, deadline: a.deadline };
}

export async function signAuthorization(
  account: LocalAccount,
  domain: TypedDataDomain,
  a: Omit<UsageAuthorization, "signature">,
): Promise<UsageAuthorization> {
  const signature = await account.signTypedData({ domain, types: AUTHORIZATION_TYPES, primaryType: "UsageAuthorization", message: message(a) });
  return { ...a, signature };
}

/** The renter who signed `a` (async for callers; synchronous work in recover.ts, OpenZeppelin ECDSA's rules). */
export async function recoverRenter(domain: TypedDataDomain, a: UsageAuthorization): Promise<Address> {
  return recoverTypedSigner(domain, AUTHORIZATION_TYPES, "UsageAuthorization", message(a), a.signature);
}

/** The EIP-712 digest of `a` (hashTypedData's value, through recover.ts's precomputed path). */
export function authorizationHash(domain: TypedDataDomain, a: Omit<UsageAuthorization, "signature">): Hex {
  return typedDataDigest(domain, AUTHORIZATION_TYPES, "UsageAuthorization", message(a));
}

/**
 * The resultDigest of a provider's usage report: binds the report to the renter's signed request and to the answer
 * the provider returned, so nodes can check that a report belongs to an authorization.
 */
export function usageResultDigest(domain: TypedDataDomain, a: Omit<UsageAuthorization, "signature">, response: Hex): Hex {
  return resultDigestOf(authorizationHash(domain, a), response);
}

/** usageResultDigest from the authorization's EIP-712 digest: keccak256(abi.encode(authDigest, response)). */
export function resultDigestOf(authDigest: Hex, response: Hex): Hex {
  const words = Buffer.allocUnsafe(64);
  writeWord32(words, 0, authDigest);
  writeWord32(words, 32, response);
  return `0x${Buffer.from(keccakBytes(words)).toString("hex")}`;
}

/** Writes a bytes32 hex value (throws for anything else, as viem's ABI encoder would). */
export function writeWord32(out: Buffer, offset: number, value: Hex): void {
  if (typeof value !== "string" || !HEX32.test(value)) throw new TypeError(`not a bytes32 hex value: ${String(value).slice(0, 80)}`);
  out.write(value.slice(2), offset, "hex");
}

const UINT = /^\d{1,78}$/;
const HEX32 = /^0x[0-9a-fA-F]{64}$/;
const SIGNATURE = /^0x[0-9a-fA-F]{130}$/;

export function formatAuthorizationHeader(list: UsageAuthorization[]): string {
  return list.map((a) => `${a.escrowId}:${a.maxCumulativeUnits}:${a.deadline}:${a.signature}`).join(",");
}

/** Parses the authorization header against the request's digest; a malformed entry is a 401 for the caller. */
export function parseAuthorizationHeader(value: string | string[] | undefined, digest: Hex): UsageAuthorization[] {
  const raw = Array.isArray(value) ? value.join(",") : value;
  if (!raw) throw new Unauthorized(`missing ${AUTHORIZATION_HEADER} header (escrowId:maxCumulativeUnits:deadline:signature)`);
  const entries = raw.split(",").map((s) => s.trim()).filter(Boolean);
  if (entries.length > 32) throw new BadRequest(`at most 32 authorizations per request, got ${entries.length}`);
  return entries.map((entry, i) => {
    const [escrowId, maxUnits, deadline, signature, ...rest] = entry.split(":");
    if (rest.length || !UINT.test(escrowId ?? "") || !UINT.test(maxUnits ?? "") || !UINT.test(deadline ?? "") || !SIGNATURE.test(signature ?? "")) {
      throw new Unauthorized(`authorization ${i} is malformed: expected escrowId:maxCumulativeUnits:deadline:0x<65-byte signature>`);
    }
    const parsed = { escrowId: BigInt(escrowId!), maxCumulativeUnits: BigInt(maxUnits!), deadline: BigInt(deadline!), requestDigest: digest, signature: signature as Hex };
    if (parsed.escrowId >= MAX_UINT256 || parsed.maxCumulativeUnits >= MAX_UINT256 || parsed.deadline >= MAX_UINT64) {
      throw new Unauthorized(`authorization ${i} is out of range: escrowId and maxCumulativeUnits are uint256, deadline uint64`);
    }
    return parsed;
  });
}

/** Exclusive upper bounds of the EIP-712 field types (a value past them cannot have been signed). */
export const MAX_UINT256 = 2n ** 256n;
export const MAX_UINT64 = 2n ** 64n;

export interface AuthorizationJson {
  escrowId: string;
  maxCumulativeUnits: string;
  requestDigest: string;
  deadline: string;
  signature: string;
}

export function authorizationToJson(a: UsageAuthorization): AuthorizationJson {
  return {
    escrowId: a.escrowId.toString(),
    maxCumulativeUnits: a.maxCumulativeUnits.toString(),
    requestDigest: a.requestDigest,
    deadline: a.deadline.toString(),
    signature: a.signature,
  };
}

/** Parses an authorization inside a usage report (JSON), naming the first bad field. */
export function parseAuthorizationJson(input: unknown, where = "authorization"): UsageAuthorization {
  if (typeof input !== "object" || input === null) throw new BadRequest(`${where} must be a JSON object`);
  const a = input as Record<string, unknown>;
  for (const field of ["escrowId", "maxCumulativeUnits", "deadline"]) {
    if (typeof a[field] !== "string" || !UINT.test(a[field] as string)) throw new BadRequest(`${where}.${field} must be a decimal integer string`, { field });
  }
  if (typeof a.requestDigest !== "string" || !HEX32.test(a.requestDigest)) throw new BadRequest(`${where}.requestDigest must be a 32-byte hex string`);
  if (typeof a.signature !== "string" || !SIGNATURE.test(a.signature)) throw new BadRequest(`${where}.signature must be a 65-byte hex signature`);
  const parsed = {
    escrowId: BigInt(a.escrowId as string),
    maxCumulativeUnits: BigInt(a.maxCumulativeUnits as string),
    requestDigest: a.requestDigest as Hex,
    deadline: BigInt(a.deadline as string),
    signature: a.signature as Hex,
  };
  if (parsed.escrowId >= MAX_UINT256 || parsed.maxCumulativeUnits >= MAX_UINT256 || parsed.deadline >= MAX_UINT64) {
    throw new BadRequest(`${where} is out of range: escrowId and maxCumulativeUnits are uint256, deadline uint64`);
  }
  return parsed;
}
