/**
 * A consensus node. It checks every usage report itself and keeps, per escrow, only the newest valid one
 * (PendingReports); the settlement policy (policy.ts) decides when an escrow is worth settling; then one member
 * proposes a batch of due escrows to the others, each checks and signs it once (never two contents for one
 * position, store.ts), and the proposer submits one transaction with a quorum (2f+1 of the epoch) of signatures.
 *
 * Who proposes: a leader that rotates every few submit staggers; another member takes over an escrow due for longer
 * than its rank times the stagger (the leader is down). The stagger is at least three block times of the chain, so a
 * follower does not race a leader's transaction that is simply not mined yet. Two members proposing the same escrow
 * cost one of them a transaction whose entries the marketplace skips; nothing is charged twice.
 */
import type { Address, Hex } from "viem";
import { decodeEventLog, parseAbiItem } from "viem";
import type { ChainContext, CommitteeEpoch, Escrow } from "../shared/chain";
import { readCommitteeEpoch, readSettledSince } from "../shared/chain";
import { ReportRejected, Unauthorized, WorkerError } from "../shared/errors";
import type { Logger } from "../shared/logger";
import { TransactionSender } from "../shared/sender";
import { lastChargeAt } from "../shared/terms-cache";
import { decodeApplied, escrowSlots, MAX_BATCH_ENTRIES } from "../shared/batch";
import { encodeAttestation, reportContentId, type UsageReport } from "../shared/usage-report";
import { post } from "../shared/http-client";
import { settleRequestSigner, type SettleRequest } from "../shared/settle-request";
import { parseProposal, positionsOf, proposalToJson, signable, signerOf, signSignable, type Proposal, type Signable } from "./attestation";
import { EquivocationWatch } from "./equivocation";
import { EscrowCache } from "./escrows";
import { NodeMetrics } from "./metrics";
import { PendingReports } from "./pending";
import { DEFAULT_POLICY, dueReason, type SettlementPolicy } from "./policy";
import { NodeStore, PositionConflict, SEALED } from "./store";
import { ChainClockOffset, checkAgainstEscrow, checkSignatures } from "./validate";

export interface NodeOptions {
  peers: string[];
  stateFile: string;
  /** Least delay between one member's turn to submit and the next's (raised to three block times). */
  submitStaggerMs: number;
  /** How often the node syncs with the chain and proposes due batches. */
  tickMs: number;
  policy: SettlementPolicy;
  /** Escrows with pending usage held at most (429 beyond). */
  maxPending: number;
  /** Reports being validated at once at most (429 beyond). */
  maxConcurrentReports: number;
  maxBatchEntries: number;
  /** Blocks per log query in the settlement scan. */
  logRangeBlocks: bigint;
  peerTimeoutMs: number;
}

export const DEFAULT_NODE_OPTIONS: Omit<NodeOptions, "peers" | "stateFile"> = {
  submitStaggerMs: 2_000,
  tickMs: 1_000,
  policy: DEFAULT_POLICY,
  maxPending: 100_000,
  maxConcurrentReports: 512,
  maxBatchEntries: 100,
  logRangeBlocks: 2_000n,
  peerTimeoutMs: 10_000,
};

export interface ReportAnswer {
  status: "pending" | "superseded";
  escrowId: string;
  cumulativeUnits: string;
}

/** How far beyond the known escrow count an id may be an escrow opened since the count was read. */
const NEW_ESCROW_WINDOW = 10_000n;
const USAGE_BATCH_CHARGED = parseAbiItem("event UsageBatchCharged(uint256 indexed batchId, uint256 disputableUntil, bytes32[] applied)");
/** Proposals answered at once per proposing member: a member cannot make a node check more than this in parallel. */
const PROPOSALS_PER_MEMBER = 2;

export class ConsensusNode {
  readonly address: Address;
  readonly metrics = new NodeMetrics();
  readonly store: NodeStore;
  private readonly pending: PendingReports;
  private readonly escrows: EscrowCache;
  private readonly clock: ChainClockOffset;
  private readonly sender: TransactionSender;
  private readonly watch: EquivocationWatch;
  private current?: CommitteeEpoch;
  private timer?: NodeJS.Timeout;
  private ticking = false;
  private scanCursor?: bigint;
  private staggerMs: number;
  private validating = 0;
  private countReadAt = 0;
  private countRead?: Promise<void>;
  private epochReadAt = 0;
  private readonly proposalsFrom = new Map<string, number>();
  /** Escrows in a proposal or transaction of this node right now. */
  private readonly inFlight = new Set<string>();
  private pruneCursor = "";
  private ticks = 0;
  /** Settlements this process submitted (bounded; the benchmark reads them through /health's counters). */
  settledEntries = 0;

