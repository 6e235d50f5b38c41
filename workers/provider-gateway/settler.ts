/**
 * Gets the provider paid for what it served, whoever called the gateway and whatever the renter's orchestrator
 * does. Every signed report is logged (report-log.ts) and handed to the consensus nodes at once; every tick the
 * settler reads each escrow with pending reports and
 *   - drops reports the chain has accounted (its `units` reached them) or that can no longer be charged (escrow
 *     closed, or past its expiry plus the grace of its terms),
 *   - re-sends the newest pending report to every node when it is still unsettled after `resendAfterMs` (its home
 *     nodes may have been down or dropped it; settling the newest settles every earlier one, reports being
 *     cumulative),
 *   - charges the renter's latest acknowledgement itself with `chargeWithReceipt` (final, no committee) when it
 *     covers units the chain has not accounted and the attested path has not settled them within
 *     `receiptFallbackMs`, or the escrow's last charge time is near.
 * One chain read per escrow with pending work per tick; a failed read or transaction is retried on the next tick.
 */
import type { ChainContext, Escrow } from "../shared/chain";
import { readEscrow } from "../shared/chain";
import { ChainClock } from "../shared/clock";
import type { ReportForwarder } from "../shared/forwarder";
import type { Logger } from "../shared/logger";
import { TransactionSender } from "../shared/sender";
import type { UsageReport } from "../shared/usage-report";
import { lastChargeAt as lastChargeOf } from "../shared/terms-cache";
import type { ReportLog } from "./report-log";
import type { UsageBook } from "./usage-book";

export interface SettlerOptions {
  intervalMs: number;
  resendAfterMs: number;
  receiptFallbackMs: number;
  /** Seconds before an escrow's last charge time at which acknowledged usage is charged by receipt at once. */
  closingMarginSeconds: bigint;
}

export const DEFAULT_SETTLER_OPTIONS: SettlerOptions = {
  intervalMs: 5_000,
  resendAfterMs: 30_000,
  // Longer than the nodes' default settlement age (10 min, workers/consensus/policy.ts): the committee settles
  // coalesced usage in batches, and the receipt path is the fallback for when it does not.
  receiptFallbackMs: 900_000,
  closingMarginSeconds: 300n,
};

/** Book entries checked for forgetting per tick (one chain read each). */
const SWEEP_PER_TICK = 50;

export class Settler {
  private timer?: NodeJS.Timeout;
  private ticking = false;
  private sweepCursor = 0;
  /** escrowId -> when its oldest unsettled report was first sent, and the newest one last sent */
  private readonly sent = new Map<string, { firstAt: number; lastAt: number; sequence: bigint }>();
  private readonly sender: TransactionSender;
  private readonly clock: ChainClock;
  /** Receipt charges sent by this process (tests and metrics read it). */
  readonly receiptCharges: { escrowId: bigint; cumulativeUnits: bigint }[] = [];

  constructor(
    private readonly ctx: ChainContext,
    private readonly log: Logger,
    private readonly forwarder: ReportForwarder,
    private readonly book: UsageBook,
    private readonly reports: ReportLog,
    private readonly options: SettlerOptions = DEFAULT_SETTLER_OPTIONS,
  ) {
    this.sender = new TransactionSender(ctx);
    this.clock = new ChainClock(ctx);
  }

  /** Logs a freshly signed report (durable when this returns) and hands it to the nodes. */
  record(report: UsageReport): void {
    this.reports.append(report);
    this.send(report, false);
  }

  get pending(): number {
    return this.reports.size;
  }

