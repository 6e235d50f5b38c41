/**
 * What members sign, and the proposals they exchange. A proposal carries the full reports of a batch (so a member
 * that missed a report can check it itself), its kind (one report: the single-report attestation the marketplace
 * has always taken; several: a batch), the epoch, and the proposer's own signature over exactly what it asks the
 * others to sign. That signature authenticates the message: a peer checks that the proposer is a member of the
 * epoch before recovering anything (one recovery per message), so forged proposals cost one cheap refusal.
 */
import type { Address, Hex } from "viem";
import type { ChainContext, ChainReader } from "../shared/chain";
import { BadRequest } from "../shared/errors";
import { encodeEntries, entriesHash, MAX_BATCH_ENTRIES, recoverBatchSigner, signBatch } from "../shared/batch";
import { parseReport, recoverAttester, reportContentId, reportToJson, signAttestation, type UsageReport } from "../shared/usage-report";
import type { Position } from "./store";

export type AttestationKind = "single" | "batch";

export interface Proposal {
  kind: AttestationKind;
  epoch: bigint;
  proposer: Address;
  signature: Hex;
  reports: UsageReport[];
}

/** What is signed: the batch words (and their hash) for a batch, the one report for a single attestation. */
export interface Signable {
  kind: AttestationKind;
  reports: UsageReport[];
  words: Hex[];
  hash: Hex;
}

export function signable(reports: UsageReport[]): Signable {
  const kind: AttestationKind = reports.length === 1 ? "single" : "batch";
  const words = encodeEntries(reports);
  return { kind, reports, words, hash: kind === "batch" ? entriesHash(words) : reportContentId(reports[0]) };
}

export function positionsOf(reports: readonly UsageReport[]): Position[] {
  return reports.map((r) => ({ escrowId: r.escrowId, sequence: r.sequence, contentId: reportContentId(r) }));
}

export async function signSignable(ctx: ChainContext, s: Signable, epoch: bigint): Promise<Hex> {
  return s.kind === "single"
    ? signAttestation(ctx.account, ctx.domain, s.reports[0], epoch, ctx.marketplace.address)
    : signBatch(ctx.account, ctx.domain, ctx.marketplace.address, s.hash, epoch);
}

/** The signer of `signature` over `s` in `epoch`, or undefined if it does not parse. */
export async function signerOf(ctx: ChainReader, s: Signable, epoch: bigint, signature: Hex): Promise<Address | undefined> {
  try {
    return s.kind === "single"
      ? await recoverAttester(ctx.domain, s.reports[0], epoch, signature, ctx.marketplace.address)
      : await recoverBatchSigner(ctx.domain, ctx.marketplace.address, s.hash, epoch, signature);
  } catch {
    return undefined;
  }
}

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const SIGNATURE = /^0x[0-9a-fA-F]{130}$/;

/** Parses a proposal body, naming the first bad field (400). Report count and kind must agree. */
export function parseProposal(input: unknown): Proposal {
  if (typeof input !== "object" || input === null) throw new BadRequest("body must be a JSON object");
  const b = input as Record<string, unknown>;
  if (b.kind !== "single" && b.kind !== "batch") throw new BadRequest('kind must be "single" or "batch"');
  if (typeof b.epoch !== "string" || !/^\d{1,20}$/.test(b.epoch)) throw new BadRequest("epoch must be a decimal string");
  if (typeof b.proposer !== "string" || !ADDRESS.test(b.proposer)) throw new BadRequest("proposer must be an address");
  if (typeof b.signature !== "string" || !SIGNATURE.test(b.signature)) throw new BadRequest("signature must be a 65-byte hex signature");
  if (!Array.isArray(b.reports) || b.reports.length === 0 || b.reports.length > MAX_BATCH_ENTRIES) {
    throw new BadRequest(`reports must be an array of 1..${MAX_BATCH_ENTRIES} reports`);
  }
  if ((b.kind === "single") !== (b.reports.length === 1)) throw new BadRequest("a single attestation carries exactly one report, a batch several");
  const reports = b.reports.map((r, i) => {
    try {
      return parseReport(r);
    } catch (error) {
      throw new BadRequest(`reports[${i}]: ${(error as Error).message}`);
    }
  });
  const U64 = (1n << 64n) - 1n;
  const wide = reports.findIndex((r) => r.escrowId > U64 || r.cumulativeUnits > U64);
  if (wide >= 0) throw new BadRequest(`reports[${wide}]: escrowId and cumulativeUnits must fit in uint64`);
  const escrows = new Set(reports.map((r) => r.escrowId.toString()));
  if (escrows.size !== reports.length) throw new BadRequest("a batch holds at most one report per escrow");
  return { kind: b.kind, epoch: BigInt(b.epoch), proposer: b.proposer as Address, signature: b.signature as Hex, reports };
}

export function proposalToJson(p: Proposal) {
  return { kind: p.kind, epoch: p.epoch.toString(), proposer: p.proposer, signature: p.signature, reports: p.reports.map(reportToJson) };
}
