/**
 * Batched settlement in tests, on the workers' own encoding (workers/shared/batch.ts): the same words, hash and
 * EIP-712 type the consensus nodes produce, signed here by Hardhat signers.
 */
import { ethers } from "hardhat";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import type { Hex } from "viem";
import type { FederationCommittee, IMarketplaceBatches } from "../../typechain-types";
import { BATCH_TYPES, decodeApplied, encodeEntries, entriesHash, type AppliedEntry, type BatchEntry } from "../../workers/shared/batch";
import { quorumAttestation } from "./committee";

export { decodeApplied, encodeApplied, encodeEntries, entriesHash, type AppliedEntry, type BatchEntry } from "../../workers/shared/batch";

export const BATCH_EIP712_TYPES = { UsageBatch: [...BATCH_TYPES.UsageBatch] };

export const SkipReason = { NotOpen: 0n, SettlementPeriodOver: 1n, NoNewUsage: 2n, SpendCapExceeded: 3n, UnitsOutOfRange: 4n };

/** The marketplace proxy with the batch module's functions (the deployment's ABI merges them in). */
export async function batchesAt(marketplace: { getAddress(): Promise<string> }): Promise<IMarketplaceBatches> {
  return ethers.getContractAt("IMarketplaceBatches", await marketplace.getAddress());
}

export async function committeeDomain(committee: FederationCommittee, chainId?: bigint) {
  const domain = await committee.eip712Domain();
  return { name: domain.name, version: domain.version, chainId: chainId ?? domain.chainId, verifyingContract: domain.verifyingContract };
}

/** A member's EIP-2098 compact signature over a batch (entry words) for `marketplace` in `epoch`. */
export async function signBatchWords(
  committee: FederationCommittee,
  signer: HardhatEthersSigner,
  marketplace: string,
  words: readonly Hex[] | readonly string[],
  epoch: bigint,
  domainOverride: { chainId?: bigint } = {},
): Promise<[string, string]> {
  const domain = await committeeDomain(committee, domainOverride.chainId);
  const message = { marketplace, entriesHash: entriesHash(words as Hex[]), epoch };
  const sig = ethers.Signature.from(await signer.signTypedData(domain, BATCH_EIP712_TYPES, message));
  return [sig.r, sig.yParityAndS];
}

/** Signs `entries` with the given members for the current epoch; returns the words and the attestation bytes. */
export async function attestBatch(
  committee: FederationCommittee,
  signers: HardhatEthersSigner[],
  marketplace: string,
  entries: readonly BatchEntry[],
  options: { chainId?: bigint } = {},
) {
  const words = encodeEntries(entries);
  const attestation = await quorumAttestation(committee, signers, (s, epoch) => signBatchWords(committee, s, marketplace, words, epoch, options));
  return { words, ...attestation };
}

/** The applied words and batch id a chargeBatchWithAttestation transaction published (its UsageBatchCharged). */
export async function appliedOf(batches: IMarketplaceBatches, tx: { wait(): Promise<unknown> }) {
  const receipt = (await tx.wait()) as { logs: { topics: readonly string[]; data: string }[] };
  for (const log of receipt.logs) {
    const parsed = batches.interface.parseLog(log);
    if (parsed?.name === "UsageBatchCharged") {
      const words = [...(parsed.args.applied as string[])];
      return {
        batchId: parsed.args.batchId as bigint,
        disputableUntil: parsed.args.disputableUntil as bigint,
        words,
        entries: words.map((w) => decodeApplied(w as Hex)) as AppliedEntry[],
      };
    }
  }
  throw new Error("no UsageBatchCharged in the receipt");
}

export const DIGEST_OF = (i: number | bigint) => ethers.id(`result-${i}`) as Hex;
