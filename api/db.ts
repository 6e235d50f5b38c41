/**
 * The API's only way to the database: a pg pool whose sessions are read-only (default_transaction_read_only, set at
 * connection start, so no BEGIN/COMMIT round trip per query) with a statement timeout. Postgres NUMERIC and int8
 * arrive as strings (pg's default), which the BigInt scalar passes through unchanged: no precision is lost.
 */
import pg from "pg";

export interface Database {
  query<T extends Record<string, unknown> = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
  pool: pg.Pool;
  /** Statements run so far (tests check that relations are batched, not one query per row). */
  readonly statements: number;
}

export function createDatabase(url: string, opts: { max?: number; statementTimeoutMs?: number } = {}): Database {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 10,
    options: `-c default_transaction_read_only=on -c statement_timeout=${opts.statementTimeoutMs ?? 5_000}`,
    application_name: "prsm-api",
  });
  // An idle client losing its connection must not crash the process; the next query gets a fresh one.
  pool.on("error", () => undefined);
  let statements = 0;
  return {
    pool,
    get statements() {
      return statements;
    },
    async query(sql, params = []) {
      statements++;
      return (await pool.query(sql, params)).rows;
    },
    close: () => pool.end(),
  };
}