  start(): void {
    for (const report of this.reports.latest()) this.send(report, true);
    this.timer = setInterval(() => void this.tick(), this.options.intervalMs);
    this.timer.unref?.();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** A fresh report goes to its escrow's home nodes; a resend to every node (shared/forwarder.ts). */
  private send(report: UsageReport, toAll: boolean): void {
    const key = report.escrowId.toString();
    const now = Date.now();
    const previous = this.sent.get(key);
    this.sent.set(key, { firstAt: previous?.firstAt ?? now, lastAt: now, sequence: report.sequence });
    this.forwarder.forward(report, undefined, toAll);
  }

  /** One pass over every escrow with pending reports or an unsettled acknowledgement. Never overlaps itself. */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const ids = new Set<string>([...this.reports.latest().map((r) => r.escrowId.toString())]);
      for (const id of this.book.escrowIds()) if (this.book.get(id)?.acknowledged) ids.add(id.toString());
      for (const id of ids) {
        await this.settleEscrow(BigInt(id)).catch((error: Error) =>
          this.log.warn({ escrowId: id, err: error.message.split("\n")[0] }, "settlement check failed; retrying next tick"),
        );
      }
      await this.sweepBook(ids);
    } finally {
      this.ticking = false;
    }
  }

  /**
   * The usage book keeps an entry per escrow ever served (its report numbers must never be reused while the escrow
   * can be charged). A bounded, rotating slice of the entries with nothing pending is checked each tick, and those
   * whose escrow can no longer be charged are forgotten, so the book stays the size of the live escrows.
   */
  private async sweepBook(skip: Set<string>): Promise<void> {
    const idle = this.book.escrowIds().filter((id) => !skip.has(id.toString()));
    if (idle.length === 0) return;
    const start = this.sweepCursor % idle.length;
    const slice = idle.slice(start, start + SWEEP_PER_TICK);
    this.sweepCursor = start + slice.length;
    const now = await this.clock.now();
    for (const id of slice) {
      try {
        const escrow = await readEscrow(this.ctx, id);
        if (escrow.status !== 1 || now > (await lastChargeOf(this.ctx, escrow))) this.book.forget(id);
      } catch {
        return; // chain unreachable: try again next tick
      }
    }
  }

  private async settleEscrow(escrowId: bigint): Promise<void> {
    const escrow = await readEscrow(this.ctx, escrowId);
    const now = await this.clock.now();
    const lastChargeAt = await lastChargeOf(this.ctx, escrow);
    const key = escrowId.toString();
    if (escrow.status !== 1 || now > lastChargeAt) {
      const dropped = this.reports.settle(escrowId);
      if (dropped) this.log.warn({ escrowId: key, dropped, units: escrow.units.toString() }, "escrow can no longer be charged; unsettled reports dropped");
      this.book.forget(escrowId);
      this.sent.delete(key);
      return;
    }
    this.reports.settle(escrowId, escrow.units);
    const pending = this.reports.pendingFor(escrowId);
    const ack = this.book.get(escrowId)?.acknowledged;
    if (pending.length === 0 && (!ack || ack.cumulativeUnits <= escrow.units)) {
      this.sent.delete(key);
      return;
    }
    const sent = this.sent.get(key);
    const waitedMs = sent ? Date.now() - sent.firstAt : Infinity;
    if (ack && ack.cumulativeUnits > escrow.units && (waitedMs >= this.options.receiptFallbackMs || lastChargeAt - now <= this.options.closingMarginSeconds)) {
      // A receipt the chain will not take (beyond the cap, or refused) must not stop the reports from being resent.
      const charged = await this.chargeReceipt(escrow, escrowId, ack).catch((error: Error) => {
        this.log.warn({ escrowId: key, err: error.message.split("\n")[0] }, "charging the renter's acknowledgement failed; the committee path goes on");
        return false;
      });
      if (charged) return;
    }
    const newest = pending[pending.length - 1];
    if (newest && (!sent || Date.now() - sent.lastAt >= this.options.resendAfterMs)) this.send(newest, true);
  }

  /** Charges the acknowledgement by receipt; false when the chain would not take it (the committee path goes on). */
  private async chargeReceipt(escrow: Escrow, escrowId: bigint, ack: { cumulativeUnits: bigint; deadline: bigint; signature: `0x${string}` }): Promise<boolean> {
    // The chain charges only units beyond those accounted and at most the cap: a receipt above the cap is charged
    // as far as the nodes' reports allow instead (the renter acknowledged it, but the cap binds).
    if ((ack.cumulativeUnits - escrow.units) * escrow.pricePerUnit > escrow.spendCap - escrow.charged) return false;
    const result = await this.sender.send(
      {
        address: this.ctx.marketplace.address,
        abi: this.ctx.marketplace.abi,
        functionName: "chargeWithReceipt",
        args: [escrowId, ack.cumulativeUnits, ack.deadline, ack.signature],
      },
      async () => (await readEscrow(this.ctx, escrowId)).units < ack.cumulativeUnits,
    );
    if (result) {
      this.receiptCharges.push({ escrowId, cumulativeUnits: ack.cumulativeUnits });
      this.log.info({ escrowId: escrowId.toString(), cumulativeUnits: ack.cumulativeUnits.toString(), tx: result.hash }, "charged the renter's acknowledgement");
      this.reports.settle(escrowId, ack.cumulativeUnits);
      return true;
    }
    return false;
  }
}
