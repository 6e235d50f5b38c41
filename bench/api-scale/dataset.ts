/**
 * The api-scale dataset: synthetic but consistent rows bulk-loaded into the tables the real indexer (Ponder) created.
 *
 * Nothing here declares a table. The column lists come from the database catalog (information_schema) of Ponder's
 * deployment schema, so a column added to ponder.schema.ts is filled too: the columns that matter (keys, foreign keys,
 * addresses, times, amounts, statuses) have an expression below, any other column gets a value derived from its name
 * and type (decoded listing metadata such as `name` or `vendor` included). Rows are generated inside Postgres
 * (INSERT ... SELECT FROM generate_series, in chunks), with Ponder's reorg triggers off (session_replication_role =
 * replica, so `_reorg__*` tables stay empty), the loaded tables' indexes and keys dropped first and rebuilt from their
 * own definitions afterwards (faster than maintaining them row by row), then VACUUM ANALYZE.
 *
 * Shape (all derived from the row number, so every aggregate is known without reading the rows back):
 *   accounts   P providers (0xa1…) and A - P renters (0xb1…)
 *   listings   listing i by provider i % P; its escrow_count and volume are the aggregates of its escrows
 *   escrows    escrow e rents listing (e + e / R) % L for renter e % R (each renter's escrows on different listings),
 *              opened over the last year in id order; charged = the sum of its charges; older ones mostly closed
 *   charges    charge k belongs to escrow k % E as its (k / E + 1)-th charge, amount = price * units of the escrow
 *   transfers  between the accounts, four per block, in blocks after the real deployment's head
 *   proposals  with their votes' tallies (votes: V / N per proposal, distinct voters)
 *   daily_stat the day-by-day aggregates of the rows above (added to the real deployment's), protocol_state's
 *              open-escrow count, and any counters table the indexer keeps (see bumpCounters)
 */
import type pg from "pg";

export interface Sizes {
  listings: number;
  accounts: number;
  providers: number;
  escrows: number;
  charges: number;
  transfers: number;
  proposals: number;
  votes: number;
}

const DEFAULTS: Sizes = {
  listings: 10_000,
  accounts: 101_000,
  providers: 1_000,
  escrows: 1_000_000,
  charges: 3_000_000,
  transfers: 200_000,
  proposals: 1_000,
  votes: 100_000,
};

