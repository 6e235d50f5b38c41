import { ethers } from "hardhat";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import type { FederationCommittee } from "../../typechain-types";

export interface UsageReport {
  /** The marketplace that consumes the attestation (the caller of verifyUsageAttestation). */
  marketplace: string;
  escrowId: bigint;
  cumulativeUnits: bigint;
  sequence: bigint;
  resultDigest: string;
}

export const ATTESTATION_TYPES = {
  UsageAttestation: [
    { name: "marketplace", type: "address" },
    { name: "escrowId", type: "uint256" },
    { name: "cumulativeUnits", type: "uint256" },
    { name: "sequence", type: "uint64" },
    { name: "resultDigest", type: "bytes32" },
    { name: "epoch", type: "uint64" },
  ],
};

/** A member's EIP-2098 compact signature [r, yParityAndS] over a report (for its marketplace) in `epoch`. */
export async function signAttestation(
  committee: FederationCommittee,
  signer: HardhatEthersSigner,
  report: UsageReport,
  epoch: bigint,
  domainOverride: { chainId?: bigint } = {},
): Promise<[string, string]> {
  const { name, version, chainId, verifyingContract } = await committee.eip712Domain();
  const domain = { name, version, chainId: domainOverride.chainId ?? chainId, verifyingContract };
  const { marketplace, escrowId, cumulativeUnits, sequence, resultDigest } = report;
  const message = { marketplace, escrowId, cumulativeUnits, sequence, resultDigest, epoch };
  const sig = ethers.Signature.from(await signer.signTypedData(domain, ATTESTATION_TYPES, message));
  return [sig.r, sig.yParityAndS];
}

export const ATTESTATION_ABI = "tuple(uint64 epoch, address[] members, uint256 signers, bytes32[2][] signatures)";

export function encodeAttestation(epoch: bigint, members: string[], signers: bigint, signatures: [string, string][]) {
  return ethers.AbiCoder.defaultAbiCoder().encode([ATTESTATION_ABI], [[epoch, members, signers, signatures]]);
}

/**
 * The attestation bytes for the current epoch signed by `signers` (`sign` makes one member's compact signature),
 * with the signer bitmap and signatures in member-index order. Shared by single-report and batch attestations.
 */
export async function quorumAttestation(
  committee: FederationCommittee,
  signers: HardhatEthersSigner[],
  sign: (signer: HardhatEthersSigner, epoch: bigint) => Promise<[string, string]>,
) {
  const epoch = await committee.currentEpoch();
  const members = [...(await committee.currentMembers())];
  const ordered = signers
    .map((s) => ({ s, index: members.findIndex((m) => m.toLowerCase() === s.address.toLowerCase()) }))
    .sort((a, b) => a.index - b.index);
  let bits = 0n;
  const signatures: [string, string][] = [];
  for (const { s, index } of ordered) {
    if (index < 0) throw new Error(`${s.address} is not a member`);
    bits |= 1n << BigInt(index);
    signatures.push(await sign(s, epoch));
  }
  return { epoch, members, bits, signatures, bytes: encodeAttestation(epoch, members, bits, signatures) };
}

/** Signs `report` with the given members (by signer) for the current epoch and builds the attestation bytes. */
export async function attestWith(committee: FederationCommittee, signers: HardhatEthersSigner[], report: UsageReport) {
  return quorumAttestation(committee, signers, (s, epoch) => signAttestation(committee, s, report, epoch));
}
