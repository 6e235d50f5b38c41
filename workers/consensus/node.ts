/**
 * A consensus node. It validates each usage report itself, signs it at most once per (escrow, sequence) slot,
 * exchanges signatures with its peers, and once it holds a quorum (2f+1 of the current epoch) submits the
 * attestation to the marketplace. Submission is staggered by a per-report rotation so that normally one node submits,
 * and any other takes over when that one is down; a duplicate submission only costs its sender a failed transaction.
 * Conflicting signatures by one member for the same slot are proven on chain (the member is slashed).
 */
import type { Address, Hex } from "viem";
import { keccak256, encodeAbiParameters } from "viem";
import type { ChainContext, CommitteeEpoch } from "../shared/chain";
import { readCommitteeEpoch, readEscrow, readSettledSince } from "../shared/chain";
import { ReportRejected, WorkerError } from "../shared/errors";
import type { Logger } from "../shared/logger";
import { Gossip } from "./gossip";
import { SigningJournal } from "./journal";
import {
  encodeAttestation,
  parseReport,
  recoverAttester,
  reportContentId,
  reportToJson,
  signAttestation,
  slotKey,
  toCompact,
  type MemberSignature,
  type UsageReport,
} from "../shared/usage-report";
import { TransactionSender } from "../shared/sender";
import { ChainSnapshot, validateReport } from "./validate";

export interface NodeOptions {
  peers: string[];
  journalFile: string;
  submitStaggerMs: number;
  gossipIntervalMs: number;
  /** Unsettled reports are dropped after this long (they stay in the journal's signed record). */
  reportTtlMs: number;
}

interface ContentGroup {
  report: UsageReport;
  contentId: Hex;
  /** epoch -> signer (lower-case) -> signature */
  signatures: Map<string, Map<string, Hex>>;
}

interface Slot {
  key: string;
  escrowId: bigint;
  sequence: bigint;
  groups: Map<Hex, ContentGroup>;
  settled: boolean;
  submitting: boolean;
  submitTimer?: NodeJS.Timeout;
  /** Work deferred until the slot is settled or dropped (an equivocation proof). */
  afterSettled?: () => unknown;
  /** A signature being produced: concurrent messages about the slot wait for it instead of validating again. */
  signing?: Promise<SignResult>;
  firstSeen: number;
}

/**
 * The fewest cumulative units any report in the slot claims: once the chain has accounted that many, no honest
 * report of the slot can still charge (a conflicting, higher one is an equivocation, proven separately).
 */
function slotUnits(slot: Slot): bigint {
  let min: bigint | undefined;
  for (const group of slot.groups.values()) {
    if (min === undefined || group.report.cumulativeUnits < min) min = group.report.cumulativeUnits;
  }
  return min ?? 0n;
}

function signatureCount(group: ContentGroup): number {
  let n = 0;
  for (const sigs of group.signatures.values()) n += sigs.size;
  return n;
}

export interface SignResult {
  slot: string;
  contentId: Hex;
  signer: Address;
  epoch: string;
  signature: Hex;
}

export class ConsensusNode {
  private readonly slots = new Map<string, Slot>();
  private readonly epochs = new Map<string, CommitteeEpoch>();
  private readonly slashing = new Set<string>();
  private current?: CommitteeEpoch;
  private epochReadAt = 0;
  /** Next block to scan for settlements (UsageCharged / EscrowClosed). */
  private settledCursor?: bigint;
  private timer?: NodeJS.Timeout;
  private readonly sender: TransactionSender;
  private readonly snapshot: ChainSnapshot;
  private readonly gossip: Gossip;
  readonly journal: SigningJournal;
  readonly address: Address;
  /** Settlements this process submitted, and when their reports first arrived (for the latency benchmark). */
  readonly settlements: { slot: string; txHash: Hex; firstSeen: number; settledAt: number }[] = [];

  constructor(
    private readonly ctx: ChainContext,
    private readonly options: NodeOptions,
    private readonly log: Logger,
  ) {
    this.gossip = new Gossip(options.peers, log);
    this.journal = new SigningJournal(options.journalFile);
    this.address = ctx.account.address;
    this.sender = new TransactionSender(ctx);
    this.snapshot = new ChainSnapshot(ctx);
  }

