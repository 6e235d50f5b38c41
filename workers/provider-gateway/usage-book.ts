/**
 * The gateway's record of each escrow: the cumulative units and last sequence it reported, and the renter's latest
 * acknowledgement (a receipt the provider can charge with). Usage reports are cumulative and numbered, so this is
 * the only per-escrow state a provider needs besides the reports themselves (report-log.ts). It is written to disk
 * after every served request (before the answer leaves), because a gateway that forgot it after a restart would
 * number reports again and its new reports would conflict with ones already signed.
 * Requests for one escrow are served one at a time (`withEscrow`), so their numbers and totals never interleave.
 */
import fs from "node:fs";
import path from "node:path";
import { WorkerError } from "../shared/errors";
import { receiptFromJson, receiptToJson, type UsageReceipt, type UsageReceiptJson } from "../shared/receipt";

/** Requests waiting for one escrow at most (they are served one at a time). */
const MAX_QUEUED_PER_ESCROW = 16;

export interface EscrowUsage {
  cumulativeUnits: bigint;
  sequence: bigint;
  /** The renter's highest acknowledgement so far. */
  acknowledged?: UsageReceipt;
}

interface EscrowUsageJson {
  cumulativeUnits: string;
  sequence: string;
  acknowledged?: UsageReceiptJson;
}

export class UsageBook {
  private readonly usage = new Map<string, EscrowUsage>();
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(private readonly file: string | undefined) {
    if (file && fs.existsSync(file)) {
      const saved = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, EscrowUsageJson>;
      for (const [key, u] of Object.entries(saved)) {
        this.usage.set(key, {
          cumulativeUnits: BigInt(u.cumulativeUnits),
          sequence: BigInt(u.sequence),
          acknowledged: u.acknowledged ? receiptFromJson(u.acknowledged) : undefined,
        });
      }
    }
  }

  get(escrowId: bigint): EscrowUsage | undefined {
    return this.usage.get(escrowId.toString());
  }

  /** Escrows with a record, for the settler. */
  escrowIds(): bigint[] {
    return [...this.usage.keys()].map(BigInt);
  }

  /** Records usage; durable when this returns. */
  set(escrowId: bigint, usage: EscrowUsage): void {
    this.usage.set(escrowId.toString(), usage);
    this.save();
  }

  /** Keeps `receipt` if it acknowledges more than the one held; returns whether it did. Durable when it returns. */
  acknowledge(receipt: UsageReceipt): boolean {
    const key = receipt.escrowId.toString();
    const current = this.usage.get(key) ?? { cumulativeUnits: 0n, sequence: 0n };
    if (current.acknowledged && current.acknowledged.cumulativeUnits >= receipt.cumulativeUnits) return false;
    this.usage.set(key, { ...current, acknowledged: receipt });
    this.save();
    return true;
  }

  /** Forgets an escrow that can no longer be charged (closed, or past its last charge time). */
  forget(escrowId: bigint): void {
    if (this.usage.delete(escrowId.toString())) this.save();
  }

  private save(): void {
    if (!this.file) return;
    const json: Record<string, EscrowUsageJson> = {};
    for (const [key, u] of this.usage) {
      json[key] = {
        cumulativeUnits: u.cumulativeUnits.toString(),
        sequence: u.sequence.toString(),
        ...(u.acknowledged ? { acknowledged: receiptToJson(u.acknowledged) } : {}),
      };
    }
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(json));
    fs.renameSync(tmp, this.file);
  }

  /**
   * Runs `work` after every earlier call for the same escrow has finished. At most `MAX_QUEUED_PER_ESCROW` calls wait
   * for one escrow (beyond: 429), so one escrow's slow stream cannot make requests for it pile up without bound.
   */
  async withEscrow<T>(escrowId: bigint, work: () => Promise<T>): Promise<T> {
    const key = escrowId.toString();
    const queued = this.queued.get(key) ?? 0;
    if (queued >= MAX_QUEUED_PER_ESCROW) throw new WorkerError(`escrow ${key} has ${queued} requests waiting; one at a time is served`, "escrow-busy", 429);
    this.queued.set(key, queued + 1);
    const previous = this.locks.get(key) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(work);
    this.locks.set(key, run);
    try {
      return await run;
    } finally {
      if (this.locks.get(key) === run) this.locks.delete(key);
      const left = (this.queued.get(key) ?? 1) - 1;
      if (left <= 0) this.queued.delete(key);
      else this.queued.set(key, left);
    }
  }

  private readonly queued = new Map<string, number>();
}
