/**
 * Usage reports and the EIP-712 messages around them. The provider signs a `ProviderUsageReport`; committee
 * members sign a `UsageAttestation` (the type FederationCommittee verifies on chain). Both live in the committee's
 * EIP-712 domain, so a signature for one chain or contract is worthless on another; an attestation also names the
 * marketplace that consumes it (the committee checks it against its caller), so it settles nothing on another
 * marketplace, and a node serving two marketplaces never signs the same message for their escrows.
 */
import { encodeAbiParameters, keccak256, type Address, type Hex, type TypedDataDomain } from "viem";
import type { LocalAccount } from "viem/accounts";
import { recoverTypedSigner } from "./recover";
import { keccakBytes } from "./native-crypto";
import { BadRequest } from "./errors";
import { authorizationToJson, MAX_UINT256, MAX_UINT64, parseAuthorizationJson, writeWord32, type AuthorizationJson, type UsageAuthorization } from "./authorization";

export interface UsageReport {
  escrowId: bigint;
  cumulativeUnits: bigint;
  sequence: bigint;
  /** usageResultDigest(authorization, responseDigest): what the provider signed and the chain records. */
  resultDigest: Hex;
  providerSignature: Hex;
  /** The renter's signed authorization of the request this report charges for (nodes check units against it). */
  authorization: UsageAuthorization;
  /** keccak256 of the response body the provider returned. */
  responseDigest: Hex;
}

/** What travels over HTTP: bigints as decimal strings. */
export interface UsageReportJson {
  escrowId: string;
  cumulativeUnits: string;
  sequence: string;
  resultDigest: string;
  providerSignature: string;
  authorization: AuthorizationJson;
  responseDigest: string;
}

export interface MemberSignature {
  signer: Address;
  epoch: bigint;
  signature: Hex;
}

export const PROVIDER_REPORT_TYPES = {
  ProviderUsageReport: [
    { name: "escrowId", type: "uint256" },
    { name: "cumulativeUnits", type: "uint256" },
    { name: "sequence", type: "uint64" },
    { name: "resultDigest", type: "bytes32" },
  ],
} as const;

export const ATTESTATION_TYPES = {
  UsageAttestation: [
    { name: "marketplace", type: "address" },
    { name: "escrowId", type: "uint256" },
    { name: "cumulativeUnits", type: "uint256" },
    { name: "sequence", type: "uint64" },
    { name: "resultDigest", type: "bytes32" },
    { name: "epoch", type: "uint64" },
  ],
} as const;

const HEX32 = /^0x[0-9a-fA-F]{64}$/;
const HEX = /^0x[0-9a-fA-F]*$/;
const UINT = /^\d{1,78}$/;

/** Parses a report from JSON, naming the first bad field. */
export function parseReport(input: unknown): UsageReport {
  if (typeof input !== "object" || input === null) throw new BadRequest("report must be a JSON object");
  const r = input as Record<string, unknown>;
  for (const field of ["escrowId", "cumulativeUnits", "sequence"]) {
    if (typeof r[field] !== "string" || !UINT.test(r[field] as string)) {
      throw new BadRequest(`report.${field} must be a decimal integer string`, { field });
    }
  }
  if (typeof r.resultDigest !== "string" || !HEX32.test(r.resultDigest)) {
    throw new BadRequest("report.resultDigest must be a 32-byte hex string", { field: "resultDigest" });
  }
  if (typeof r.providerSignature !== "string" || !HEX.test(r.providerSignature) || r.providerSignature.length < 132) {
    throw new BadRequest("report.providerSignature must be a hex signature", { field: "providerSignature" });
  }
  if (typeof r.responseDigest !== "string" || !HEX32.test(r.responseDigest)) {
    throw new BadRequest("report.responseDigest must be a 32-byte hex string", { field: "responseDigest" });
  }
  const authorization = parseAuthorizationJson(r.authorization, "report.authorization");
  if (BigInt(r.escrowId as string) >= MAX_UINT256 || BigInt(r.cumulativeUnits as string) >= MAX_UINT256) {
    throw new BadRequest("report.escrowId and report.cumulativeUnits must fit in uint256");
  }
  const sequence = BigInt(r.sequence as string);
  if (sequence === 0n || sequence >= MAX_UINT64) throw new BadRequest("report.sequence must be in 1..2^64-1", { field: "sequence" });
  return {
    escrowId: BigInt(r.escrowId as string),
    cumulativeUnits: BigInt(r.cumulativeUnits as string),
    sequence,
    resultDigest: r.resultDigest as Hex,
    providerSignature: r.providerSignature as Hex,
    authorization,
    responseDigest: r.responseDigest as Hex,
  };
}

export function reportToJson(r: UsageReport): UsageReportJson {
  return {
    escrowId: r.escrowId.toString(),
    cumulativeUnits: r.cumulativeUnits.toString(),
    sequence: r.sequence.toString(),
    resultDigest: r.resultDigest,
    providerSignature: r.providerSignature,
    authorization: authorizationToJson(r.authorization),
    responseDigest: r.responseDigest,
  };
}