  async start(): Promise<void> {
    await Promise.all([this.refreshEpoch(), this.snapshot.refresh()]);
    for (const [key, json] of this.journal.pending()) {
      // Resume what was signed before a restart (re-share, settle), unless the chain settled it meanwhile.
      const report = parseReport(json);
      const escrow = await readEscrow(this.ctx, report.escrowId);
      if (escrow.units >= report.cumulativeUnits || escrow.status !== 1) {
        this.journal.settle(key);
        continue;
      }
      await this.receive(report, []).catch((error: Error) =>
        this.log.info({ err: error.message }, "journalled report no longer pending"),
      );
    }
    this.timer = setInterval(() => void this.tick(), this.options.gossipIntervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
    for (const slot of this.slots.values()) clearTimeout(slot.submitTimer);
  }

  epoch(): CommitteeEpoch | undefined {
    return this.current;
  }

  pendingCount(): number {
    return [...this.slots.values()].filter((s) => !s.settled).length;
  }

  /**
   * Entry point for a report from a provider, an orchestrator or a peer (with the peer's attestations). Returns this
   * node's signature, or throws ReportRejected (the report is invalid) / WorkerError.
   */
  async receive(report: UsageReport, attestations: MemberSignature[]): Promise<SignResult> {
    const slot = this.slotFor(report);
    const group = this.groupFor(slot, report);
    const known = signatureCount(group);
    for (const a of attestations) await this.acceptAttestation(slot, group, a);

    const mine = await this.signOnce(slot, group, report);
    // Share only news: re-broadcasting every gossip message would echo between peers forever. Peers that missed a
    // message catch up through the periodic re-share in tick().
    if (signatureCount(group) > known && !slot.settled) this.share(group);
    this.maybeSettle(slot, group);
    return mine;
  }

  // ------------------------------------------------------------------ signing

  /**
   * Signs the group's content once. `copy` is the report as this message carried it: copies of one content can differ
   * in their signatures (a provider's or renter's signature is not part of what members attest), so the copy at hand
   * is what gets validated, and a valid one replaces whatever copy arrived first. Otherwise a badly signed copy sent
   * ahead of the honest one would make every later honest copy fail.
   */
  private async signOnce(slot: Slot, group: ContentGroup, copy: UsageReport = group.report): Promise<SignResult> {
    while (slot.signing) await slot.signing.catch(() => undefined);
    slot.signing = this.signOnceNow(slot, group, copy);
    try {
      return await slot.signing;
    } finally {
      slot.signing = undefined;
    }
  }

  private async signOnceNow(slot: Slot, group: ContentGroup, copy: UsageReport): Promise<SignResult> {
    const epoch = await this.recentEpoch();
    if (!epoch.members.some((m) => m.toLowerCase() === this.address.toLowerCase())) {
      throw new WorkerError(`node ${this.address} is not a committee member in epoch ${epoch.epoch}`, "not-a-member", 503);
    }
    const previous = this.journal.signedFor(slot.key);
    if (previous && previous.contentId !== group.contentId) {
      throw new ReportRejected("conflicting-report", `this node already attested a different report for ${slot.key}`, {
        signed: previous.contentId,
      });
    }
    const epochKey = epoch.epoch.toString();
    let signature = previous?.signatures[epochKey];
    if (!signature) {
      await validateReport(this.ctx, this.snapshot, copy);
      group.report = copy;
      signature = await signAttestation(this.ctx.account, this.ctx.domain, group.report, epoch.epoch, this.ctx.marketplace.address);
      // Durable before it leaves the process: a restart must never sign another report for this slot.
      this.journal.recordSignature(slot.key, group.contentId, epoch.epoch, signature, reportToJson(group.report));
      this.log.info({ slot: slot.key, epoch: epochKey }, "signed usage report");
    }
    this.addSignature(group, epochKey, this.address, signature);
    return { slot: slot.key, contentId: group.contentId, signer: this.address, epoch: epochKey, signature };
  }

  /** Verifies a peer's attestation before counting it; records it for equivocation checks either way. */
  private async acceptAttestation(slot: Slot, group: ContentGroup, a: MemberSignature): Promise<void> {
    const epoch = this.epochs.get(a.epoch.toString());
    if (!epoch) return; // an epoch this node never saw as current: cannot check its membership
    // Already counted: gossip repeats signatures, and recovering one costs a millisecond or two of CPU.
    if (group.signatures.get(a.epoch.toString())?.get(a.signer.toLowerCase()) === a.signature) return;
    let signer: Address;
    try {
      signer = await recoverAttester(this.ctx.domain, group.report, a.epoch, a.signature, this.ctx.marketplace.address);
    } catch {
      return;
    }
    if (signer.toLowerCase() !== a.signer.toLowerCase()) return;
    if (!epoch.members.some((m) => m.toLowerCase() === signer.toLowerCase())) return;
    this.addSignature(group, a.epoch.toString(), signer, a.signature);
    this.checkEquivocation(slot, signer);
  }

  private addSignature(group: ContentGroup, epoch: string, signer: Address, signature: Hex): void {
    const byEpoch = group.signatures.get(epoch) ?? new Map<string, Hex>();
    byEpoch.set(signer.toLowerCase(), signature);
    group.signatures.set(epoch, byEpoch);
  }

  // ------------------------------------------------------------------ settlement

  private maybeSettle(slot: Slot, group: ContentGroup): void {
    if (slot.settled || slot.submitting || slot.submitTimer) return;
    const epoch = this.current;
    if (!epoch) return;
    const signatures = group.signatures.get(epoch.epoch.toString());
    if (!signatures || signatures.size < epoch.quorum) return;
    const delay = this.rank(slot, epoch) * this.options.submitStaggerMs;
    this.log.debug({ slot: slot.key, delay, signatures: signatures.size }, "quorum reached");
    slot.submitTimer = setTimeout(() => {
      slot.submitTimer = undefined;
      void this.submit(slot, group, epoch, signatures, delay > 0);
    }, delay);
  }

  /** This node's turn for the slot: 0 = first. The rotation starts at a member derived from the slot. */
  private rank(slot: Slot, epoch: CommitteeEpoch): number {
    const n = epoch.members.length;
    const me = epoch.members.findIndex((m) => m.toLowerCase() === this.address.toLowerCase());
    const start = Number(BigInt(keccak256(encodeAbiParameters([{ type: "uint256" }, { type: "uint64" }], [slot.escrowId, slot.sequence]))) % BigInt(n));
    return (me - start + n) % n;
  }

  /**
   * Sends the settlement. The first node in the rotation sends at once (its validation just read the escrow); later
   * ones check the chain first, since normally the first one has settled by then.
   */
  private async submit(slot: Slot, group: ContentGroup, epoch: CommitteeEpoch, signatures: Map<string, Hex>, checkFirst: boolean): Promise<void> {
    if (slot.settled || slot.submitting) return;
    slot.submitting = true;
    try {
      const r = group.report;
      const sent = await this.sender.send(
        {
          address: this.ctx.marketplace.address,
          abi: this.ctx.marketplace.abi,
          functionName: "chargeWithAttestation",
          args: [r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, encodeAttestation(epoch.epoch, epoch.members, signatures)],
        },
        async () => !slot.settled && !(checkFirst && (await this.settledOnChain(slot))),
      );
      if (!sent) return;
      if (sent.receipt.status === "success") {
        this.markSettled(slot);
        this.settlements.push({ slot: slot.key, txHash: sent.hash, firstSeen: slot.firstSeen, settledAt: Date.now() });
        this.log.info({ slot: slot.key, tx: sent.hash, signatures: signatures.size }, "settled usage on chain");
      }
    } catch (error) {
      // Most often another node settled first (the estimate reverts with StaleReceipt); otherwise the next tick retries.
      if (!(await this.settledOnChain(slot).catch(() => false))) {
        const e = error as Error & { details?: string; cause?: { data?: unknown } };
        this.log.warn({ slot: slot.key, err: e.message.split("\n")[0], details: e.details, data: e.cause?.data }, "settlement attempt failed");
      }
    } finally {
      slot.submitting = false;
    }
  }

  private async settledOnChain(slot: Slot): Promise<boolean> {
    const escrow = await readEscrow(this.ctx, slot.escrowId);
    if (escrow.units >= slotUnits(slot) || escrow.status !== 1) {
      this.markSettled(slot);
      return true;
    }
    return false;
  }

  private markSettled(slot: Slot): void {
    slot.settled = true;
    this.runAfterSettled(slot);
    clearTimeout(slot.submitTimer);
    this.journal.settle(slot.key);
  }

  // ------------------------------------------------------------------ equivocation

  private checkEquivocation(slot: Slot, signer: Address): void {
    const key = signer.toLowerCase();
    if (this.slashing.has(key)) return;
    const signed: { group: ContentGroup; epoch: string; signature: Hex }[] = [];
    for (const group of slot.groups.values()) {
      for (const [epoch, sigs] of group.signatures) {
        const signature = sigs.get(key);
        if (signature) {
          signed.push({ group, epoch, signature });
          break;
        }
      }
    }
    if (signed.length < 2) return;
    this.slashing.add(key);
    const [a, b] = signed;
    const evidence = (s: (typeof signed)[number]) => ({
      cumulativeUnits: s.group.report.cumulativeUnits,
      resultDigest: s.group.report.resultDigest,
      epoch: BigInt(s.epoch),
      signature: toCompact(s.signature),
    });
    this.log.warn({ member: signer, slot: slot.key }, "member signed two different reports: proving equivocation");
    const prove = () => this.sender
      .send({
        address: this.ctx.committee.address,
        abi: this.ctx.committee.abi,
        functionName: "proveEquivocation",
        args: [signer, this.ctx.marketplace.address, slot.escrowId, slot.sequence, evidence(a), evidence(b)],
      })
      .then((sent) => sent!.receipt)
      .then((receipt) => this.log.info({ member: signer, tx: receipt.transactionHash }, "equivocation proven; member slashed"))
      .catch((error: Error) => this.log.info({ member: signer, err: error.message.split("\n")[0] }, "equivocation proof not applied (already slashed?)"));
    // Slashing removes the member: on a committee at its minimum size that would stop every attestation, this
    // slot's honest one included. So the proof goes out once the slot is settled (or dropped); the evidence keeps.
    if (slot.settled) void prove();
    else slot.afterSettled = prove;
  }

  private runAfterSettled(slot: Slot): void {
    const work = slot.afterSettled;
    slot.afterSettled = undefined;
    work?.();
  }

  // ------------------------------------------------------------------ bookkeeping

  private slotFor(report: UsageReport): Slot {
    const key = slotKey(report);
    let slot = this.slots.get(key);
    if (!slot) {
      slot = { key, escrowId: report.escrowId, sequence: report.sequence, groups: new Map(), settled: false, submitting: false, firstSeen: Date.now() };
      this.slots.set(key, slot);
    }
    return slot;
  }

  private groupFor(slot: Slot, report: UsageReport): ContentGroup {
    const contentId = reportContentId(report);
    let group = slot.groups.get(contentId);
    if (!group) {
      group = { report, contentId, signatures: new Map() };
      slot.groups.set(contentId, group);
    }
    return group;
  }

  private share(group: ContentGroup): void {
    const attestations: { signer: string; epoch: string; signature: Hex }[] = [];
    for (const [epoch, sigs] of group.signatures) {
      for (const [signer, signature] of sigs) attestations.push({ signer, epoch, signature });
    }
    this.gossip.broadcast("/gossip", { report: reportToJson(group.report), attestations });
  }

  private async refreshEpoch(): Promise<CommitteeEpoch> {
    const epoch = await readCommitteeEpoch(this.ctx);
    this.epochs.set(epoch.epoch.toString(), epoch);
    this.current = epoch;
    this.epochReadAt = Date.now();
    return epoch;
  }

  /**
   * The committee as read at most one gossip interval ago. Reading it for every message would cost three calls per
   * gossip; a signature under an epoch replaced meanwhile stays valid through the committee's grace period, and
   * tick() re-signs under the new one.
   */
  private async recentEpoch(): Promise<CommitteeEpoch> {
    if (this.current && Date.now() - this.epochReadAt < this.options.gossipIntervalMs) return this.current;
    return this.refreshEpoch();
  }

  /** Marks slots settled from the chain's charge and close events since the last scan. */
  private async syncSettlements(): Promise<void> {
    const head = await this.ctx.publicClient.getBlockNumber();
    const from = this.settledCursor ?? head;
    if (from > head) return;
    const { charged, closed } = await readSettledSince(this.ctx, from, head);
    this.settledCursor = head + 1n;
    const closedSet = new Set(closed);
    for (const slot of this.slots.values()) {
      if (slot.settled) continue;
      if (closedSet.has(slot.escrowId) || charged.some((c) => c.escrowId === slot.escrowId && c.cumulativeUnits >= slotUnits(slot))) {
        this.markSettled(slot);
      }
    }
  }

  /**
   * Re-shares unsettled reports (peers that were down catch up), re-signs them under a new epoch, retries settlement
   * and forgets old ones. Chain reads per tick are constant: the committee, the head and one log query.
   */
  private async tick(): Promise<void> {
    let epoch: CommitteeEpoch;
    try {
      [epoch] = await Promise.all([this.refreshEpoch(), this.snapshot.refresh()]);
      await this.syncSettlements();
    } catch (error) {
      this.log.warn({ err: (error as Error).message.split("\n")[0] }, "chain unreachable");
      return;
    }
    const epochKey = epoch.epoch.toString();
    for (const [key, slot] of this.slots) {
      // Settled or expired slots are forgotten after the TTL: memory stays bounded on a long-running node, and a
      // late message about such a slot is refused by validation (its units are no longer beyond what the chain accounted).
      if (Date.now() - slot.firstSeen > this.options.reportTtlMs && slot.settled && !slot.submitting) {
        this.slots.delete(key);
        continue;
      }
      if (slot.settled) continue;
      if (Date.now() - slot.firstSeen > this.options.reportTtlMs) {
        slot.settled = true;
        this.runAfterSettled(slot);
        continue;
      }
      const signed = this.journal.signedFor(slot.key);
      const group = signed && slot.groups.get(signed.contentId);
      if (!group) continue;
      if (!signed.signatures[epochKey]) await this.signOnce(slot, group).catch(() => undefined);
      this.share(group);
      this.maybeSettle(slot, group);
    }
  }
}
