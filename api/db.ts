/**
 * The API's only way to the database: a pg pool whose sessions are read-only (default_transaction_read_only, set at
 * connection start, so no BEGIN/COMMIT round trip per query) with a statement timeout. Postgres NUMERIC and int8
 * arrive as strings (pg's default), which the BigInt scalar passes through unchanged: no precision is lost.
 *
 * Requests reach the pool through `forClient(key)`, a fair gate: at most `maxPerClient` statements of one client run
 * at once, at most `pool size - 1` in all (one connection stays for the head tracker and the event feed), and a freed
 * slot goes to the waiting client with the fewest statements running, not to whoever queued most.
 * pg's own pool queue is first come, first served,
 * so without the gate one client's dozens of queued relation loads would sit in front of everyone else's query.
 */
import crypto from "node:crypto";
import pg from "pg";

/**
 * Distinct statement texts one process prepares at most. The loaders' texts vary with the entity, the relation and
 * the selected columns (api/columns.ts): a few dozen in practice, more from a client that varies its selections on
 * purpose; past this bound a text runs unprepared, so each connection holds at most this many plans.
 */
export const MAX_PREPARED = 128;

export interface QueryOptions {
  /**
   * Run as a named prepared statement: Postgres parses and plans it once per connection instead of on every call
   * (planning a LATERAL over the views costs more than executing it). Only for SQL whose text comes from a small
   * set (the relation loaders, marketStats, a root row's relation tree by key: its text follows the selection, not
   * the values): every name stays prepared on every pooled connection for its life, so text shaped by client
   * filters (lists) is not prepared. Past MAX_PREPARED distinct texts a statement runs unprepared (a client varying
   * its selections on purpose can use up the slots: later texts are slower, never wrong).
   */
  prepare?: boolean;
}

export interface Database {
  query<T extends Record<string, unknown> = Record<string, unknown>>(sql: string, params?: unknown[], options?: QueryOptions): Promise<T[]>;
  close(): Promise<void>;
  pool: pg.Pool;
  /** Statements run so far (tests check that relations are batched, not one query per row). */
  readonly statements: number;
  /** The same database, with this client's statements passed through the fair gate. */
  forClient(key: string): Database;
  /** Statements waiting for and holding a gate slot (metrics and tests). */
  gate: { readonly running: number; readonly waiting: number };
}

export interface DatabaseOptions {
  max?: number;
  statementTimeoutMs?: number;
  /** Statements one client may have running at once (default: half the pool). */
  maxPerClient?: number;
  /** How long to wait for a new connection before failing (DATABASE_UNAVAILABLE rather than hanging). */
  connectTimeoutMs?: number;
}

/** Fair gate over clients: each waits in its own FIFO; a freed slot goes to the client with the least running. */
export class FairGate {
  private running = 0;
  private readonly perClient = new Map<string, number>();
  private readonly queues = new Map<string, (() => void)[]>(); // insertion order is the turn order
  private waitingCount = 0;

  constructor(
    readonly maxTotal: number,
    readonly maxPerClient: number,
  ) {}

  get inFlight(): number {
    return this.running;
  }

  get waiting(): number {
    return this.waitingCount;
  }

  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    if (this.canRun(key)) this.take(key);
    else {
      await new Promise<void>((resolve) => {
        const queue = this.queues.get(key);
        if (queue) queue.push(resolve);
        else this.queues.set(key, [resolve]);
        this.waitingCount++;
      });
    }
    try {
      return await task();
    } finally {
      this.release(key);
    }
  }

  private canRun(key: string): boolean {
    return this.running < this.maxTotal && (this.perClient.get(key) ?? 0) < this.maxPerClient && !this.queues.has(key);
  }

  private take(key: string): void {
    this.running++;
    this.perClient.set(key, (this.perClient.get(key) ?? 0) + 1);
  }

  private release(key: string): void {
    this.running--;
    const left = (this.perClient.get(key) ?? 1) - 1;
    if (left === 0) this.perClient.delete(key);
    else this.perClient.set(key, left);
    this.dispatch();
  }

  /** Grants free slots, each to the waiting client with the fewest statements running (ties: longest in line). */
  private dispatch(): void {
    while (this.running < this.maxTotal) {
      let chosen: string | undefined;
      let fewest = Infinity;
      for (const key of this.queues.keys()) {
        const n = this.perClient.get(key) ?? 0;
        if (n < this.maxPerClient && n < fewest) [chosen, fewest] = [key, n];
      }
      if (chosen === undefined) return;
      const queue = this.queues.get(chosen)!;
      const next = queue.shift()!;
      this.queues.delete(chosen);
      if (queue.length) this.queues.set(chosen, queue); // to the back of the line among equals
      this.waitingCount--;
      this.take(chosen);
      next();
    }
  }
}

