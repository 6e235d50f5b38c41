/**
 * The node's durable state, in SQLite (better-sqlite3, WAL): appends and point updates cost a page write, not a
 * rewrite of everything the node ever signed (the JSON journal it replaces took 185 ms per signature at 100k slots).
 *
 *   positions   for every (escrow, sequence) position, the one report content this node ever attested, in any
 *               single attestation or batch. Written and fsynced (synchronous=FULL) before a signature leaves the
 *               process, so a restart can never make the node sign a second content for a position (equivocation,
 *               which the committee slashes). An equivocation proof needs no chain state, so a position can never
 *               be forgotten: once an escrow can never be charged again (closed, or past its last charge time) its
 *               rows are replaced by one "sealed" row, and the node refuses to sign anything for that escrow again.
 *               The table stays the size of the escrows the node attested, not of every report.
 *   pending     the newest validated report per escrow, not yet settled (a newer one replaces it: reports are
 *               cumulative, so settling the newest settles every earlier one), written once per tick. Survives
 *               restarts; deleted when the chain has accounted it.
 */
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import type { Hex } from "viem";
import type { UsageReportJson } from "../shared/usage-report";

/** What signedAt answers for an escrow sealed after it ended: no content matches it. */
export const SEALED = "sealed" as const;

export interface Position {
  escrowId: bigint;
  sequence: bigint;
  contentId: Hex;
}

export interface PendingRow {
  escrowId: bigint;
  report: UsageReportJson;
  contentId: Hex;
  /** When this node first held unsettled usage of the escrow (ms since epoch); kept across superseding reports. */
  since: number;
}

export class NodeStore {
  private readonly db: Database.Database;
  private readonly stmts;

  constructor(file: string) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    // FULL: a commit is on disk before it returns, and positions are committed before a signature is sent.
    this.db.pragma("synchronous = FULL");
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS positions (
        escrow_id TEXT NOT NULL, sequence TEXT NOT NULL, content_id TEXT NOT NULL,
        PRIMARY KEY (escrow_id, sequence)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS pending (
        escrow_id TEXT PRIMARY KEY, report TEXT NOT NULL, content_id TEXT NOT NULL, since INTEGER NOT NULL) WITHOUT ROWID;
    `);
    this.stmts = {
      position: this.db.prepare<[string, string], { content_id: string }>("SELECT content_id FROM positions WHERE escrow_id = ? AND sequence = ?"),
      insertPosition: this.db.prepare("INSERT OR IGNORE INTO positions (escrow_id, sequence, content_id) VALUES (?, ?, ?)"),
      prunePositions: this.db.prepare("DELETE FROM positions WHERE escrow_id = ? AND sequence <> '*'"),
      seal: this.db.prepare("INSERT OR IGNORE INTO positions (escrow_id, sequence, content_id) VALUES (?, '*', 'sealed')"),
      sealed: this.db.prepare<[string], { content_id: string }>("SELECT content_id FROM positions WHERE escrow_id = ? AND sequence = '*'"),
      positionEscrows: this.db.prepare<[string, number], { escrow_id: string }>(
        "SELECT DISTINCT escrow_id FROM positions WHERE escrow_id > ? AND sequence <> '*' ORDER BY escrow_id LIMIT ?",
      ),
      countPositions: this.db.prepare<[], { n: number }>("SELECT COUNT(*) AS n FROM positions"),
      putPending: this.db.prepare("INSERT OR REPLACE INTO pending (escrow_id, report, content_id, since) VALUES (?, ?, ?, ?)"),
      deletePending: this.db.prepare("DELETE FROM pending WHERE escrow_id = ?"),
      allPending: this.db.prepare<[], { escrow_id: string; report: string; content_id: string; since: number }>("SELECT * FROM pending"),
    };
  }

  /** The content this node attested at a position, if any; SEALED for every position of a sealed escrow. */
  signedAt(escrowId: bigint, sequence: bigint): Hex | typeof SEALED | undefined {
    if (this.stmts.sealed.get(escrowId.toString())) return SEALED;
    return this.stmts.position.get(escrowId.toString(), sequence.toString())?.content_id as Hex | undefined;
  }

  /**
   * Commits the positions of a batch about to be signed, in one transaction, or throws naming the first position
   * already committed to another content (nothing is written then).
   */
  commitPositions(positions: readonly Position[]): void {
    this.db.transaction(() => {
      for (const p of positions) {
        const existing = this.signedAt(p.escrowId, p.sequence);
        if (existing && existing !== p.contentId) {
          throw new PositionConflict(p, existing);
        }
        if (!existing) this.stmts.insertPosition.run(p.escrowId.toString(), p.sequence.toString(), p.contentId);
      }
    })();
  }

  /** Replaces the positions of an escrow that can never be charged again by one row refusing them all. */
  sealEscrow(escrowId: bigint): void {
    this.db.transaction(() => {
      this.stmts.seal.run(escrowId.toString());
      this.stmts.prunePositions.run(escrowId.toString());
    })();
  }

  /** Escrows with unsealed positions, in id order after `after` (a rotating sweep reads a page per tick). */
  positionEscrows(after: string, limit: number): string[] {
    return this.stmts.positionEscrows.all(after, limit).map((r) => r.escrow_id);
  }

  positionCount(): number {
    return this.stmts.countPositions.get()!.n;
  }

  /** Puts (with `row`) or deletes (without) pending reports, in one transaction. */
  writePending(changes: { escrowId: bigint; row?: PendingRow }[]): void {
    this.db.transaction(() => {
      for (const { escrowId, row } of changes) {
        if (row) this.stmts.putPending.run(escrowId.toString(), JSON.stringify(row.report), row.contentId, row.since);
        else this.stmts.deletePending.run(escrowId.toString());
      }
    })();
  }

  allPending(): PendingRow[] {
    return this.stmts.allPending.all().map((r) => ({
      escrowId: BigInt(r.escrow_id),
      report: JSON.parse(r.report) as UsageReportJson,
      contentId: r.content_id as Hex,
      since: r.since,
    }));
  }

  close(): void {
    this.db.close();
  }
}

export class PositionConflict extends Error {
  constructor(
    readonly position: Position,
    readonly signed: Hex | typeof SEALED,
  ) {
    super(
      signed === SEALED
        ? `escrow ${position.escrowId} has ended: this node signs nothing more for it`
        : `position ${position.escrowId}:${position.sequence} is already attested with another content`,
    );
  }
}
