/**
 * The renter proxy's local ledger (one JSON file, rewritten atomically on each change): the escrows it uses, what it
 * has acknowledged on each (units, spend at the escrow's fixed price, the newest signed receipt, so a restart
 * resumes from it and never signs less), and the deposits it opened itself (what the budget is measured against).
 * Small by nature: one entry per escrow.
 */
import fs from "node:fs";
import path from "node:path";
import { receiptFromJson, receiptToJson, type UsageReceipt, type UsageReceiptJson } from "../shared/receipt";

export interface LedgerEscrow {
  escrowId: string;
  listingId: string;
  pricePerUnit: string;
  /** FTNS wei this proxy deposited opening it ("0" for an escrow it was given). */
  deposit: string;
  acknowledgedUnits: string;
  /** acknowledgedUnits x pricePerUnit, as FTNS wei. */
  spent: string;
  queries: number;
  receipt?: UsageReceiptJson;
  /**
   * Unexplained units accepted so far: chain usage beyond what this proxy acknowledged, and units of streams cut by
   * someone else than the renter (at most one query's budget over the escrow's life: beyond it the escrow is no
   * longer offered). Absent: 0.
   */
  chainAcceptedUnits?: string;
}

export class Ledger {
  private readonly escrows = new Map<string, LedgerEscrow>();

  constructor(private readonly file: string) {
    if (fs.existsSync(file)) {
      const saved = JSON.parse(fs.readFileSync(file, "utf8")) as { escrows?: LedgerEscrow[] };
      for (const e of saved.escrows ?? []) this.escrows.set(e.escrowId, e);
    }
  }

  all(): LedgerEscrow[] {
    return [...this.escrows.values()];
  }

  get(escrowId: bigint): LedgerEscrow | undefined {
    return this.escrows.get(escrowId.toString());
  }

  add(entry: Omit<LedgerEscrow, "acknowledgedUnits" | "spent" | "queries">): void {
    if (this.escrows.has(entry.escrowId)) return;
    this.escrows.set(entry.escrowId, { ...entry, acknowledgedUnits: "0", spent: "0", queries: 0 });
    this.save();
  }

  /** Records an acknowledged answer on `escrowId` (`answer` false: a receipt for usage the chain accounted). */
  record(escrowId: bigint, receipt: UsageReceipt, answer = true): void {
    const e = this.escrows.get(escrowId.toString());
    if (!e) return;
    if (answer) e.queries += 1;
    if (BigInt(e.acknowledgedUnits) < receipt.cumulativeUnits) {
      e.acknowledgedUnits = receipt.cumulativeUnits.toString();
      e.spent = (receipt.cumulativeUnits * BigInt(e.pricePerUnit)).toString();
      e.receipt = receiptToJson(receipt);
    }
    this.save();
  }

  /** The escrow's unexplained usage accepted so far (the renter client's running total). */
  setUnexplained(escrowId: bigint, used: bigint): void {
    const e = this.escrows.get(escrowId.toString());
    if (!e || BigInt(e.chainAcceptedUnits ?? "0") >= used) return;
    e.chainAcceptedUnits = used.toString();
    this.save();
  }

  receipts(): UsageReceipt[] {
    return this.all().flatMap((e) => (e.receipt ? [receiptFromJson(e.receipt)] : []));
  }

  /** FTNS wei this proxy has deposited into escrows it opened. */
  deposited(): bigint {
    return this.all().reduce((sum, e) => sum + BigInt(e.deposit), 0n);
  }

  private save(): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ escrows: this.all() }, null, 2));
    fs.renameSync(tmp, this.file);
  }
}
