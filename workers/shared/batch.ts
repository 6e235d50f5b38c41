/**
 * Batched settlement: the entries one committee attestation covers, as the marketplace reads them.
 *
 * An entry is two words: `escrowId (uint64) | sequence (uint64) | cumulativeUnits (uint128)` and the report's
 * `resultDigest`. Members sign `UsageBatch(marketplace, entriesHash, epoch)` in the committee's EIP-712 domain, where
 * `entriesHash = keccak256(entries as packed words)`; the committee checks `marketplace` against its caller, and the
 * domain binds the chain and the committee, so a batch settles nothing on another deployment.
 *
 * The marketplace answers a batch with one word per applied entry, `escrowId (uint64) | cumulativeUnits (uint64) |
 * amount (uint128)` (event UsageBatchCharged); a renter disputes an entry by quoting those words.
 */
import { concat, encodeAbiParameters, keccak256, pad, toHex, type Address, type Hex, type TypedDataDomain } from "viem";
import type { LocalAccount } from "viem/accounts";
import { recoverTypedSigner } from "./recover";

export interface BatchEntry {
  escrowId: bigint;
  sequence: bigint;
  cumulativeUnits: bigint;
  resultDigest: Hex;
}

export interface AppliedEntry {
  escrowId: bigint;
  cumulativeUnits: bigint;
  amount: bigint;
}

/** The most entries one batch may carry (the marketplace reverts above it). */
export const MAX_BATCH_ENTRIES = 256;

const U64 = (1n << 64n) - 1n;
const U128 = (1n << 128n) - 1n;

export const BATCH_TYPES = {
  UsageBatch: [
    { name: "marketplace", type: "address" },
    { name: "entriesHash", type: "bytes32" },
    { name: "epoch", type: "uint64" },
  ],
} as const;

export function encodeEntries(entries: readonly BatchEntry[]): Hex[] {
  const words: Hex[] = [];
  for (const e of entries) {
    if (e.escrowId > U64 || e.sequence > U64 || e.cumulativeUnits > U128) {
      throw new RangeError(`batch entry for escrow ${e.escrowId} does not fit the packed encoding`);
    }
    words.push(pad(toHex((e.escrowId << 192n) | (e.sequence << 128n) | e.cumulativeUnits), { size: 32 }), e.resultDigest);
  }
  return words;
}

export function decodeEntries(words: readonly Hex[]): BatchEntry[] {
  if (words.length % 2 !== 0) throw new RangeError("batch entries come in pairs of words");
  const entries: BatchEntry[] = [];
  for (let i = 0; i < words.length; i += 2) {
    const w = BigInt(words[i]);
    entries.push({ escrowId: w >> 192n, sequence: (w >> 128n) & U64, cumulativeUnits: w & U128, resultDigest: words[i + 1] });
  }
  return entries;
}

/** keccak256 over the packed words (what abi.encodePacked(bytes32[]) hashes). */
export function entriesHash(words: readonly Hex[]): Hex {
  return keccak256(words.length === 0 ? "0x" : concat(words as Hex[]));
}

export function decodeApplied(word: Hex | bigint): AppliedEntry {
  const w = BigInt(word);
  return { escrowId: w >> 192n, cumulativeUnits: (w >> 128n) & U64, amount: w & U128 };
}

export function encodeApplied(a: AppliedEntry): Hex {
  return pad(toHex((a.escrowId << 192n) | (a.cumulativeUnits << 128n) | a.amount), { size: 32 });
}

export async function signBatch(account: LocalAccount, domain: TypedDataDomain, marketplace: Address, hash: Hex, epoch: bigint): Promise<Hex> {
  return account.signTypedData({ domain, types: BATCH_TYPES, primaryType: "UsageBatch", message: { marketplace, entriesHash: hash, epoch } });
}

/** A member's signature's signer (async for callers; synchronous work in recover.ts, OpenZeppelin ECDSA's rules). */
export async function recoverBatchSigner(domain: TypedDataDomain, marketplace: Address, hash: Hex, epoch: bigint, signature: Hex): Promise<Address> {
  return recoverTypedSigner(domain, BATCH_TYPES, "UsageBatch", { marketplace, entriesHash: hash, epoch }, signature);
}

/**
 * The marketplace proxy's storage slots a batch reads and writes for each escrow (its three `Escrow` words), for an
 * EIP-2930 access list: declared slots cost 2,100 gas less on first touch, listed ones 1,900 + 2,400 per slot
 * ahead of time, about 300 gas saved per escrow at 100 entries (bench/results/gas.md). The escrows mapping is field 5
 * of the marketplace's namespaced storage (MarketplaceStorage, ERC-7201 at MARKETPLACE_STORAGE).
 */
const MARKETPLACE_STORAGE = 0x59cc3643a2224799e59cdb6297ffb4bebe1e70aaf4f928458e3947f56f11db00n;
const ESCROWS_FIELD = 5n;

export function escrowSlots(escrowId: bigint): Hex[] {
  const base = BigInt(keccak256(encodeAbiParameters([{ type: "uint256" }, { type: "uint256" }], [escrowId, MARKETPLACE_STORAGE + ESCROWS_FIELD])));
  return [0n, 1n, 2n].map((i) => pad(toHex(base + i), { size: 32 }));
}