  constructor(
    private readonly ctx: ChainContext,
    private readonly options: NodeOptions,
    private readonly log: Logger,
  ) {
    this.address = ctx.account.address;
    this.store = new NodeStore(options.stateFile);
    this.pending = new PendingReports(this.store, options.maxPending);
    this.escrows = new EscrowCache(ctx);
    this.clock = new ChainClockOffset(ctx);
    this.sender = new TransactionSender(ctx);
    this.watch = new EquivocationWatch(ctx, this.sender, log, () => this.metrics.equivocations.inc());
    this.staggerMs = options.submitStaggerMs;
  }

  async start(): Promise<void> {
    await Promise.all([this.refreshEpoch(), this.clock.refresh(), this.escrows.refreshCount(), this.measureBlockTime()]);
    this.scanCursor = await this.ctx.publicClient.getBlockNumber();
    this.metrics.pending.set(this.pending.size);
    this.timer = setInterval(() => void this.tick(), this.options.tickMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.pending.flush();
    this.store.close();
  }

  epoch(): CommitteeEpoch | undefined {
    return this.current;
  }

  pendingCount(): number {
    return this.pending.size;
  }

  // ------------------------------------------------------------------ reports (from providers' gateways)

  /**
   * Checks a report and keeps it as the escrow's newest pending usage. Nothing is kept for a report that fails:
   * chain-state checks first (against the cached escrow: no RPC for a known escrow, none at all for an id that
   * cannot exist), then the renter's and provider's signatures.
   */
  async receiveReport(report: UsageReport): Promise<ReportAnswer> {
    if (this.validating >= this.options.maxConcurrentReports) {
      this.metrics.reportsRejected.inc({ reason: "node-busy" });
      throw new WorkerError("too many reports in validation; try again shortly", "node-busy", 429);
    }
    this.validating++;
    try {
      const answer = await this.checkAndKeep(report);
      this.metrics.reportsAccepted.inc();
      return answer;
    } catch (error) {
      this.metrics.reportsRejected.inc({ reason: error instanceof WorkerError ? error.code : "chain-unavailable" });
      if (error instanceof WorkerError) throw error;
      // Not the report's fault: a chain read failed. The gateway retries (5xx).
      throw new WorkerError(`chain read failed: ${(error as Error).message.split("\n")[0]}`, "chain-unavailable", 503);
    } finally {
      this.validating--;
    }
  }

  private async checkAndKeep(report: UsageReport): Promise<ReportAnswer> {
    const answer = (status: ReportAnswer["status"]): ReportAnswer => ({ status, escrowId: report.escrowId.toString(), cumulativeUnits: report.cumulativeUnits.toString() });
    const contentId = reportContentId(report);
    const held = this.pending.get(report.escrowId);
    if (held && held.contentId !== contentId && held.report.sequence === report.sequence) throw this.conflict(report);
    const signed = this.store.signedAt(report.escrowId, report.sequence);
    if (signed === SEALED) throw new ReportRejected("escrow-not-open", `escrow ${report.escrowId} can no longer be charged`);
    if (signed && signed !== contentId) throw this.conflict(report);
    if (!(await this.mayExist(report.escrowId))) {
      throw new ReportRejected("escrow-not-found", `escrow ${report.escrowId} does not exist`);
    }
    // A report no newer than the one held (a resend, a replay) is checked against a fresh read: the cached copy may
    // predate the settlement that made it stale (one RPC read per such report).
    const notNewer = held !== undefined && held.report.cumulativeUnits >= report.cumulativeUnits;
    const escrow = notNewer ? (await this.escrows.readFresh([report.escrowId])).get(report.escrowId.toString())! : await this.escrows.get(report.escrowId);
    checkAgainstEscrow(escrow, await lastChargeAt(this.ctx, escrow), this.clock.chainNow(), report);
    if (held?.contentId === contentId) return answer("pending"); // a resend: its signatures were checked on arrival
    if (!held && this.pending.isFull()) throw new WorkerError("this node holds too much pending usage; try again later", "node-busy", 429);
    // Every report is checked in full, an older one too: the answer says whether it is valid, not only whether
    // it is kept (a newer one already held supersedes it).
    await checkSignatures(this.ctx, report, escrow.renter, await this.escrows.provider(escrow.listingId));
    const kept = this.pending.offer(report, contentId);
    this.metrics.pending.set(this.pending.size);
    return answer(kept ? "pending" : "superseded");
  }

  private conflict(report: UsageReport): ReportRejected {
    return new ReportRejected("conflicting-report", `this node already holds a different report for ${report.escrowId}:${report.sequence}`);
  }

  /**
   * Whether the escrow id can exist. An id just beyond the known count may be an escrow opened since: the count is
   * re-read, one read shared by concurrent callers and at most one every 100 ms, until a read that started after
   * this call answers. Ids far beyond the count are refused without any read.
   */
  private async mayExist(escrowId: bigint): Promise<boolean> {
    if (this.escrows.mayExist(escrowId)) return true;
    if (escrowId < 1n || escrowId > this.escrows.known + NEW_ESCROW_WINDOW) return false;
    const askedAt = Date.now();
    for (let attempt = 0; attempt < 2 && this.countReadAt < askedAt; attempt++) {
      this.countRead ??= new Promise<void>((r) => setTimeout(r, Math.max(0, this.countReadAt + 100 - Date.now())))
        .then(() => {
          this.countReadAt = Date.now();
          return this.escrows.refreshCount();
        })
        .finally(() => (this.countRead = undefined));
      await this.countRead;
    }
    return this.escrows.mayExist(escrowId);
  }

  /**
   * A renter or provider asks for escrows' pending usage to be settled at the next proposal. Only escrows the signer
   * rents or provides count (nobody else can make the committee spend gas on them); returns those marked.
   */
  async requestSettlement(request: SettleRequest): Promise<bigint[]> {
    const now = this.clock.chainNow();
    if (request.deadline < now || request.deadline > now + 3_600n) {
      throw new Unauthorized("the request's deadline must be within the next hour");
    }
    let signer: string;
    try {
      signer = settleRequestSigner(this.ctx.domain, request).toLowerCase();
    } catch {
      throw new Unauthorized("the request's signature does not parse");
    }
    const marked: bigint[] = [];
    for (const id of request.escrowIds) {
      const held = this.pending.get(id);
      if (!held) continue;
      const escrow = await this.escrows.get(id);
      const provider = await this.escrows.provider(escrow.listingId);
      if (signer !== escrow.renter.toLowerCase() && signer !== provider.toLowerCase()) continue;
      held.requested = true;
      marked.push(id);
    }
    return marked;
  }

  // ------------------------------------------------------------------ proposals (from other members)

  /**
   * Signs a peer's proposal if every report in it is authentic and conflicts with nothing this node signed. Chain
   * state (open, expiry, units, cap) is the marketplace's to enforce per entry; a member's signature vouches that
   * the provider reported and the renter authorized exactly this usage.
   */
  async signProposal(body: unknown): Promise<{ signer: Address; epoch: string; signature: Hex }> {
    const proposal = parseProposal(body);
    const epoch = await this.epochFor(proposal.epoch);
    const proposer = proposal.proposer.toLowerCase();
    if (!epoch.members.some((m) => m.toLowerCase() === proposer) || proposer === this.address.toLowerCase()) {
      this.metrics.proposalsRejected.inc({ reason: "not-a-member" });
      throw new Unauthorized(`${proposal.proposer} is not another member of epoch ${epoch.epoch}`);
    }
    const busy = this.proposalsFrom.get(proposer) ?? 0;
    if (busy >= PROPOSALS_PER_MEMBER) {
      this.metrics.proposalsRejected.inc({ reason: "busy" });
      throw new WorkerError("too many proposals from this member at once", "node-busy", 429);
    }
    this.proposalsFrom.set(proposer, busy + 1);
    try {
      const s = signable(proposal.reports);
      if ((await signerOf(this.ctx, s, proposal.epoch, proposal.signature))?.toLowerCase() !== proposer) {
        this.metrics.proposalsRejected.inc({ reason: "bad-signature" });
        throw new Unauthorized("the proposal is not signed by its proposer");
      }
      this.watch.record(proposal.proposer, s, proposal.epoch, proposal.signature);
      await this.checkProposal(proposal);
      const signature = await this.attest(s, proposal.epoch);
      for (const report of proposal.reports) await this.adoptReport(report);
      return { signer: this.address, epoch: proposal.epoch.toString(), signature };
    } finally {
      const left = (this.proposalsFrom.get(proposer) ?? 1) - 1;
      if (left === 0) this.proposalsFrom.delete(proposer);
      else this.proposalsFrom.set(proposer, left);
    }
  }

  private async checkProposal(proposal: Proposal): Promise<void> {
    const rejected: { index: number; code: string; message: string }[] = [];
    await Promise.all(
      proposal.reports.map(async (report, index) => {
        const contentId = reportContentId(report);
        const signed = this.store.signedAt(report.escrowId, report.sequence);
        // Signed before: checked then. Another content (or an ended escrow): refused, so the proposer drops it.
        if (signed === contentId) return;
        if (signed) {
          rejected.push({ index, code: "conflicting-report", message: `position ${report.escrowId}:${report.sequence} holds another content here` });
          return;
        }
        try {
          if (!(await this.mayExist(report.escrowId))) throw new ReportRejected("escrow-not-found", `escrow ${report.escrowId} does not exist`);
          const escrow = await this.escrows.get(report.escrowId);
          // The chain enforces the rest per entry; an ended escrow is refused here so nothing is signed for it.
          if (escrow.status !== 1) throw new ReportRejected("escrow-not-open", `escrow ${report.escrowId} is not open`);
          if (this.clock.chainNow() > (await lastChargeAt(this.ctx, escrow))) throw new ReportRejected("escrow-expired", `escrow ${report.escrowId} can no longer be charged`);
          if (this.pending.get(report.escrowId)?.contentId === contentId) return; // this node's own, checked on arrival
          await checkSignatures(this.ctx, report, escrow.renter, await this.escrows.provider(escrow.listingId));
        } catch (error) {
          const e = error as WorkerError;
          rejected.push({ index, code: e.code ?? "internal", message: e.message });
        }
      }),
    );
    if (rejected.length > 0) {
      this.metrics.proposalsRejected.inc({ reason: "invalid-report" });
      throw new ReportRejected("invalid-entries", `${rejected.length} of the proposal's reports are invalid`, { rejected });
    }
  }

  /**
   * A report learnt from a proposal (its signatures checked) becomes this node's pending usage too, if newer and
   * chargeable; a pending report at the same position with another content is replaced (this node is now committed
   * to the signed one, and could never propose the other). The first proposal of an escrow by a peer is noted: a
   * follower leaves it to that peer for a while (see dueForMe).
   */
  private async adoptReport(report: UsageReport): Promise<void> {
    const contentId = reportContentId(report);
    const held = this.pending.get(report.escrowId);
    if (held && held.report.sequence === report.sequence && held.contentId !== contentId) this.pending.settle(report.escrowId);
    try {
      const escrow = await this.escrows.get(report.escrowId);
      checkAgainstEscrow(escrow, await lastChargeAt(this.ctx, escrow), this.clock.chainNow(), report);
      this.pending.offer(report, contentId);
    } catch {
      // full, or not chargeable: the proposer holds it anyway
    }
    const now = this.pending.get(report.escrowId);
    if (now) now.peerProposedAt ??= Date.now();
  }

  /** Commits the positions (fsynced), then signs. Refuses any content conflicting with one signed before. */
  private async attest(s: Signable, epoch: bigint): Promise<Hex> {
    const current = this.current;
    if (!current?.members.some((m) => m.toLowerCase() === this.address.toLowerCase())) {
      throw new WorkerError(`node ${this.address} is not a committee member`, "not-a-member", 503);
    }
    // What this node signs it also holds durably (a restart resumes settling it).
    this.pending.flush();
    try {
      this.store.commitPositions(positionsOf(s.reports));
    } catch (error) {
      if (error instanceof PositionConflict) {
        throw new ReportRejected("conflicting-report", error.message, { escrowId: error.position.escrowId.toString(), sequence: error.position.sequence.toString() });
      }
      throw error;
    }
    const signature = await signSignable(this.ctx, s, epoch);
    this.metrics.batchesSigned.inc();
    return signature;
  }

  private async epochFor(epoch: bigint): Promise<CommitteeEpoch> {
    // Re-read only for an epoch ahead of ours, at most once a second: a stream of made-up epochs costs no RPC.
    if (this.current && epoch > this.current.epoch && Date.now() - this.epochReadAt > 1_000) await this.refreshEpoch();
    if (this.current?.epoch !== epoch) {
      this.metrics.proposalsRejected.inc({ reason: "epoch" });
      throw new WorkerError(`epoch ${epoch} is not the current epoch ${this.current?.epoch}`, "epoch-mismatch", 409);
    }
    return this.current;
  }

  // ------------------------------------------------------------------ proposing and submitting

  /** Due escrows this node should propose now: the leader's at once, a follower's once due for rank x stagger. */
  private async dueForMe(epoch: CommitteeEpoch): Promise<UsageReport[]> {
    const n = epoch.members.length;
    const me = epoch.members.findIndex((m) => m.toLowerCase() === this.address.toLowerCase());
    if (me < 0) return [];
    const round = Math.floor(Date.now() / (this.staggerMs * 5));
    const rank = (me - (round % n) + n) % n;
    const now = Date.now();
    const chainNow = this.clock.chainNow();
    const due: UsageReport[] = [];
    for (const held of this.pending.entries()) {
      const key = held.report.escrowId.toString();
      if (this.inFlight.has(key)) continue;
      let escrow: Escrow;
      try {
        escrow = await this.escrows.get(held.report.escrowId);
      } catch {
        continue;
      }
      const units = held.report.cumulativeUnits - escrow.units;
      if (units <= 0n || escrow.status !== 1) {
        this.pending.settle(held.report.escrowId);
        continue;
      }
      const last = await lastChargeAt(this.ctx, escrow);
      if (chainNow > last) {
        this.pending.settle(held.report.escrowId);
        continue;
      }
      const value = units * escrow.pricePerUnit;
      const reason = dueReason(this.options.policy, {
        unsettledValue: value,
        ageMs: now - held.since,
        secondsToLastCharge: last - chainNow,
        chargedAfter: escrow.charged + value,
        spendCap: escrow.spendCap,
        requested: held.requested,
      });
      if (!reason) {
        held.dueSince = undefined;
        continue;
      }
      held.dueSince ??= now;
      // A peer proposed it: give that peer n staggers to get it mined before proposing it too. Only the first
      // proposal counts, so a member that proposes and never submits delays an escrow once, not forever.
      if (held.peerProposedAt !== undefined && now - held.peerProposedAt < n * this.staggerMs) continue;
      if (now - held.dueSince >= rank * this.staggerMs) due.push(held.report);
    }
    this.metrics.pending.set(this.pending.size);
    return due;
  }

  private async proposeDue(epoch: CommitteeEpoch): Promise<void> {
    const due = await this.dueForMe(epoch);
    if (due.length === 0) return;
    // Entries of one listing next to each other: the marketplace accrues a listing's run in memory.
    const listingOf = async (r: UsageReport) => (await this.escrows.get(r.escrowId)).listingId;
    const keyed = await Promise.all(due.map(async (r) => ({ r, listing: await listingOf(r).catch(() => 0n) })));
    keyed.sort((a, b) => (a.listing < b.listing ? -1 : a.listing > b.listing ? 1 : 0));
    const ordered = keyed.map((k) => k.r);
    const size = Math.min(this.options.maxBatchEntries, MAX_BATCH_ENTRIES);
    const chunks: UsageReport[][] = [];
    for (let i = 0; i < ordered.length; i += size) chunks.push(ordered.slice(i, i + size));
    await Promise.all(chunks.map((chunk) => this.propose(chunk, epoch)));
  }

  /** Proposes one batch; drops reports peers prove invalid and tries once more; submits once a quorum signed. */
  private async propose(candidates: UsageReport[], epoch: CommitteeEpoch, retry = true): Promise<void> {
    // A pending report whose position this node already signed with another content can never be attested by it
    // (a peer's proposal committed it first): drop it rather than let it fail the whole batch.
    const reports = candidates.filter((r) => {
      const signed = this.store.signedAt(r.escrowId, r.sequence);
      if (!signed || signed === reportContentId(r)) return true;
      this.pending.settle(r.escrowId);
      return false;
    });
    if (reports.length === 0) return;
    const keys = reports.map((r) => r.escrowId.toString());
    keys.forEach((k) => this.inFlight.add(k));
    try {
      const s = signable(reports);
      const mine = await this.attest(s, epoch.epoch);
      const proposal: Proposal = { kind: s.kind, epoch: epoch.epoch, proposer: this.address, signature: mine, reports };
      const signatures = new Map<string, Hex>([[this.address.toLowerCase(), mine]]);
      const invalid = new Set<number>();
      const body = JSON.stringify(proposalToJson(proposal));
      await Promise.all(
        this.options.peers.map(async (peer) => {
          try {
            const res = await post(`${peer}/batches`, body, { "content-type": "application/json" }, this.options.peerTimeoutMs, 64 * 1024);
            const json = JSON.parse(res.body) as { signer?: Address; signature?: Hex; error?: { code?: string; details?: { rejected?: { index: number }[] } } };
            if (res.status === 200 && json.signer && json.signature) {
              const signer = await signerOf(this.ctx, s, epoch.epoch, json.signature);
              if (signer && signer.toLowerCase() === json.signer.toLowerCase() && epoch.members.some((m) => m.toLowerCase() === signer.toLowerCase())) {
                signatures.set(signer.toLowerCase(), json.signature);
                this.watch.record(signer, s, epoch.epoch, json.signature);
              }
            } else if (json.error?.code === "invalid-entries") {
              for (const r of json.error.details?.rejected ?? []) invalid.add(r.index);
            }
          } catch (error) {
            this.log.debug({ peer, err: (error as Error).message }, "peer unreachable");
          }
        }),
      );
      if (signatures.size >= epoch.quorum) {
        await this.submit(s, epoch, signatures);
        return;
      }
      this.log.debug({ entries: reports.length, signatures: signatures.size, quorum: epoch.quorum, invalid: invalid.size }, "proposal short of a quorum");
      if (retry && invalid.size > 0) {
        keys.forEach((k) => this.inFlight.delete(k));
        await this.propose(reports.filter((_, i) => !invalid.has(i)), epoch, false);
      }
    } catch (error) {
      this.log.warn({ entries: reports.length, err: (error as Error).message.split("\n")[0] }, "proposal failed");
    } finally {
      keys.forEach((k) => this.inFlight.delete(k));
    }
  }

  private async submit(s: Signable, epoch: CommitteeEpoch, signatures: Map<string, Hex>): Promise<void> {
    const attestation = encodeAttestation(epoch.epoch, epoch.members, signatures);
    const r = s.reports[0];
    const call =
      s.kind === "single"
        ? { functionName: "chargeWithAttestation", args: [r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest, attestation] }
        : {
            functionName: "chargeBatchWithAttestation",
            args: [s.words, attestation],
            // The escrows' slots, declared ahead: ~300 gas less per escrow (workers/shared/batch.ts).
            accessList: [{ address: this.ctx.marketplace.address, storageKeys: s.reports.flatMap((r) => escrowSlots(r.escrowId)) }],
          };
    try {
      const sent = await this.sender.send(
        { address: this.ctx.marketplace.address, abi: this.ctx.marketplace.abi, ...call },
        // Last check in turn: another member may have settled all of it meanwhile (a batch of stale entries would
        // not revert, only cost gas).
        async () => (await this.unsettled(s.reports)).length > 0,
      );
      if (!sent) return;
      const ok = sent.receipt.status === "success";
      this.metrics.batchesSubmitted.inc({ outcome: ok ? "success" : "reverted" });
      this.metrics.gasSpent.inc(Number(sent.receipt.gasUsed));
      if (!ok) return;
      const applied = this.appliedIn(sent.receipt.logs, s);
      for (const report of s.reports) {
        this.escrows.invalidate(report.escrowId);
        const held = this.pending.get(report.escrowId);
        if (applied.has(report.escrowId.toString()) && held) this.metrics.settlementLag.observe((Date.now() - held.since) / 1000);
        // Applied: the escrow's newest held report may be newer still. Skipped: that report cannot settle (the chain
        // accounted more meanwhile, or it no longer fits); a newer one held stays.
        this.pending.settle(report.escrowId, applied.get(report.escrowId.toString()) ?? report.cumulativeUnits);
      }
      this.metrics.entriesSettled.inc(applied.size);
      this.settledEntries += applied.size;
      this.metrics.pending.set(this.pending.size);
      this.log.info({ tx: sent.hash, kind: s.kind, entries: s.reports.length, applied: applied.size, signatures: signatures.size }, "settled usage on chain");
    } catch (error) {
      this.metrics.batchesSubmitted.inc({ outcome: "failed" });
      const e = error as Error & { details?: string };
      this.log.info({ entries: s.reports.length, err: e.message.split("\n")[0], details: e.details }, "settlement not sent (settled by another member?)");
    }
  }

  /** escrowId -> cumulative units the receipt shows accounted. */
  private appliedIn(logs: readonly { address: Address; data: Hex; topics: readonly Hex[] }[], s: Signable): Map<string, bigint> {
    const out = new Map<string, bigint>();
    if (s.kind === "single") {
      out.set(s.reports[0].escrowId.toString(), s.reports[0].cumulativeUnits);
      return out;
    }
    for (const log of logs) {
      if (log.address.toLowerCase() !== this.ctx.marketplace.address.toLowerCase()) continue;
      try {
        const event = decodeEventLog({ abi: [USAGE_BATCH_CHARGED], data: log.data, topics: log.topics as [Hex, ...Hex[]] });
        for (const word of event.args.applied) {
          const a = decodeApplied(word);
          out.set(a.escrowId.toString(), a.cumulativeUnits);
        }
      } catch {
        // another event
      }
    }
    return out;
  }

  private async unsettled(reports: UsageReport[]): Promise<UsageReport[]> {
    const fresh = await this.escrows.readFresh(reports.map((r) => r.escrowId));
    return reports.filter((r) => {
      const e = fresh.get(r.escrowId.toString())!;
      if (e.status !== 1 || e.units >= r.cumulativeUnits) {
        this.pending.settle(r.escrowId, e.status !== 1 ? undefined : r.cumulativeUnits);
        return false;
      }
      return true;
    });
  }

  // ------------------------------------------------------------------ chain sync

  private async refreshEpoch(): Promise<CommitteeEpoch> {
    this.epochReadAt = Date.now();
    this.current = await readCommitteeEpoch(this.ctx);
    return this.current;
  }

  /** The stagger is at least three average block times over the last 20 blocks (capped at 10 s a block). */
  private async measureBlockTime(): Promise<void> {
    const head = await this.ctx.publicClient.getBlock({ blockTag: "latest" });
    if (head.number < 20n) return;
    const past = await this.ctx.publicClient.getBlock({ blockNumber: head.number - 20n });
    const blockMs = Math.min(10_000, (Number(head.timestamp - past.timestamp) * 1000) / 20);
    this.staggerMs = Math.max(this.options.submitStaggerMs, Math.round(3 * blockMs));
  }

  /** Drops pending usage the chain accounted (any path: attested, batch, receipt) or can no longer charge. */
  private async syncSettlements(): Promise<void> {
    const head = await this.ctx.publicClient.getBlockNumber();
    const from = this.scanCursor ?? head;
    if (from > head) return;
    const to = from + this.options.logRangeBlocks - 1n < head ? from + this.options.logRangeBlocks - 1n : head;
    const { charged, closed, scannedTo } = await readSettledSince(this.ctx, from, to);
    this.scanCursor = scannedTo + 1n;
    this.metrics.chainLagBlocks.set(Number(head - scannedTo));
    for (const c of charged) {
      this.escrows.invalidate(c.escrowId);
      this.pending.settle(c.escrowId, c.cumulativeUnits);
    }
    for (const id of closed) {
      this.escrows.invalidate(id);
      this.pending.settle(id);
    }
  }

  /** Seals the signed positions of a page of escrows that can never be charged again (store.ts). */
  private async sealEndedEscrows(): Promise<void> {
    const page = this.store.positionEscrows(this.pruneCursor, 50);
    this.pruneCursor = page.length < 50 ? "" : page[page.length - 1];
    const now = this.clock.chainNow();
    for (const id of page) {
      const escrow = await this.escrows.get(BigInt(id));
      if (escrow.status !== 1 || now > (await lastChargeAt(this.ctx, escrow))) this.store.sealEscrow(BigInt(id));
    }
  }

  /** One pass: sync with the chain, propose what is due, send deferred proofs. Never overlaps itself. */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      this.pending.flush();
      const [epoch] = await Promise.all([this.refreshEpoch(), this.clock.refresh(), this.escrows.refreshCount()]);
      await this.syncSettlements();
      if (++this.ticks % 30 === 0) await this.measureBlockTime();
      await this.proposeDue(epoch);
      await this.sealEndedEscrows();
      this.watch.flush((id) => this.pending.get(id) !== undefined || this.inFlight.has(id.toString()));
    } catch (error) {
      this.log.warn({ err: (error as Error).message.split("\n")[0] }, "chain unreachable; retrying next tick");
    } finally {
      this.ticking = false;
    }
  }
}
