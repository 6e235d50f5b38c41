/**
 * The newest validated report per escrow that the chain has not yet accounted (coalescing: an older pending report
 * is superseded, never settled on its own). Bounded: beyond `max` escrows a new one is refused with 429, so a node's
 * memory does not grow with hostile input; every escrow here is a real, open escrow whose renter and provider signed
 * the report. Mirrored in the store once per tick (one transaction, so one fsync, not one per report), so a restart
 * resumes it; what arrived in the last tick before a crash is re-sent by the providers' gateways.
 */
import type { Hex } from "viem";
import { WorkerError } from "../shared/errors";
import { parseReport, reportToJson, type UsageReport } from "../shared/usage-report";
import type { NodeStore } from "./store";

export interface PendingEscrow {
  report: UsageReport;
  contentId: Hex;
  /** When this node first held unsettled usage of the escrow (ms). */
  since: number;
  /** When the policy first found it due (ms), for the submit rotation. */
  dueSince?: number;
  requested: boolean;
  /** When a peer first proposed it to this node (ms). */
  peerProposedAt?: number;
}

export class PendingReports {
  private readonly byEscrow = new Map<string, PendingEscrow>();
  /** Escrows changed since the last flush. */
  private readonly dirty = new Set<string>();

  constructor(
    private readonly store: NodeStore,
    private readonly max: number,
  ) {
    for (const row of store.allPending()) {
      this.byEscrow.set(row.escrowId.toString(), { report: parseReport(row.report), contentId: row.contentId, since: row.since, requested: false });
    }
  }

  get(escrowId: bigint): PendingEscrow | undefined {
    return this.byEscrow.get(escrowId.toString());
  }

  /** Keeps `report` if it is newer than what is held; returns whether it was kept. */
  offer(report: UsageReport, contentId: Hex): boolean {
    const key = report.escrowId.toString();
    const held = this.byEscrow.get(key);
    if (held && held.report.cumulativeUnits >= report.cumulativeUnits) return false;
    if (!held && this.byEscrow.size >= this.max) {
      throw new WorkerError(`this node holds pending usage of ${this.max} escrows; try again later`, "node-busy", 429);
    }
    const entry: PendingEscrow = {
      report,
      contentId,
      since: held?.since ?? Date.now(),
      dueSince: held?.dueSince,
      requested: held?.requested ?? false,
      peerProposedAt: held?.peerProposedAt,
    };
    this.byEscrow.set(key, entry);
    this.dirty.add(key);
    return true;
  }

  /** Drops the escrow's pending report if the chain has accounted at least `units` of it (or `units` is undefined). */
  settle(escrowId: bigint, units?: bigint): boolean {
    const key = escrowId.toString();
    const held = this.byEscrow.get(key);
    if (!held || (units !== undefined && units < held.report.cumulativeUnits)) return false;
    this.byEscrow.delete(key);
    this.dirty.add(key);
    return true;
  }

  /** Writes what changed since the last flush, in one transaction. */
  flush(): void {
    if (this.dirty.size === 0) return;
    const rows = [...this.dirty].map((key) => {
      const held = this.byEscrow.get(key);
      return held
        ? { escrowId: BigInt(key), row: { escrowId: held.report.escrowId, report: reportToJson(held.report), contentId: held.contentId, since: held.since } }
        : { escrowId: BigInt(key) };
    });
    this.store.writePending(rows);
    this.dirty.clear();
  }

  isFull(): boolean {
    return this.byEscrow.size >= this.max;
  }

  get size(): number {
    return this.byEscrow.size;
  }

  entries(): IterableIterator<PendingEscrow> {
    return this.byEscrow.values();
  }
}