/** Identifies a report's content (what members attest): equal content, equal id, whoever relayed it. */
export function reportContentId(r: Pick<UsageReport, "escrowId" | "cumulativeUnits" | "sequence" | "resultDigest">): Hex {
  // keccak256(abi.encode(uint256 escrowId, uint256 cumulativeUnits, uint64 sequence, bytes32 resultDigest)), written
  // by hand (viem's encoder costs ~25 us a call, this is the hottest hash of a node).
  const words = Buffer.allocUnsafe(128);
  writeUint(words, 0, r.escrowId, 256n);
  writeUint(words, 32, r.cumulativeUnits, 256n);
  writeUint(words, 64, r.sequence, 64n);
  writeWord32(words, 96, r.resultDigest);
  return `0x${Buffer.from(keccakBytes(words)).toString("hex")}`;
}

function writeUint(out: Buffer, offset: number, value: bigint, bits: bigint): void {
  if (typeof value !== "bigint" || value < 0n || value >> bits !== 0n) throw new RangeError(`${value} is not a uint${bits}`);
  out.write(value.toString(16).padStart(64, "0"), offset, "hex");
}

/** The slot a report occupies: one attested content per escrow and sequence, ever. */
export function slotKey(r: Pick<UsageReport, "escrowId" | "sequence">): string {
  return `${r.escrowId}:${r.sequence}`;
}

export async function signProviderReport(
  account: LocalAccount,
  domain: TypedDataDomain,
  r: Pick<UsageReport, "escrowId" | "cumulativeUnits" | "sequence" | "resultDigest">,
): Promise<Hex> {
  return account.signTypedData({
    domain,
    types: PROVIDER_REPORT_TYPES,
    primaryType: "ProviderUsageReport",
    message: { escrowId: r.escrowId, cumulativeUnits: r.cumulativeUnits, sequence: r.sequence, resultDigest: r.resultDigest },
  });
}

/**
 * The report's signer. Async for its callers' sake; the work is synchronous (recover.ts, ~0.5 ms instead of viem's
 * ~3.5 ms) and throws InvalidSignatureError for what OpenZeppelin's ECDSA would reject (high s, v not 27/28, ...).
 */
export async function recoverProvider(domain: TypedDataDomain, r: UsageReport): Promise<Address> {
  return recoverTypedSigner(
    domain,
    PROVIDER_REPORT_TYPES,
    "ProviderUsageReport",
    { escrowId: r.escrowId, cumulativeUnits: r.cumulativeUnits, sequence: r.sequence, resultDigest: r.resultDigest },
    r.providerSignature,
  );
}

/** A member's signature over a report, for `marketplace` (the contract that will consume it) in `epoch`. */
export async function signAttestation(
  account: LocalAccount,
  domain: TypedDataDomain,
  r: Pick<UsageReport, "escrowId" | "cumulativeUnits" | "sequence" | "resultDigest">,
  epoch: bigint,
  marketplace: Address,
): Promise<Hex> {
  return account.signTypedData({
    domain,
    types: ATTESTATION_TYPES,
    primaryType: "UsageAttestation",
    message: { marketplace, escrowId: r.escrowId, cumulativeUnits: r.cumulativeUnits, sequence: r.sequence, resultDigest: r.resultDigest, epoch },
  });
}

export async function recoverAttester(
  domain: TypedDataDomain,
  r: Pick<UsageReport, "escrowId" | "cumulativeUnits" | "sequence" | "resultDigest">,
  epoch: bigint,
  signature: Hex,
  marketplace: Address,
): Promise<Address> {
  return recoverTypedSigner(
    domain,
    ATTESTATION_TYPES,
    "UsageAttestation",
    { marketplace, escrowId: r.escrowId, cumulativeUnits: r.cumulativeUnits, sequence: r.sequence, resultDigest: r.resultDigest, epoch },
    signature,
  );
}

/** EIP-2098 compact form [r, yParityAndS] the committee contract takes. */
export function toCompact(signature: Hex): [Hex, Hex] {
  const r = `0x${signature.slice(2, 66)}` as Hex;
  const s = BigInt(`0x${signature.slice(66, 130)}`);
  const v = parseInt(signature.slice(130, 132), 16);
  const yParity = v === 27 || v === 0 ? 0n : 1n;
  const vs = (yParity << 255n) | s;
  return [r, `0x${vs.toString(16).padStart(64, "0")}` as Hex];
}

/** The attestation bytes FederationCommittee.verifyUsageAttestation decodes. */
export function encodeAttestation(epoch: bigint, members: readonly Address[], signatures: Map<string, Hex>): Hex {
  let bits = 0n;
  const ordered: [Hex, Hex][] = [];
  members.forEach((member, index) => {
    const signature = signatures.get(member.toLowerCase());
    if (!signature) return;
    bits |= 1n << BigInt(index);
    ordered.push(toCompact(signature));
  });
  return encodeAbiParameters(
    [
      {
        type: "tuple",
        components: [
          { name: "epoch", type: "uint64" },
          { name: "members", type: "address[]" },
          { name: "signers", type: "uint256" },
          { name: "signatures", type: "bytes32[2][]" },
        ],
      },
    ],
    [{ epoch, members: [...members], signers: bits, signatures: ordered }],
  );
}