export function sizesFromEnv(env: NodeJS.ProcessEnv = process.env): Sizes {
  const sizes = { ...DEFAULTS };
  for (const key of Object.keys(DEFAULTS) as (keyof Sizes)[]) {
    const name = `BENCH_SCALE_${key.toUpperCase()}`;
    const raw = env[name];
    if (raw === undefined || raw === "") continue;
    const n = Number(raw.replace(/_/g, ""));
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got "${raw}"`);
    sizes[key] = n;
  }
  if (sizes.providers >= sizes.accounts) throw new Error("BENCH_SCALE_PROVIDERS must be below BENCH_SCALE_ACCOUNTS (the rest are renters)");
  return sizes;
}

export interface Column {
  name: string;
  dataType: string;
  nullable: boolean;
}

export interface TableLoad {
  table: string;
  rows: number;
  seconds: number;
  /** Columns no expression below knows: filled from their name and type. */
  defaulted: string[];
}

export interface LoadReport {
  sizes: Sizes;
  tables: TableLoad[];
  indexSeconds: number;
  analyzeSeconds: number;
  totalSeconds: number;
  counters: string[];
  /** Row counts per loaded table after the load (real deployment rows included). */
  rowCounts: Record<string, number>;
  keys: Keys;
}

/** Where the synthetic rows are, for the queries that pick one at random. */
export interface Keys {
  /** Synthetic listing i has id listingBase + 1 + i; escrows likewise; proposal p has id proposalBase + p. */
  listingBase: bigint;
  escrowBase: bigint;
  proposalBase: bigint;
  /** Transfer k is in block firstBlock + k / 4. */
  firstBlock: number;
  headTime: number;
}

export const providerAddress = (i: number) => `0xa1${i.toString(16).padStart(38, "0")}`;
export const renterAddress = (i: number) => `0xb1${i.toString(16).padStart(38, "0")}`;

type Exprs = Record<string, string>;

interface Generator {
  table: string;
  rows: number;
  /** Per-row helper values from the generate_series row number `g.n` (0-based), as `SELECT ... FROM` text. */
  source: (from: number, to: number) => string;
  columns: Exprs;
  /** Text columns nobody knows yet get this (row-derived) value; others get a type default. */
  label: string;
}

const DAY = 86_400;
const CHUNK = 500_000;

const addr = (prefix: string, n: string) => `('0x${prefix}' || lpad(to_hex(${n}), 38, '0'))`;
const hash = (tag: string, n: string) => `('0x' || md5('${tag}' || ${n}) || md5('${tag}x' || ${n}))`;
const wei = (n: string) => `((${n})::numeric * 1000000000000000000)`;

export async function loadDataset(db: pg.Client, schema: string, sizes: Sizes, log: (line: string) => void): Promise<LoadReport> {
  const started = performance.now();
  const q = (sql: string) => db.query(sql);
  const one = async <T>(sql: string): Promise<T> => (await db.query(sql)).rows[0] as T;
  const s = `"${schema}"`;

  const tables = await catalog(db, schema);
  const need = ["account", "listing", "escrow", "charge", "transfer", "proposal", "vote", "daily_stat", "protocol_state"];
  const missing = need.filter((t) => !tables.has(t));
  if (missing.length) throw new Error(`the indexer's schema ${schema} has no table ${missing.join(", ")}`);

  // Where the synthetic rows start: after the real deployment's ids, times and blocks.
  const head = await one<{ checkpoint: string }>(`SELECT latest_checkpoint AS checkpoint FROM ${s}."_ponder_checkpoint" LIMIT 1`);
  const headTime = Number(head.checkpoint.slice(0, 10));
  const headBlock = Number(head.checkpoint.slice(26, 42));
  const base = await one<Record<string, string>>(
    `SELECT (SELECT coalesce(max(id), 0) FROM ${s}.listing)::text AS listing,
            (SELECT coalesce(max(id), 0) FROM ${s}.escrow)::text AS escrow,
            (SELECT coalesce(max(charge_id), 0) FROM ${s}.charge)::text AS charge_id,
            (SELECT coalesce(max(id), 0) FROM ${s}.proposal)::text AS proposal`,
  );
  const { listings: L, providers: P, escrows: E, charges: C, transfers: T, proposals: N, votes: V } = sizes;
  const R = sizes.accounts - P;
  const SPAN = 365 * DAY;
  const T0 = headTime - SPAN - 2 * DAY;
  const LB = base.listing, EB = base.escrow, CB = base.charge_id;
  // Governor proposal ids are uint256 hashes: large numbers, well apart from any real one.
  const PB = (BigInt(base.proposal) + 10n ** 30n).toString();
  const perEscrow = Math.floor(C / E), extra = C % E;

  // Derived per-row values, shared by the generators (n = the row number within its table).
  const listingPrice = (i: string) => `((1 + (${i}) % 100)::numeric * 1000000000000000)`; // 0.001 .. 0.1 FTNS a unit
  const escrowOf = (e: string) => ({
    li: `((${e} + ${e} / ${R}) % ${L})`,
    ri: `(${e} % ${R})`,
    units: `(1 + ${e} % 10)`,
    count: `(${perEscrow} + CASE WHEN ${e} < ${extra} THEN 1 ELSE 0 END)`,
    openedAt: `(${T0} + (${e}::bigint * ${SPAN}) / ${E})`,
  });

  const categories = ["language", "image", "audio", "code", "embedding", "multimodal"];
  const vendors = ["OpenAI", "Anthropic", "Meta", "Mistral", "Stability", "Cohere", "Google", "Community"];
  const arr = (xs: string[]) => `(ARRAY[${xs.map((x) => `'${x}'`).join(",")}])`;
  const metadataJson = (i: string) =>
    `json_build_object('name', 'Synthetic model ' || ${i}, 'vendor', ${arr(vendors)}[1 + ${i} % ${vendors.length}], 'description', 'A synthetic listing for the api-scale benchmark', 'category', ${arr(categories)}[1 + ${i} % ${categories.length}])::text`;

  const generators: Generator[] = [
    {
      table: "account",
      rows: sizes.accounts,
      label: "'account ' || g.n",
      source: (a, b) => `SELECT n, CASE WHEN n < ${P} THEN ${addr("a1", "n")} ELSE ${addr("b1", `(n - ${P})`)} END AS address FROM generate_series(${a}, ${b}) AS n`,
      columns: {
        address: "g.address",
        balance: wei(`1000 + g.n % 9000`),
        votes: wei(`1000 + g.n % 9000`),
        delegate: "g.address",
        updated_at: `${T0} + g.n % ${SPAN}`,
      },
    },
    {
      table: "listing",
      rows: L,
      label: "'listing ' || g.n",
      source: (a, b) =>
        `SELECT n, ${addr("a1", `(n % ${P})`)} AS provider, coalesce(agg.escrows, 0) AS escrows, coalesce(agg.volume, 0) AS volume
           FROM generate_series(${a}, ${b}) AS n
           LEFT JOIN (SELECT listing_id, count(*) AS escrows, sum(charged) AS volume FROM ${s}.escrow WHERE id > ${EB} GROUP BY listing_id) agg
             ON agg.listing_id = ${LB} + 1 + n`,
      columns: {
        id: `${LB} + 1 + g.n`,
        provider: "g.provider",
        category: `g.n % ${categories.length}`,
        category_name: `${arr(categories)}[1 + g.n % ${categories.length}]`,
        content_hash: hash("l", "g.n"),
        metadata_uri: `'data:application/json;base64,' || translate(encode(convert_to(${metadataJson("g.n")}, 'UTF8'), 'base64'), E'\\n', '')`,
        // Decoded metadata (indexer/lib/metadata.ts): the document's object and fields, no error.
        metadata: `(${metadataJson("g.n")})::json`,
        metadata_error: "NULL",
        name: `'Synthetic model ' || g.n`,
        vendor: `${arr(vendors)}[1 + g.n % ${vendors.length}]`,
        description: `'A synthetic listing for the api-scale benchmark'`,
        unit: "g.n % 3",
        price_per_unit: listingPrice("g.n"),
        royalty_recipient: "g.provider",
        royalty_bps: "(g.n % 5) * 50",
        bond: wei("1000"),
        status: "CASE g.n % 20 WHEN 0 THEN 2 WHEN 1 THEN 3 ELSE 1 END",
        unbonding_at: "0",
        escrow_count: "g.escrows",
        volume: "g.volume",
        rating_count: "0",
        rating_total: "0",
        created_at: `${T0} - ${DAY} + g.n % ${DAY}`,
      },
    },
    (() => {
      const x = escrowOf("n");
      return {
        table: "escrow",
        rows: E,
        label: "'escrow ' || g.n",
        source: (a: number, b: number) =>
          `SELECT n, amount, opened_at, deposit, count, units, li, ri, opened_at + 30 * ${DAY} AS expires_at,
                  (opened_at + 30 * ${DAY} < ${headTime} AND n % 5 <> 0) AS closed
             FROM (SELECT n, ${listingPrice(x.li)} * ${x.units} AS amount, ${x.openedAt} AS opened_at, ${wei(`10 + n % 5`)} AS deposit,
                          ${x.count} AS count, ${x.units} AS units, ${x.li} AS li, ${x.ri} AS ri
                     FROM generate_series(${a}, ${b}) AS n) e`,
        columns: {
          id: `${EB} + 1 + g.n`,
          listing_id: `${LB} + 1 + g.li`,
          renter: addr("b1", "g.ri"),
          provider: addr("a1", `(g.li % ${P})`),
          deposit: "g.deposit",
          spend_cap: "g.deposit",
          price_per_unit: listingPrice("g.li"),
          expires_at: "g.expires_at",
          charged: "g.amount * g.count",
          refunded_by_disputes: "0",
          sequence: "CASE WHEN g.n % 2 = 0 THEN g.count ELSE 0 END",
          units: "g.units * g.count",
          status: "CASE WHEN g.closed THEN 'closed' ELSE 'open' END",
          refund: "CASE WHEN g.closed THEN g.deposit - g.amount * g.count END",
          closed_by: `CASE WHEN g.closed THEN ${addr("b1", "g.ri")} END`,
          opened_at: "g.opened_at",
          closed_at: `CASE WHEN g.closed THEN g.expires_at + 3600 END`,
        },
      };
    })(),
    (() => {
      const x = escrowOf("e");
      return {
        table: "charge",
        rows: C,
        label: "'charge ' || g.n",
        source: (a: number, b: number) =>
          `SELECT n, e, seq, ${x.li} AS li, ${x.units} AS units, ${x.openedAt} + seq * 600 AS ts, (e % 2 = 0) AS attested
             FROM (SELECT n, n % ${E} AS e, n / ${E} + 1 AS seq FROM generate_series(${a}, ${b}) AS n) c`,
        columns: {
          id: `${hash("c", "g.n")} || '-' || (g.n % 8)`,
          charge_id: `CASE WHEN g.attested THEN ${CB} + 1 + g.n ELSE 0 END`,
          escrow_id: `${EB} + 1 + g.e`,
          listing_id: `${LB} + 1 + g.li`,
          sequence: "CASE WHEN g.attested THEN g.seq ELSE 0 END",
          cumulative_units: "g.units * g.seq",
          units: "g.units",
          amount: `${listingPrice("g.li")} * g.units`,
          attested: "g.attested",
          result_digest: hash("r", "g.n"),
          disputable_until: `CASE WHEN g.attested THEN g.ts + ${DAY} ELSE 0 END`,
          status: `CASE WHEN g.attested AND g.ts + ${DAY} > ${headTime} THEN 'pending' ELSE 'settled' END`,
          timestamp: "g.ts",
          tx_hash: hash("c", "g.n"),
          batch_id: "NULL",
          batch_index: "NULL",
        },
      };
    })(),
    {
      table: "transfer",
      rows: T,
      label: "'transfer ' || g.n",
      source: (a, b) => `SELECT n FROM generate_series(${a}, ${b}) AS n`,
      columns: {
        id: `${hash("t", "g.n")} || '-' || (g.n % 4)`,
        from: `CASE WHEN g.n % 3 = 0 THEN ${addr("a1", `(g.n % ${P})`)} ELSE ${addr("b1", `(g.n % ${R})`)} END`,
        to: addr("b1", `((g.n * 7 + 1) % ${R})`),
        value: wei("1 + g.n % 500"),
        block_number: `${headBlock} + 1 + g.n / 4`,
        timestamp: `${T0} + (g.n::bigint * ${SPAN}) / ${T}`,
        tx_hash: hash("t", "g.n"),
      },
    },
    {
      table: "vote",
      rows: V,
      label: "'vote ' || g.n",
      source: (a, b) => `SELECT n, n % ${N} AS p, n / ${N} AS j FROM generate_series(${a}, ${b}) AS n`,
      columns: {
        id: `${hash("v", "g.n")} || '-0'`,
        proposal_id: `${PB} + g.p`,
        voter: addr("b1", `(g.n % ${R})`),
        support: "g.n % 3",
        weight: "(1 + g.n % 1000)::numeric * 1000000000",
        reason: "CASE WHEN g.n % 10 = 0 THEN 'synthetic vote ' || g.n ELSE '' END",
        timestamp: `${T0} + (g.p::bigint * ${SPAN}) / ${N} + 60 + g.j * 60`,
      },
    },
    {
      table: "proposal",
      rows: N,
      label: "'proposal ' || g.n",
      source: (a, b) =>
        `SELECT n, start, coalesce(t.f, 0) AS f, coalesce(t.ag, 0) AS ag, coalesce(t.ab, 0) AS ab, coalesce(t.c, 0) AS c,
                start + 7 * ${DAY} < ${headTime} AS ended
           FROM (SELECT n, ${T0} + (n::bigint * ${SPAN}) / ${N} AS start FROM generate_series(${a}, ${b}) AS n) p
           LEFT JOIN (SELECT proposal_id, sum(weight) FILTER (WHERE support = 1) AS f, sum(weight) FILTER (WHERE support = 0) AS ag,
                             sum(weight) FILTER (WHERE support = 2) AS ab, count(*) AS c
                        FROM ${s}.vote WHERE proposal_id >= ${PB} GROUP BY proposal_id) t ON t.proposal_id = ${PB} + n`,
      columns: {
        id: `${PB} + g.n`,
        proposer: addr("a1", `(g.n % ${P})`),
        targets: `json_build_array(${addr("a1", "0")})`,
        values: `json_build_array('0')`,
        calldatas: `json_build_array('0x')`,
        description: `'# Synthetic proposal ' || g.n || E'\\nSets a parameter of the protocol.'`,
        vote_start: "g.start",
        vote_end: `g.start + 7 * ${DAY}`,
        lifecycle: "CASE WHEN NOT g.ended THEN 'created' WHEN g.n % 10 = 0 THEN 'canceled' WHEN g.n % 3 = 0 THEN 'queued' ELSE 'executed' END",
        eta: `CASE WHEN g.ended AND g.n % 10 <> 0 THEN g.start + 9 * ${DAY} END`,
        timelock_operation: `CASE WHEN g.ended AND g.n % 10 <> 0 THEN ${hash("o", "g.n")} END`,
        for_weight: "g.f",
        against_weight: "g.ag",
        abstain_weight: "g.ab",
        quorum: "1000000000000",
        vote_count: "g.c",
        created_at: `g.start - ${DAY}`,
      },
    },
  ];

  // Listings and proposals carry their escrows' and votes' aggregates: generated after them.
  const order = ["account", "escrow", "charge", "listing", "transfer", "vote", "proposal"];
  generators.sort((a, b) => order.indexOf(a.table) - order.indexOf(b.table));

  await q("SET session_replication_role = replica"); // no Ponder triggers: the _reorg__ tables stay empty
  await q("SET maintenance_work_mem = '256MB'");
  await q("SET synchronous_commit = off");

  const loadedTables = generators.map((g) => g.table);
  const rebuild = await dropIndexes(db, schema, loadedTables);
  log(`dropped ${rebuild.length} indexes and keys of ${loadedTables.join(", ")} (rebuilt after the load)`);

  const report: TableLoad[] = [];
  for (const gen of generators) {
    const t0 = performance.now();
    const cols = tables.get(gen.table)!;
    const defaulted: string[] = [];
    const exprs = cols.map((c) => {
      if (c.name in gen.columns) return gen.columns[c.name];
      defaulted.push(c.name);
      return fallback(c, gen.label);
    });
    const names = cols.map((c) => `"${c.name}"`).join(", ");
    for (let from = 0; from < gen.rows; from += CHUNK) {
      const to = Math.min(gen.rows, from + CHUNK) - 1;
      await q(`INSERT INTO ${s}."${gen.table}" (${names}) SELECT ${exprs.join(", ")} FROM (${gen.source(from, to)}) g`);
    }
    const seconds = (performance.now() - t0) / 1000;
    report.push({ table: gen.table, rows: gen.rows, seconds, defaulted });
    log(`${gen.table}: ${gen.rows.toLocaleString("en-US")} rows in ${seconds.toFixed(1)} s${defaulted.length ? ` (filled by name/type: ${defaulted.join(", ")})` : ""}`);
  }

  // Day-by-day statistics of the synthetic rows, added to the real deployment's.
  const t1 = performance.now();
  await dailyStats(db, schema, tables.get("daily_stat")!, { EB, LB, feeBps: 250 });
  const open = await one<{ open: string }>(`SELECT count(*)::text AS open FROM ${s}.escrow WHERE id > ${EB} AND status = 'open'`);
  await q(
    `INSERT INTO ${s}.protocol_state (id, value) VALUES ('active-escrows', ${open.open})
       ON CONFLICT (id) DO UPDATE SET value = protocol_state.value + EXCLUDED.value`,
  );
  const counters = await bumpCounters(db, schema, tables, loadedTables.concat("daily_stat", "protocol_state"), { EB, LB });
  log(`daily_stat, protocol_state${counters.length ? `, counters (${counters.join("; ")})` : ""} in ${((performance.now() - t1) / 1000).toFixed(1)} s`);

  const t2 = performance.now();
  for (const sql of rebuild) await q(sql);
  const indexSeconds = (performance.now() - t2) / 1000;
  log(`rebuilt ${rebuild.length} indexes and keys in ${indexSeconds.toFixed(1)} s`);

  const t3 = performance.now();
  for (const table of [...loadedTables, "daily_stat", "protocol_state", ...counterTables(tables)]) await q(`VACUUM (ANALYZE) ${s}."${table}"`);
  const analyzeSeconds = (performance.now() - t3) / 1000;
  log(`VACUUM ANALYZE in ${analyzeSeconds.toFixed(1)} s`);
  await q("RESET session_replication_role");
  // Write the load's dirty pages out now: a checkpoint falling due during the measurement would flush gigabytes
  // beside it, and the latencies measured would be the load's, not the API's.
  const t4 = performance.now();
  await q("CHECKPOINT").then(
    () => log(`CHECKPOINT in ${((performance.now() - t4) / 1000).toFixed(1)} s`),
    (error: Error) => log(`CHECKPOINT refused (${error.message}): measuring beside the background flush`),
  );

  const rowCounts: Record<string, number> = {};
  for (const table of loadedTables) rowCounts[table] = Number((await one<{ n: string }>(`SELECT count(*)::text AS n FROM ${s}."${table}"`)).n);
  return { sizes, tables: report, indexSeconds, analyzeSeconds, totalSeconds: (performance.now() - started) / 1000, counters, rowCounts,
    keys: { listingBase: BigInt(LB), escrowBase: BigInt(EB), proposalBase: BigInt(PB), firstBlock: headBlock + 1, headTime } };
}

async function catalog(db: pg.Client, schema: string): Promise<Map<string, Column[]>> {
  const { rows } = await db.query<{ table_name: string; column_name: string; data_type: string; is_nullable: string }>(
    `SELECT c.table_name, c.column_name, c.data_type, c.is_nullable
       FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
      WHERE c.table_schema = $1 AND t.table_type = 'BASE TABLE' AND c.table_name NOT LIKE '\\_%'
      ORDER BY c.table_name, c.ordinal_position`,
    [schema],
  );
  const tables = new Map<string, Column[]>();
  for (const r of rows) {
    if (!tables.has(r.table_name)) tables.set(r.table_name, []);
    tables.get(r.table_name)!.push({ name: r.column_name, dataType: r.data_type, nullable: r.is_nullable === "YES" });
  }
  return tables;
}

/** A value for a column no generator knows: NULL where allowed (text excepted), else a default for its type. */
function fallback(c: Column, label: string): string {
  const type = c.dataType.toLowerCase();
  if (type === "text" || type.startsWith("character")) return `${label} || ' ${c.name.replace(/_/g, " ")}'`;
  if (c.nullable) return "NULL";
  if (type === "boolean") return "false";
  if (type === "json" || type === "jsonb") return `'{}'::${type}`;
  if (type.includes("timestamp")) return "now()";
  if (type === "bytea") return "''::bytea";
  if (type === "array") return "'{}'";
  return "0"; // numeric, integer, bigint, smallint, real, double precision
}

/** Drops the non-primary indexes and the keys of `tables`, returning the statements that rebuild them exactly. */
async function dropIndexes(db: pg.Client, schema: string, tables: string[]): Promise<string[]> {
  const { rows: constraints } = await db.query<{ tbl: string; name: string; def: string }>(
    `SELECT c.relname AS tbl, k.conname AS name, pg_get_constraintdef(k.oid) AS def
       FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = ANY($2) AND k.contype IN ('p', 'u')`,
    [schema, tables],
  );
  const { rows: indexes } = await db.query<{ name: string; def: string }>(
    `SELECT ic.relname AS name, pg_get_indexdef(i.indexrelid) AS def
       FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_class ic ON ic.oid = i.indexrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = ANY($2) AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)`,
    [schema, tables],
  );
  const rebuild: string[] = [];
  for (const k of constraints) {
    await db.query(`ALTER TABLE "${schema}"."${k.tbl}" DROP CONSTRAINT "${k.name}"`);
    rebuild.push(`ALTER TABLE "${schema}"."${k.tbl}" ADD CONSTRAINT "${k.name}" ${k.def}`);
  }
  for (const i of indexes) {
    await db.query(`DROP INDEX "${schema}"."${i.name}"`);
    rebuild.push(i.def);
  }
  return rebuild;
}

async function dailyStats(db: pg.Client, schema: string, columns: Column[], o: { EB: string; LB: string; feeBps: number }): Promise<void> {
  const s = `"${schema}"`;
  const known: Exprs = {
    day: "d.day",
    volume: "d.volume",
    fees: "d.fees",
    charge_count: "d.charge_count",
    escrows_opened: "d.opened",
    escrows_closed: "d.closed",
    active_escrows: "d.active",
    new_listings: "d.listings",
  };
  const cols = columns.filter((c) => c.name in known);
  const others = columns.filter((c) => !(c.name in known));
  const adds = cols.filter((c) => c.name !== "day").map((c) => `"${c.name}" = daily_stat."${c.name}" + EXCLUDED."${c.name}"`);
  await db.query(
    `WITH c AS (SELECT div(timestamp, ${DAY}) AS day, sum(amount) AS volume, sum(amount * ${o.feeBps} / 10000) AS fees, count(*) AS n
                  FROM ${s}.charge WHERE escrow_id > ${o.EB} GROUP BY 1),
          op AS (SELECT div(opened_at, ${DAY}) AS day, count(*) AS n FROM ${s}.escrow WHERE id > ${o.EB} GROUP BY 1),
          cl AS (SELECT div(closed_at, ${DAY}) AS day, count(*) AS n FROM ${s}.escrow WHERE id > ${o.EB} AND closed_at IS NOT NULL GROUP BY 1),
          li AS (SELECT div(created_at, ${DAY}) AS day, count(*) AS n FROM ${s}.listing WHERE id > ${o.LB} GROUP BY 1),
          days AS (SELECT day FROM c UNION SELECT day FROM op UNION SELECT day FROM cl UNION SELECT day FROM li),
          d AS (SELECT days.day::int AS day, coalesce(c.volume, 0) AS volume, trunc(coalesce(c.fees, 0)) AS fees, coalesce(c.n, 0)::int AS charge_count,
                       coalesce(op.n, 0)::int AS opened, coalesce(cl.n, 0)::int AS closed, coalesce(li.n, 0)::int AS listings,
                       (sum(coalesce(op.n, 0) - coalesce(cl.n, 0)) OVER (ORDER BY days.day))::int AS active
                  FROM days LEFT JOIN c USING (day) LEFT JOIN op USING (day) LEFT JOIN cl USING (day) LEFT JOIN li USING (day))
     INSERT INTO ${s}.daily_stat (${[...cols, ...others].map((c) => `"${c.name}"`).join(", ")})
     SELECT ${[...cols.map((c) => known[c.name]), ...others.map((c) => fallback(c, "'day ' || d.day"))].join(", ")} FROM d
     ON CONFLICT (day) DO UPDATE SET ${adds.join(", ")}`,
  );
}

/** Tables the generators and daily statistics do not cover that look like counters (market_stat and the like). */
function counterTables(tables: Map<string, Column[]>): string[] {
  return [...tables.keys()].filter((t) => /stat|counter|total/.test(t) && t !== "daily_stat");
}

/**
 * Counters the indexer may keep for marketStats (e.g. a `market_stat` table): every numeric column whose name is one
 * of marketStats' fields (listings, active_listings, escrows, open_escrows, charges, volume, fees, providers, renters,
 * in snake_case, with or without a `_count` suffix) is set to the value over all rows, real and synthetic; in a key/value
 * shape (`id`/`key` + `value`), the rows whose key names such a field are. Returns what it set.
 */
async function bumpCounters(db: pg.Client, schema: string, tables: Map<string, Column[]>, _covered: string[], o: { EB: string; LB: string }): Promise<string[]> {
  const s = `"${schema}"`;
  const names = counterTables(tables);
  if (names.length === 0) return [];
  const totals = (
    await db.query<Record<string, string>>(
      `SELECT (SELECT count(*) FROM ${s}.listing)::text AS listings,
              (SELECT count(*) FROM ${s}.listing WHERE status = 1)::text AS active_listings,
              (SELECT count(DISTINCT provider) FROM ${s}.listing)::text AS providers,
              (SELECT count(*) FROM ${s}.escrow)::text AS escrows,
              (SELECT count(*) FROM ${s}.escrow WHERE status = 'open')::text AS open_escrows,
              (SELECT count(DISTINCT renter) FROM ${s}.escrow)::text AS renters,
              (SELECT count(*) FROM ${s}.charge)::text AS charges,
              (SELECT coalesce(sum(volume), 0) FROM ${s}.daily_stat)::text AS volume,
              (SELECT coalesce(sum(fees), 0) FROM ${s}.daily_stat)::text AS fees,
              (SELECT count(*) FROM ${s}.account)::text AS accounts,
              (SELECT count(*) FROM ${s}.transfer)::text AS transfers,
              (SELECT count(*) FROM ${s}.proposal)::text AS proposals,
              (SELECT count(*) FROM ${s}.vote)::text AS votes`,
    )
  ).rows[0];
  void o;
  const valueOf = (name: string): string | undefined => {
    const n = name.toLowerCase().replace(/^(total_|num_|n_)/, "").replace(/(_count|_total)$/, "");
    const aliases: Record<string, string> = { escrows_open: "open_escrows", listings_active: "active_listings", charge: "charges", escrow: "escrows", listing: "listings" };
    const key = aliases[n] ?? n;
    return totals[key];
  };
  const set: string[] = [];
  for (const table of names) {
    const cols = tables.get(table)!;
    const keyCol = cols.find((c) => ["id", "key", "name"].includes(c.name) && c.dataType === "text");
    const valueCol = cols.find((c) => c.name === "value");
    if (keyCol && valueCol) {
      const { rows } = await db.query<{ k: string }>(`SELECT "${keyCol.name}" AS k FROM ${s}."${table}"`);
      for (const { k } of rows) {
        const v = valueOf(k.replace(/-/g, "_"));
        if (v === undefined) continue;
        await db.query(`UPDATE ${s}."${table}" SET value = $1 WHERE "${keyCol.name}" = $2`, [v, k]);
        set.push(`${table}.${k} = ${v}`);
      }
      continue;
    }
    const assignments: string[] = [];
    for (const c of cols) {
      const v = valueOf(c.name);
      if (v === undefined || !/numeric|integer|bigint/.test(c.dataType)) continue;
      assignments.push(`"${c.name}" = ${v}`);
      set.push(`${table}.${c.name} = ${v}`);
    }
    if (assignments.length === 0) continue;
    const { rowCount } = await db.query(`UPDATE ${s}."${table}" SET ${assignments.join(", ")}`);
    if (!rowCount) set.push(`(${table} had no row to update)`);
  }
  return set;
}
