/**
 * The gateway's record of what each escrow has used so far: cumulative units and the last report sequence. Usage
 * reports are cumulative and numbered, so this is the only state a provider needs. It is written to disk after every
 * served request (before the answer leaves), because a gateway that forgot it after a restart would number reports
 * again from the chain's last settled one and its new reports would conflict with ones already signed.
 * Requests for one escrow are served one at a time (`withEscrow`), so their numbers and totals never interleave.
 */
import fs from "node:fs";
import path from "node:path";

export interface EscrowUsage {
  cumulativeUnits: bigint;
  sequence: bigint;
}

export class UsageBook {
  private readonly usage = new Map<string, EscrowUsage>();
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(private readonly file: string | undefined) {
    if (file && fs.existsSync(file)) {
      const saved = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, { cumulativeUnits: string; sequence: string }>;
      for (const [key, u] of Object.entries(saved)) this.usage.set(key, { cumulativeUnits: BigInt(u.cumulativeUnits), sequence: BigInt(u.sequence) });
    }
  }

  get(escrowId: bigint): EscrowUsage | undefined {
    return this.usage.get(escrowId.toString());
  }

  /** Records usage; durable when this returns. */
  set(escrowId: bigint, usage: EscrowUsage): void {
    this.usage.set(escrowId.toString(), usage);
    if (!this.file) return;
    const json: Record<string, { cumulativeUnits: string; sequence: string }> = {};
    for (const [key, u] of this.usage) json[key] = { cumulativeUnits: u.cumulativeUnits.toString(), sequence: u.sequence.toString() };
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(json));
    fs.renameSync(tmp, this.file);
  }

  /** Runs `work` after every earlier call for the same escrow has finished. */
  async withEscrow<T>(escrowId: bigint, work: () => Promise<T>): Promise<T> {
    const key = escrowId.toString();
    const previous = this.locks.get(key) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(work);
    this.locks.set(key, run);
    try {
      return await run;
    } finally {
      if (this.locks.get(key) === run) this.locks.delete(key);
    }
  }
}