export function createDatabase(url: string, opts: DatabaseOptions = {}): Database {
  const max = opts.max ?? 10;
  const pool = new pg.Pool({
    connectionString: url,
    max,
    // Without it a connect to an unreachable (not refusing) host waits forever and so does the client.
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 5_000,
    options: `-c default_transaction_read_only=on -c statement_timeout=${opts.statementTimeoutMs ?? 5_000}`,
    application_name: "prsm-api",
  });
  // An idle client losing its connection must not crash the process; the next query gets a fresh one.
  pool.on("error", () => undefined);
  const gate = new FairGate(Math.max(1, max - 1), Math.max(1, opts.maxPerClient ?? Math.floor(max / 2)));
  let statements = 0;
  const names = new Map<string, string>();
  let generation = 0;
  const nameOf = (sql: string): string | undefined => {
    let name = names.get(sql);
    if (name === undefined && names.size < MAX_PREPARED) {
      name = `prsm_${crypto.createHash("sha1").update(sql).digest("hex").slice(0, 20)}`;
      names.set(sql, name);
    }
    return name;
  };
  const query = async <T extends Record<string, unknown>>(sql: string, params: unknown[] = [], options?: QueryOptions): Promise<T[]> => {
    statements++;
    const name = options?.prepare ? nameOf(sql) : undefined;
    if (!name) return (await pool.query({ text: sql, values: params })).rows as T[];
    try {
      return (await pool.query({ name, text: sql, values: params })).rows as T[];
    } catch (error) {
      // The indexer republished its views with other columns (a new version): Postgres refuses to run a statement
      // prepared for the old row type on every connection that has it (the test in api-read.test.ts sees the stale
      // one gone from pg_prepared_statements afterwards). The text gets a fresh name, prepared anew on each
      // connection, and runs once more.
      if ((error as { code?: string }).code !== "0A000") throw error;
      const renamed = `${name.slice(0, 25)}_${++generation}`;
      names.set(sql, renamed);
      return (await pool.query({ name: renamed, text: sql, values: params })).rows as T[];
    }
  };
  const db: Database = {
    pool,
    get statements() {
      return statements;
    },
    query,
    close: () => pool.end(),
    gate: {
      get running() {
        return gate.inFlight;
      },
      get waiting() {
        return gate.waiting;
      },
    },
    forClient(key) {
      return { ...db, query: (sql, params, options) => gate.run(key, () => query(sql, params, options)), forClient: db.forClient, get statements() { return statements; } } as Database;
    },
  };
  return db;
}

/** Postgres SQLSTATEs and socket errors that mean "the database is not there right now", not "the query is wrong". */
const UNAVAILABLE_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "ETIMEDOUT", "EAI_AGAIN", "EHOSTUNREACH", "EPIPE", "53300", "57P01", "57P02", "57P03"]);
const UNAVAILABLE_MESSAGES = /connection terminated|timeout exceeded when trying to connect|connection timeout|Connection terminated unexpectedly|the database system is (starting up|shutting down)/i;

/** QUERY_TIMEOUT (57014, statement_timeout), DATABASE_UNAVAILABLE, or undefined for any other error. */
export function classifyDatabaseError(error: unknown): "QUERY_TIMEOUT" | "DATABASE_UNAVAILABLE" | undefined {
  for (let e = error as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown[] } | undefined, i = 0; e && i < 5; e = e.cause as typeof e, i++) {
    const code = typeof e.code === "string" ? e.code : undefined;
    if (code === "57014") return "QUERY_TIMEOUT";
    if (code && (UNAVAILABLE_CODES.has(code) || code.startsWith("08"))) return "DATABASE_UNAVAILABLE";
    if (typeof e.message === "string" && UNAVAILABLE_MESSAGES.test(e.message)) return "DATABASE_UNAVAILABLE";
    // AggregateError (a connect to localhost tries ::1 and 127.0.0.1)
    if (Array.isArray(e.errors) && e.errors.some((inner) => classifyDatabaseError(inner) === "DATABASE_UNAVAILABLE")) return "DATABASE_UNAVAILABLE";
  }
  return undefined;
}
