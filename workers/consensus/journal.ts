/**
 * The node's signing journal on disk: for every (escrow, sequence) slot, the one report content it ever signed, and
 * the reports still waiting to settle. It is written (atomically: temp file, fsync, rename) before a signature leaves
 * the process, so a crash or restart can neither lose a pending report nor make the node sign a second, different
 * report for the same slot, which the committee would slash as equivocation.
 */
import fs from "node:fs";
import path from "node:path";
import type { Hex } from "viem";
import type { UsageReportJson } from "../shared/usage-report";

export interface SignedSlot {
  contentId: Hex;
  /** Signatures this node gave for the content, by epoch (re-signing equal content in a new epoch is allowed). */
  signatures: Record<string, Hex>;
}

interface JournalFile {
  version: 1;
  signed: Record<string, SignedSlot>;
  pending: Record<string, UsageReportJson>;
}

export class SigningJournal {
  private data: JournalFile;

  constructor(private readonly file: string) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.data = fs.existsSync(file)
      ? (JSON.parse(fs.readFileSync(file, "utf8")) as JournalFile)
      : { version: 1, signed: {}, pending: {} };
  }

  signedFor(slot: string): SignedSlot | undefined {
    return this.data.signed[slot];
  }

  /** Records a signature (and the report as pending) durably. */
  recordSignature(slot: string, contentId: Hex, epoch: bigint, signature: Hex, report: UsageReportJson): void {
    const entry = this.data.signed[slot] ?? { contentId, signatures: {} };
    if (entry.contentId !== contentId) throw new Error(`journal: slot ${slot} already holds another report`);
    entry.signatures[epoch.toString()] = signature;
    this.data.signed[slot] = entry;
    this.data.pending[slot] = report;
    this.flush();
  }

  pending(): [string, UsageReportJson][] {
    return Object.entries(this.data.pending);
  }

  settle(slot: string): void {
    if (!(slot in this.data.pending)) return;
    delete this.data.pending[slot];
    this.flush();
  }

  private flush(): void {
    const tmp = `${this.file}.${process.pid}.tmp`;
    const fd = fs.openSync(tmp, "w");
    fs.writeSync(fd, JSON.stringify(this.data));
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, this.file);
  }
}
