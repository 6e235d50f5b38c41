/**
 * Every usage report the gateway signed, until the chain has accounted its units (or the escrow can no longer be
 * charged). Append-only JSON lines, so recording a report costs one small write instead of rewriting a file: a
 * report line, or a settlement marker `{"settled": escrowId, "units": N | null}` (null: every report of the escrow).
 * The file is compacted (rewritten with only the pending reports) at start and whenever settled lines outnumber
 * pending ones. After a restart the settler picks up every report still pending, so no delivered answer is left
 * unpaid because a process stopped.
 */
import fs from "node:fs";
import path from "node:path";
import { parseReport, reportToJson, type UsageReport } from "../shared/usage-report";

export class ReportLog {
  /** escrowId -> pending reports, in signing order (cumulative units only grow) */
  private readonly pending = new Map<string, UsageReport[]>();
  private dropped = 0;

  constructor(private readonly file: string | undefined) {
    if (file && fs.existsSync(file)) {
      for (const line of fs.readFileSync(file, "utf8").split("\n")) {
        if (!line.trim()) continue;
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          if (typeof entry.settled === "string") this.drop(BigInt(entry.settled), entry.units === null ? undefined : BigInt(entry.units as string));
          else this.remember(parseReport(entry));
        } catch {
          // A torn last line from a crash mid-write: the report it held was never sent with an answer.
        }
      }
      this.compact();
    }
  }

  append(report: UsageReport): void {
    this.remember(report);
    if (!this.file) return;
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    fs.appendFileSync(this.file, `${JSON.stringify(reportToJson(report))}\n`);
  }

  /** The newest pending report per escrow: settling it settles every earlier one (reports are cumulative). */
  latest(): UsageReport[] {
    return [...this.pending.values()].map((list) => list[list.length - 1]!);
  }

  pendingFor(escrowId: bigint): UsageReport[] {
    return this.pending.get(escrowId.toString()) ?? [];
  }

  get size(): number {
    let n = 0;
    for (const list of this.pending.values()) n += list.length;
    return n;
  }

  /** Drops the escrow's reports whose units the chain has accounted (all of them when `units` is undefined). */
  settle(escrowId: bigint, units?: bigint): number {
    const removed = this.drop(escrowId, units);
    if (removed === 0) return 0;
    this.dropped += removed;
    if (this.dropped > this.size + 100) this.compact();
    else if (this.file) fs.appendFileSync(this.file, `${JSON.stringify({ settled: escrowId.toString(), units: units === undefined ? null : units.toString() })}\n`);
    return removed;
  }

  private drop(escrowId: bigint, units: bigint | undefined): number {
    const key = escrowId.toString();
    const list = this.pending.get(key);
    if (!list) return 0;
    const keep = units === undefined ? [] : list.filter((r) => r.cumulativeUnits > units);
    if (keep.length) this.pending.set(key, keep);
    else this.pending.delete(key);
    return list.length - keep.length;
  }

  private remember(report: UsageReport): void {
    const key = report.escrowId.toString();
    const list = this.pending.get(key) ?? [];
    list.push(report);
    this.pending.set(key, list);
  }

  private compact(): void {
    this.dropped = 0;
    if (!this.file) return;
    const lines: string[] = [];
    for (const list of this.pending.values()) for (const r of list) lines.push(JSON.stringify(reportToJson(r)));
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    fs.writeFileSync(tmp, lines.length ? `${lines.join("\n")}\n` : "");
    fs.renameSync(tmp, this.file);
  }
}
