/**
 * Catching a member that signs two contents for one position (escrow, sequence), in any mix of single attestations
 * and batches, and proving it on chain (the committee slashes its whole bond). Every member signature a node checks
 * (a proposer's, a peer's answer) is remembered per position, in a bounded map (oldest positions forgotten first).
 * A proof waits until this node holds no pending usage of the escrow, or a minute: slashing removes the member, and
 * on a committee at its minimum size that would stop every attestation, the honest one for this escrow included.
 */
import type { Address, Hex } from "viem";
import type { ChainContext } from "../shared/chain";
import type { Logger } from "../shared/logger";
import type { TransactionSender } from "../shared/sender";
import { decodeEntries } from "../shared/batch";
import { reportContentId, toCompact } from "../shared/usage-report";
import type { Signable } from "./attestation";

/** Only the signed words are kept (not the reports with their authorizations): memory per position stays small. */
interface Evidence {
  kind: Signable["kind"];
  words: Hex[];
  index: number;
  epoch: bigint;
  signature: Hex;
  contentId: Hex;
}

interface Proof {
  member: Address;
  escrowId: bigint;
  a: Evidence;
  b: Evidence;
  at: number;
}

const DEFER_MS = 60_000;

export class EquivocationWatch {
  /** position -> member (lower case) -> what it signed there */
  private readonly seen = new Map<string, Map<string, Evidence>>();
  private readonly proving = new Set<string>();
  private readonly queue: Proof[] = [];

  constructor(
    private readonly ctx: ChainContext,
    private readonly sender: TransactionSender,
    private readonly log: Logger,
    private readonly onProof: () => void,
    private readonly maxPositions = 20_000,
  ) {}

  /** Records a verified signature of `member` over `s`; queues a proof if it contradicts an earlier one. */
  record(member: Address, s: Signable, epoch: bigint, signature: Hex): void {
    const key = member.toLowerCase();
    s.reports.forEach((report, index) => {
      const position = `${report.escrowId}:${report.sequence}`;
      const contentId = reportContentId(report);
      let byMember = this.seen.get(position);
      if (!byMember) {
        if (this.seen.size >= this.maxPositions) this.seen.delete(this.seen.keys().next().value!);
        byMember = new Map();
        this.seen.set(position, byMember);
      }
      const earlier = byMember.get(key);
      if (!earlier) {
        byMember.set(key, { kind: s.kind, words: s.words, index, epoch, signature, contentId });
        return;
      }
      if (earlier.contentId === contentId || this.proving.has(key)) return;
      this.proving.add(key);
      this.log.warn({ member, position }, "member signed two contents for one position: proving equivocation");
      this.queue.push({ member, escrowId: report.escrowId, a: earlier, b: { kind: s.kind, words: s.words, index, epoch, signature, contentId }, at: Date.now() });
    });
  }

  /** Sends the queued proofs whose escrow is no longer pending here (or that waited long enough). */
  flush(isPending: (escrowId: bigint) => boolean): void {
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const proof = this.queue[i];
      if (isPending(proof.escrowId) && Date.now() - proof.at < DEFER_MS) continue;
      this.queue.splice(i, 1);
      void this.prove(proof);
    }
  }

  private async prove({ member, a, b }: Proof): Promise<void> {
    const batch = (e: Evidence) => ({ entries: e.words, index: BigInt(e.index), epoch: e.epoch, signature: toCompact(e.signature) });
    const entry = (e: Evidence) => decodeEntries(e.words.slice(2 * e.index, 2 * e.index + 2))[0];
    const single = (e: Evidence) => {
      const r = entry(e);
      return { cumulativeUnits: r.cumulativeUnits, resultDigest: r.resultDigest, epoch: e.epoch, signature: toCompact(e.signature) };
    };
    const r = entry(a);
    const market = this.ctx.marketplace.address;
    let call: { functionName: string; args: unknown[] };
    if (a.kind === "single" && b.kind === "single") {
      call = { functionName: "proveEquivocation", args: [member, market, r.escrowId, r.sequence, single(a), single(b)] };
    } else if (a.kind === "batch" && b.kind === "batch") {
      call = { functionName: "proveBatchEquivocation", args: [member, market, batch(a), batch(b)] };
    } else {
      const [s, m] = a.kind === "single" ? [a, b] : [b, a];
      call = { functionName: "proveMixedEquivocation", args: [member, market, r.escrowId, r.sequence, single(s), batch(m)] };
    }
    try {
      const sent = await this.sender.send({ address: this.ctx.committee.address, abi: this.ctx.committee.abi, ...call });
      this.onProof();
      this.log.info({ member, tx: sent?.hash, proof: call.functionName }, "equivocation proven; member slashed");
    } catch (error) {
      this.proving.delete(member.toLowerCase()); // a later contradiction may be proven again
      this.log.info({ member, err: (error as Error).message.split("\n")[0] }, "equivocation proof not applied (already slashed?)");
    }
  }
}
