/**
 * `npm run bench api-scale`: the GraphQL API at production size and under hostile queries.
 *
 * 1. A Hardhat node with the protocol deployed, a fresh embedded Postgres, and the real indexer (Ponder) run on it
 *    until it has indexed the deployment and published its views: the tables, indexes and views are the indexer's own.
 * 2. The indexer stopped, synthetic but consistent rows are bulk-loaded into those tables (bench/api-scale/dataset.ts;
 *    sizes BENCH_SCALE_LISTINGS, _ACCOUNTS, _PROVIDERS, _ESCROWS, _CHARGES, _TRANSFERS, _PROPOSALS, _VOTES; defaults
 *    10,000 / 101,000 / 1,000 / 1,000,000 / 3,000,000 / 200,000 / 1,000 / 100,000).
 * 3. The API (api/main.ts, its own process, response cache off) is measured on each query shape: sequentially
 *    (BENCH_SCALE_RUNS, default 100, at most BENCH_SCALE_SHAPE_MAX_S seconds per shape) for p50/p95/max, then with
 *    autocannon at BENCH_SCALE_CONNECTIONS (20) for BENCH_SCALE_SECONDS (5) for req/s and p97.5; every request picks
 *    its own random listing, renter, proposal, block or deep page. Then each hostile query, sent
 *    BENCH_SCALE_HOSTILE_RUNS (10) times while a second client keeps sending the per-renter query.
 * 4. The API's VmRSS is sampled every 100 ms throughout. Results: bench/results/api-scale.md and api-scale.json.
 *
 * Every process it starts (Hardhat, Postgres, Ponder, the API) is stopped by PID on the way out, failure included;
 * an API process that dies under a hostile query is recorded and restarted.
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT, waitFor } from "../test/e2e/harness";
import { startIndexedChain, type IndexedChain } from "../test/e2e/indexed";
import { loadDataset, renterAddress, sizesFromEnv, type LoadReport } from "./api-scale/dataset";
import { concurrent, hostile, post, quiet, round, RssSampler, sequential, type Concurrent, type GraphqlRequest, type HostileResult, type Sequential } from "./api-scale/measure";

const CHAIN_PORT = 8677;
const PG_PORT = 54377;
const PONDER_PORT = 42177;
const API_PORT = 4477;
const INDEXER_SCHEMA = "bench_scale";
const VIEWS = "prsm_bench_scale";
const URL = `http://127.0.0.1:${API_PORT}/graphql`;

const num = (name: string, fallback: number) => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
  return v;
};
const RUNS = num("BENCH_SCALE_RUNS", 100);
const SHAPE_MAX_S = num("BENCH_SCALE_SHAPE_MAX_S", 20);
const CONNECTIONS = num("BENCH_SCALE_CONNECTIONS", 20);
const SECONDS = num("BENCH_SCALE_SECONDS", 5);
const HOSTILE_RUNS = num("BENCH_SCALE_HOSTILE_RUNS", 10);
const HOSTILE_MAX_S = num("BENCH_SCALE_HOSTILE_MAX_S", 30);
/** Only the query shapes whose name matches this regular expression (quick iterations; the full run has none). */
const ONLY = process.env.BENCH_SCALE_ONLY ? new RegExp(process.env.BENCH_SCALE_ONLY) : undefined;

type Kind = "list" | "relation" | "stats";
interface Shape {
  name: string;
  kind: Kind;
  describe: string;
  make: (i: number) => GraphqlRequest;
  /** The 20-connection throughput target (req/s), when there is one. */
  minRps?: number;
}
interface ShapeResult {
  name: string;
  kind: Kind;
  describe: string;
  example: string;
  sequential: Sequential;
  concurrent?: Concurrent;
  targetMs: number;
  minRps?: number;
  met: boolean;
  /** The machine's 1-minute load average after the shape's runs (other work shares the cores). */
  loadAfter?: number;
  /** The API process's CPU during the concurrent run, % of one core. */
  apiCpu?: number;
  /** The whole machine's busy share (all cores, /proc/stat) during the concurrent run, %. */
  machineBusy?: number;
  seconds?: number;
}

/** User + system CPU seconds of a process so far (/proc/<pid>/stat, clock ticks of 1/100 s). */
function cpuSeconds(pid: number | undefined): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** Busy and total clock ticks of all cores so far (/proc/stat's first line; idle and iowait are not busy). */
function machineTicks(): { busy: number; total: number } {
  try {
    const ticks = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1, 9).map(Number);
    const total = ticks.reduce((a, b) => a + b, 0);
    return { busy: total - ticks[3] - ticks[4], total };
  } catch {
    return { busy: 0, total: 0 };
  }
}

const log = (line: string) => console.log(`[api-scale ${new Date().toISOString().slice(11, 19)}] ${line}`);
const pick = (n: number) => Math.floor(Math.random() * n);

async function main() {
  const sizes = sizesFromEnv();
  const renters = sizes.accounts - sizes.providers;
  log(`dataset: ${JSON.stringify(sizes)}`);
  const t0 = performance.now();
  let env: IndexedChain | undefined;
  let api: ChildProcess | undefined;
  let sampler: RssSampler | undefined;
  try {
    env = await startIndexedChain({ chainPort: CHAIN_PORT, pgPort: PG_PORT });
    const chainLogs = env.chain.logDir;
    log(`chain deployed and Postgres up in ${((performance.now() - t0) / 1000).toFixed(1)} s (logs ${chainLogs})`);

    // The indexer's own schema: Ponder creates its tables and indexes, indexes the deployment and publishes the views.
    const t1 = performance.now();
    const indexer = env.startIndexer(INDEXER_SCHEMA, VIEWS, PONDER_PORT);
    await env.indexedToHead(PONDER_PORT);
    await waitFor("the indexer's views", async () => {
      const { rows } = await env!.db.query(
        `SELECT count(*)::int AS n FROM information_schema.views WHERE table_schema = $1 AND table_name IN ('escrow', 'charge', 'listing', '_ponder_checkpoint', '_ponder_meta')`,
        [VIEWS],
      );
      return rows[0].n === 5 ? true : undefined;
    }, 60_000, 200);
    await env.processes.stop(indexer);
    const indexerSeconds = (performance.now() - t1) / 1000;
    log(`indexer indexed the deployment and published ${VIEWS} in ${indexerSeconds.toFixed(1)} s; stopped`);

    const dataset = await loadDataset(env.db, INDEXER_SCHEMA, sizes, log);
    log(`dataset loaded in ${dataset.totalSeconds.toFixed(1)} s`);
    const { keys } = dataset;

    const startApi = async () => {
      // BENCH_API_NODE_ARGS: extra node flags for the API process (e.g. --cpu-prof --cpu-prof-dir=/tmp/prof).
      const nodeArgs = (process.env.BENCH_API_NODE_ARGS ?? "").split(" ").filter(Boolean);
      const child = env!.processes.spawn("api-scale", process.execPath, [...nodeArgs, "--import", "tsx", path.join(ROOT, "api", "main.ts")], {
        DATABASE_URL: env!.databaseUrl,
        API_VIEWS_SCHEMA: VIEWS,
        API_PORT: String(API_PORT),
        API_CACHE: "0",
        API_RATE_LIMIT: "1000000000",
        // Behind one trusted reverse proxy (the bench plays it): each simulated client has its own address.
        API_TRUSTED_PROXIES: "1",
        API_GRAPHIQL: "0",
        NODE_ENV: "production",
        LOG_LEVEL: "warn",
      }, path.join(chainLogs, "api-scale.log"));
      await waitFor("the API", async () => ((await fetch(`http://127.0.0.1:${API_PORT}/ready`).catch(() => undefined))?.ok ? true : undefined), 60_000, 100);
      return child;
    };
    api = await startApi();
    const alive = () => !!api && api.exitCode === null && api.signalCode === null;
    sampler = new RssSampler(() => (alive() ? api!.pid : undefined));
    sampler.start();
    log(`API up (pid ${api.pid})`);

    // ---------------------------------------------------------------- the queries
    const listingId = () => (keys.listingBase + 1n + BigInt(pick(sizes.listings))).toString();
    const escrowId = () => (keys.escrowBase + 1n + BigInt(pick(sizes.escrows))).toString();
    const proposalId = () => (keys.proposalBase + BigInt(pick(sizes.proposals))).toString();
    const renter = () => renterAddress(pick(renters));
    const block = () => keys.firstBlock + pick(Math.ceil(sizes.transfers / 4));
    const deepPages = await deepPageCursors(env, dataset);
    const page = deepPage(dataset.rowCounts.escrow);
    log(`deep-page cursors: ${deepPages.length} (${deepPages.length ? `pages ${page - 9}-${page + 10} of escrows by openedAt desc` : "none"})`);
    // The per-renter query as the web app's Account page sends it: one document, the address a variable (yoga then
    // parses and validates the document once, not per request). The inline variant makes every document new.
    const RENTER_DOCUMENT = `query Renter($address: String!) { account(address: $address) { address balance escrows { id listingId status deposit charged openedAt charges { id amount units status timestamp } } } }`;
    const renterQuery = (_i: number) => ({ query: RENTER_DOCUMENT, variables: { address: renter() } });
    const renterInline = (_i: number) => `{ account(address: "${renter()}") { address balance escrows { id listingId status deposit charged openedAt charges { id amount units status timestamp } } } }`;

    // The biggest listings{escrows{charges}} the API accepts, from 100x100x100 down.
    const biggestNested = async () => {
      const candidates: [number, number, number][] = [[100, 100, 100], [100, 100, 10], [100, 50, 5], [50, 50, 10], [20, 20, 20], [20, 20, 5], [20, 10, 10], [10, 10, 10]];
      for (const limits of candidates) {
        const make = () => {
          const from = keys.listingBase + 1n + BigInt(pick(Math.max(1, sizes.listings - limits[0])));
          return `{ listings(limit: ${limits[0]}, where: { id_gte: "${from}" }) { items { id pricePerUnit escrows(limit: ${limits[1]}) { id charged charges(limit: ${limits[2]}) { id amount } } } } }`;
        };
        const r = await post(URL, make());
        if (!r.code && r.status === 200) return { shape: limits.join("x"), limits, make };
      }
      const limits: [number, number, number] = [10, 10, 10];
      return { shape: "10x10x10 (refused too)", limits, make: () => `{ listings(limit: 10) { items { id escrows(limit: 10) { id charges(limit: 10) { id } } } } }` };
    };
    const nested = await biggestNested();
    log(`listings with escrows and charges: the biggest shape the API accepts is ${nested.shape}`);

    const shapes: Shape[] = [
      {
        name: `escrows by openedAt, page ${page}`,
        kind: "list",
        describe: `escrows(orderBy: openedAt, orderDirection: desc, limit: 100, after: <cursor of pages ${page - 10}..${page + 9}>)`,
        make: () => `{ escrows(orderBy: openedAt, orderDirection: desc, limit: 100${deepPages.length ? `, after: "${deepPages[pick(deepPages.length)]}"` : ""}) { items { id listingId renter deposit charged status openedAt } pageInfo { endCursor hasNextPage } } }`,
      },
      {
        name: "escrows of a listing by openedAt",
        kind: "list",
        describe: "escrows(where: {listingId}, orderBy: openedAt, orderDirection: desc, limit: 100)",
        make: () => `{ escrows(where: { listingId: "${listingId()}" }, orderBy: openedAt, orderDirection: desc, limit: 100) { items { id renter charged status openedAt } pageInfo { endCursor } } }`,
      },
      {
        name: "charges(limit: 100)",
        kind: "list",
        describe: "root charges, default order (timestamp)",
        make: () => `{ charges(limit: 100) { items { id escrowId amount status timestamp } pageInfo { endCursor } } }`,
      },
      {
        name: "latest charges",
        kind: "list",
        describe: "charges(orderDirection: desc, limit: 100)",
        make: () => `{ charges(orderDirection: desc, limit: 100) { items { id escrowId amount status timestamp } pageInfo { endCursor } } }`,
      },
      {
        name: "listings by price",
        kind: "list",
        describe: "listings(orderBy: pricePerUnit, orderDirection: desc, limit: 100)",
        make: () => `{ listings(orderBy: pricePerUnit, orderDirection: desc, limit: 100) { items { id provider pricePerUnit escrowCount volume } pageInfo { endCursor } } }`,
      },
      {
        name: "transfers of a block",
        kind: "list",
        describe: "transfers(where: {blockNumber})",
        make: () => `{ transfers(where: { blockNumber: "${block()}" }) { items { id from to value blockNumber } } }`,
      },
      {
        name: "latest transfers by block",
        kind: "list",
        describe: "transfers(orderBy: blockNumber, orderDirection: desc, limit: 100)",
        make: () => `{ transfers(orderBy: blockNumber, orderDirection: desc, limit: 100) { items { id from to value blockNumber } } }`,
      },
      { name: "marketStats", kind: "stats", describe: "every marketStats field", make: () => `{ marketStats { listings activeListings escrows openEscrows charges volume fees providers renters } }` },
      { name: "per-renter: account, escrows, charges", kind: "relation", describe: "query Renter($address) { account(address: $address) { escrows { charges } } } (default limits; one document, the address a variable, as the web app sends it)", make: renterQuery, minRps: 1000 },
      { name: "per-renter, address inline (a new document each time)", kind: "relation", describe: "account(address: \"0x...\") { escrows { charges } }: parsed and validated on every request", make: renterInline },
      {
        name: "an escrow with its charges",
        kind: "relation",
        describe: "escrow(id) { listing charges payouts }",
        make: () => `{ escrow(id: "${escrowId()}") { id status charged listing { id provider } charges { id amount status } payouts { id } } }`,
      },
      {
        name: "a proposal with its votes",
        kind: "relation",
        describe: "proposal(id) { tally votes(limit: 100) }",
        make: () => `{ proposal(id: "${proposalId()}") { id description state tally { forWeight againstWeight quorumReached } votes(limit: 100) { voter support weight } } }`,
      },
      {
        name: `listings{escrows{charges}} ${nested.shape}`,
        kind: "relation",
        describe: `listings(limit: ${nested.limits[0]}, where: {id_gte}) { escrows(limit: ${nested.limits[1]}) { charges(limit: ${nested.limits[2]}) } }`,
        make: () => nested.make(),
      },
    ];

    if (ONLY) shapes.splice(0, shapes.length, ...shapes.filter((s) => ONLY.test(s.name)));
    const checks = await consistencyChecks(dataset, renter, proposalId);
    for (const c of checks) log(`check ${c.ok ? "ok" : "FAILED"}: ${c.what}${c.detail ? ` (${c.detail})` : ""}`);

    const loadBefore = round(os.loadavg()[0], 2);
    const results: ShapeResult[] = [];
    for (const shape of shapes) {
      sampler.phase = `sequential: ${shape.name}`;
      const seq = await sequential(URL, shape.make, RUNS, 5, SHAPE_MAX_S);
      log(`${shape.name}: sequential p50 ${seq.p50} p95 ${seq.p95} max ${seq.max} ms (n ${seq.n}, errors ${seq.errors}${seq.firstError ? `: ${seq.firstError.slice(0, 160)}` : ""})`);
      results.push({
        name: shape.name,
        kind: shape.kind,
        describe: shape.describe,
        example: ((r) => (typeof r === "string" ? r : JSON.stringify(r)))(shape.make(0)),
        sequential: seq,
        targetMs: shape.kind === "stats" ? 10 : 50,
        minRps: shape.minRps,
        met: false,
      });
    }
    // Each request from one of 200 clients (X-Forwarded-For through the trusted proxy hop), round robin: the 20
    // connections' requests in flight come from distinct clients, as 20 users would.
    const asClient = (n: number) => ({ "x-forwarded-for": `10.1.${Math.floor((n % 200) / 100)}.${n % 100}` });
    for (const [i, shape] of shapes.entries()) {
      if (!alive()) api = await startApi();
      await quiet(URL);
      sampler.phase = `${CONNECTIONS} connections: ${shape.name}`;
      const r = results[i];
      // Long enough for every connection to get a few answers of a slow shape (at most 30 s).
      const seconds = Math.max(SECONDS, Math.min(30, Math.ceil((3 * r.sequential.p50 * CONNECTIONS) / 1000)));
      const cpu0 = cpuSeconds(api.pid);
      const machine0 = machineTicks();
      const t = performance.now();
      const c = await concurrent(URL, shape.make, CONNECTIONS, seconds, asClient);
      r.apiCpu = round((100 * (cpuSeconds(api.pid) - cpu0)) / ((performance.now() - t) / 1000), 0);
      const machine1 = machineTicks();
      // No /proc/stat (not Linux): no figure rather than a made-up 0 %.
      r.machineBusy = machine1.total > machine0.total ? round((100 * (machine1.busy - machine0.busy)) / (machine1.total - machine0.total), 0) : undefined;
      r.seconds = seconds;
      log(`${shape.name}: ${CONNECTIONS} connections ${c.requestsPerSecond} req/s answered p50 ${c.p50} p97.5 ${c.p97_5} ms over ${seconds} s, API CPU ${r.apiCpu}% of a core (statuses ${JSON.stringify(c.statusCodes)}, GraphQL errors ${c.graphqlErrors}, errors ${c.errors}, timeouts ${c.timeouts})`);
      r.concurrent = c;
      r.loadAfter = round(os.loadavg()[0], 2);
      r.met = r.sequential.errors === 0 && r.sequential.p95 < r.targetMs && (r.minRps === undefined || (c.requestsPerSecond >= r.minRps && c.errors + c.non2xx + c.graphqlErrors === 0));
    }
    // The same per-renter load from ONE client: what the per-client concurrency limit does to it.
    await quiet(URL);
    sampler.phase = `${CONNECTIONS} connections, one client: per-renter`;
    const oneClient = await concurrent(URL, renterQuery, CONNECTIONS, SECONDS);
    log(`per-renter from one client: ${oneClient.requestsPerSecond} req/s answered, ${oneClient.totalPerSecond} total (statuses ${JSON.stringify(oneClient.statusCodes)})`);

    // ---------------------------------------------------------------- hostile queries
    const hostileQueries: { name: string; query: string }[] = [
      { name: "listings(1000){escrows(1000){charges(1000)}}", query: `{ listings(limit: 1000) { items { escrows(limit: 1000) { charges(limit: 1000) { id } } } } }` },
      {
        name: "cyclic listings(100){escrows(1000){charges(1000){escrow{listing{escrows(1000)}}}}}",
        query: `{ listings(limit: 100) { items { escrows(limit: 1000) { charges(limit: 1000) { escrow { listing { escrows(limit: 1000) { id } } } } } } } }`,
      },
      {
        name: "relation cycle at default limits, depth 9",
        query: `{ escrows { items { listing { escrows { listing { escrows { listing { escrows { id } } } } } } } } }`,
      },
      {
        name: "accounts(1000){escrows(1000){charges(1000){escrow{renterAccount{escrows(1000)}}}}}",
        query: `{ accounts(limit: 1000) { items { escrows(limit: 1000) { charges(limit: 1000) { escrow { renterAccount { escrows(limit: 1000) { id } } } } } } } }`,
      },
      {
        name: "30 aliases of charges(1000){escrow{charges(1000)}}",
        query: `{ ${Array.from({ length: 30 }, (_, i) => `a${i}: charges(limit: 1000, after: null) { items { escrow { charges(limit: 1000) { id amount } } } }`).join(" ")} }`,
      },
      { name: "txHash_contains on 3M charges", query: `{ charges(where: { txHash_contains: "abcdef12" }, limit: 100) { items { id } } }` },
      { name: "unindexed order: escrows by spendCap", query: `{ escrows(orderBy: spendCap, orderDirection: desc, limit: 1000) { items { id spendCap } } }` },
      { name: "topListings(1000){escrows(1000){charges(1000)}}", query: `{ topListings(limit: 1000) { escrows(limit: 1000) { charges(limit: 1000) { id } } } }` },
    ];
    const hostileResults: (HostileResult & { name: string; query: string; met: boolean })[] = [];
    for (const h of hostileQueries) {
      if (!alive()) api = await startApi();
      await quiet(URL);
      sampler.phase = `hostile: ${h.name}`;
      const r = await hostile(URL, h.query, renterQuery, HOSTILE_RUNS, HOSTILE_MAX_S, alive, {
        attacker: { "x-forwarded-for": "10.66.0.1" },
        other: { "x-forwarded-for": "10.2.0.1" },
      });
      // Refused fast, or (for the cheap-if-indexed shapes) answered fast: either way the others keep their latency.
      const met = !r.apiDied && r.latency.max < 50 && r.normal.p95 < 100 && r.normal.errors === 0 && (r.refused || r.outcome === "answered");
      hostileResults.push({ ...r, name: h.name, query: h.query, met });
      log(`hostile ${h.name}: ${r.outcome} ${r.statuses.join("/")} ${r.codes.join("/")} in p50 ${r.latency.p50} max ${r.latency.max} ms (n ${r.attempts}, ${r.maxBytes} bytes); second client p95 ${r.normal.p95} ms (n ${r.normal.n}, errors ${r.normal.errors})`);
      if (r.apiDied) {
        log(`the API process died (exit ${api?.exitCode ?? api?.signalCode}); restarting it`);
        api = await startApi();
      }
    }
    sampler.stop();
    log(`API RSS max ${sampler.max.toFixed(0)} MiB over ${sampler.samples} samples`);

    writeResults({ sizes, dataset, indexerSeconds, loadBefore, results, oneClient, hostile: hostileResults, rss: sampler, checks, nested: nested.shape, deepPages: deepPages.length > 0 });
  } finally {
    sampler?.stop();
    if (env) await env.stop();
  }
}

/** Page 500 of escrows by openedAt desc (100 a page; the middle page of a smaller table) and the 19 around it. */
const deepPage = (escrows: number) => Math.max(11, Math.min(500, Math.floor(escrows / 200)));

/** Cursors of the pages around deepPage(), in the API's own cursor format (learnt from page 1 and checked). */
async function deepPageCursors(env: IndexedChain, dataset: LoadReport): Promise<string[]> {
  const target = deepPage(dataset.rowCounts.escrow);
  const first = await post(URL, `{ escrows(orderBy: openedAt, orderDirection: desc, limit: 100) { items { id openedAt } pageInfo { endCursor } } }`);
  const page = (first.body?.data as { escrows?: { items: { id: string; openedAt: string }[]; pageInfo: { endCursor: string } } } | undefined)?.escrows;
  if (!page?.pageInfo.endCursor) {
    log(`deep pages: page 1 failed (${first.code ?? first.failure ?? first.status}); querying the first page only`);
    return [];
  }
  let template: unknown[] | undefined;
  try {
    template = JSON.parse(Buffer.from(page.pageInfo.endCursor, "base64url").toString("utf8"));
  } catch {
    template = undefined;
  }
  const { rows } = await env.db.query<{ opened_at: string; id: string; rn: string }>(
    `SELECT opened_at::text, id::text, rn::text FROM (
       SELECT opened_at, id, row_number() OVER (ORDER BY opened_at DESC, id DESC) AS rn FROM "${INDEXER_SCHEMA}".escrow ORDER BY opened_at DESC, id DESC LIMIT $1) x
      WHERE rn % 100 = 0 AND rn BETWEEN $2 AND $3 ORDER BY rn`,
    [(target + 10) * 100, (target - 10) * 100, (target + 9) * 100],
  );
  const last = page.items[page.items.length - 1];
  if (Array.isArray(template) && template.length === 2 && String(template[0]) === String(last.openedAt) && String(template[1]) === String(last.id) && rows.length) {
    const asTemplate = (v: string, like: unknown) => (typeof like === "number" ? Number(v) : v);
    const cursors = rows.map((r) => Buffer.from(JSON.stringify([asTemplate(r.opened_at, template![0]), asTemplate(r.id, template![1])])).toString("base64url"));
    // The page after the 49,900th row must start with the 49,901st.
    const check = await post(URL, `{ escrows(orderBy: openedAt, orderDirection: desc, limit: 1, after: "${cursors[cursors.length - 1]}") { items { id } } }`);
    const { rows: expected } = await env.db.query<{ id: string }>(`SELECT id::text FROM "${INDEXER_SCHEMA}".escrow ORDER BY opened_at DESC, id DESC OFFSET ${rows[rows.length - 1].rn} LIMIT 1`);
    const got = (check.body?.data as { escrows?: { items: { id: string }[] } } | undefined)?.escrows?.items[0]?.id;
    if (got === expected[0]?.id) return cursors;
    log(`deep pages: the API's page after row ${rows[rows.length - 1].rn} starts at ${got}, expected ${expected[0]?.id}; walking instead`);
  }
  // An opaque cursor format: walk to page 510 once.
  const cursors: string[] = [];
  let after = page.pageInfo.endCursor;
  for (let p = 2; p < target + 10; p++) {
    const r = await post(URL, `{ escrows(orderBy: openedAt, orderDirection: desc, limit: 100, after: "${after}") { pageInfo { endCursor } } }`);
    const next = (r.body?.data as { escrows?: { pageInfo: { endCursor: string | null } } } | undefined)?.escrows?.pageInfo.endCursor;
    if (!next) break;
    after = next;
    if (p >= target - 10) cursors.push(after);
  }
  return cursors;
}

interface Check {
  what: string;
  ok: boolean;
  detail?: string;
}

/** The API's answers agree with the loaded rows: counts, an escrow's charged against its charges, a tally. */
async function consistencyChecks(dataset: LoadReport, renter: () => string, proposalId: () => string): Promise<Check[]> {
  const checks: Check[] = [];
  const stats = await post(URL, `{ marketStats { listings escrows charges renters } }`);
  const m = (stats.body?.data as { marketStats?: Record<string, number> } | undefined)?.marketStats;
  for (const [field, table] of [["listings", "listing"], ["escrows", "escrow"], ["charges", "charge"]] as const) {
    checks.push({ what: `marketStats.${field} = rows in ${table}`, ok: m?.[field] === dataset.rowCounts[table], detail: `${m?.[field] ?? stats.code} vs ${dataset.rowCounts[table]}` });
  }
  const acc = await post(URL, `{ account(address: "${renter()}") { escrows { charged charges { amount } } } }`);
  const escrows = (acc.body?.data as { account?: { escrows: { charged: string; charges: { amount: string }[] }[] } } | undefined)?.account?.escrows ?? [];
  const bad = escrows.filter((e) => BigInt(e.charged) !== e.charges.reduce((s, c) => s + BigInt(c.amount), 0n));
  checks.push({ what: "a renter's escrows: charged = sum of its charges", ok: escrows.length > 0 && bad.length === 0, detail: `${escrows.length} escrows, ${bad.length} differ${acc.code ? `, ${acc.code}` : ""}` });
  const prop = await post(URL, `{ proposal(id: "${proposalId()}") { voteCount forWeight votes(limit: 100) { support weight } } }`);
  const p = (prop.body?.data as { proposal?: { voteCount: number; forWeight: string; votes: { support: number; weight: string }[] } } | undefined)?.proposal;
  const forSum = p?.votes.filter((v) => v.support === 1).reduce((s, v) => s + BigInt(v.weight), 0n);
  checks.push({ what: "a proposal: voteCount and forWeight match its votes", ok: !!p && p.voteCount === p.votes.length && forSum === BigInt(p.forWeight), detail: p ? `${p.voteCount} votes` : (prop.code ?? prop.failure) });
  return checks;
}

function writeResults(r: {
  sizes: ReturnType<typeof sizesFromEnv>;
  dataset: LoadReport;
  indexerSeconds: number;
  loadBefore: number;
  results: ShapeResult[];
  oneClient: Concurrent;
  hostile: (HostileResult & { name: string; query: string; met: boolean })[];
  rss: RssSampler;
  checks: Check[];
  nested: string;
  deepPages: boolean;
}) {
  // A run limited by BENCH_SCALE_ONLY writes beside the full results, never over them.
  const dir = ONLY ? path.join(ROOT, "bench", "results", "partial") : path.join(ROOT, "bench", "results");
  fs.mkdirSync(dir, { recursive: true });
  const cpu = os.cpus()[0]?.model ?? "?";
  const machine = `${os.cpus().length} cores (${cpu}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.platform()} ${os.release()}, Node ${process.version}`;
  const rssMax = Math.round(r.rss.max);
  const rssMet = rssMax < 512;
  const json = {
    date: new Date().toISOString(),
    machine,
    loadAverage: { beforeMeasuring: r.loadBefore, afterEachShape: Object.fromEntries(r.results.map((q) => [q.name, q.loadAfter])), atEnd: round(os.loadavg()[0], 2) },
    settings: { runs: RUNS, shapeMaxSeconds: SHAPE_MAX_S, connections: CONNECTIONS, seconds: SECONDS, hostileRuns: HOSTILE_RUNS, cache: false },
    dataset: { ...r.dataset, keys: undefined, indexerSeconds: round(r.indexerSeconds) },
    consistency: r.checks,
    queries: r.results,
    perRenterOneClient: r.oneClient,
    hostile: r.hostile,
    rss: { maxMiB: rssMax, met: rssMet, byPhase: Object.fromEntries(Object.entries(r.rss.byPhase).map(([k, v]) => [k, Math.round(v)])), samples: r.rss.samples },
  };
  fs.writeFileSync(path.join(dir, "api-scale.json"), JSON.stringify(json, null, 2) + "\n");

  const fmt = (n: number) => n.toLocaleString("en-US");
  const mark = (ok: boolean) => (ok ? "met" : "**MISSED**");
  const rows = r.results.map((q) => {
    const c = q.concurrent;
    const target = `p95 < ${q.targetMs} ms${q.minRps ? `; ≥ ${fmt(q.minRps)} req/s at ${CONNECTIONS}` : ""}`;
    const errs = q.sequential.errors + (c ? c.errors + c.non2xx + c.graphqlErrors : 0);
    return `| ${q.name} | ${q.sequential.p50} | ${q.sequential.p95} | ${q.sequential.max} | ${c ? fmt(c.requestsPerSecond) : "-"} | ${c ? c.p97_5 : "-"} | ${q.apiCpu ?? "-"}% | ${q.machineBusy ?? "-"}% | ${errs}${q.sequential.firstError ? ` (${q.sequential.firstError.replace(/\|/g, "/").slice(0, 60)})` : ""} | ${target} | ${mark(q.met)} |`;
  });
  const hrows = r.hostile.map((h) => `| ${h.name.replace(/\|/g, "/")} | ${h.outcome} | ${h.statuses.join("/")} | ${h.codes.join(", ").replace(/\|/g, "/").slice(0, 80)} | ${h.latency.p50} | ${h.latency.max} | ${fmt(h.maxBytes)} | ${h.normal.p95} (n ${h.normal.n}${h.normal.errors ? `, ${h.normal.errors} errors` : ""}) | ${mark(h.met)} |`);
  const loads = r.dataset.tables.map((t) => `| ${t.table} | ${fmt(t.rows)} | ${t.seconds.toFixed(1)} | ${t.defaulted.join(", ") || "-"} |`);
  const met = r.results.filter((q) => q.met).length + r.hostile.filter((h) => h.met).length + (rssMet ? 1 : 0);
  const total = r.results.length + r.hostile.length + 1;
  const phases = Object.entries(r.rss.byPhase).sort((a, b) => b[1] - a[1]).slice(0, 5).map(([k, v]) => `${k} ${Math.round(v)} MiB`).join("; ");
  const loads1 = r.results.map((q) => q.loadAfter ?? 0);
  const loadRange = `${Math.min(...loads1)}-${Math.max(...loads1)}`;
  const md = `# API at scale: 1M escrows, hostile queries

${json.date} · ${machine} · \`npm run bench api-scale\`

The API (api/main.ts, its own process, response cache off: \`API_CACHE=0\`) over the real indexer's tables, views and
indexes (Ponder ran on a fresh embedded Postgres against a Hardhat deployment, then synthetic but consistent rows were
bulk-loaded into its tables; see bench/api-scale/dataset.ts). Each request picks its own random listing, renter,
escrow, proposal, block or deep page. The API, Postgres, the bench and autocannon share the machine's cores (and
other work may run beside it: the 1-minute load average was ${r.loadBefore} when measuring began, ${loadRange} after
the ${CONNECTIONS}-connection runs, on ${os.cpus().length} cores).

**${met} of ${total} targets met.**

## Queries

Sequential: ${RUNS} requests one after the other (after 5 unmeasured; fewer when a shape passes ${SHAPE_MAX_S} s).
${CONNECTIONS} connections: autocannon for ${SECONDS} s (longer for a slow shape: 3 x its sequential p50 x ${CONNECTIONS}, at most 30 s);
API CPU is the API process's CPU time meanwhile, in % of one core (it is one Node process); machine is the busy share of
all ${os.cpus().length} cores (API, Postgres, the load generator and anything else). Latencies in ms. The nested listings shape is the biggest of
100x100x100, 100x100x10, ... the API accepted: ${r.nested}.${r.deepPages ? "" : " (Page 500 could not be reached: its row measures page 1.)"}

| query | seq p50 | seq p95 | seq max | ${CONNECTIONS}-conn req/s | ${CONNECTIONS}-conn p97.5 | API CPU | machine | errors | target | |
|---|---|---|---|---|---|---|---|---|---|---|
${rows.join("\n")}

The ${CONNECTIONS}-connection runs play ${CONNECTIONS} users behind one trusted reverse proxy (\`API_TRUSTED_PROXIES=1\`, each
request's X-Forwarded-For one of 200 client addresses, round robin); req/s counts answered (2xx) requests, and errors
count transport errors, non-2xx answers and 2xx answers carrying GraphQL errors. The same per-renter load from ONE
client: ${fmt(r.oneClient.requestsPerSecond)} req/s answered of ${fmt(r.oneClient.totalPerSecond)} (statuses ${JSON.stringify(r.oneClient.statusCodes)}): the
per-client concurrency limit at work.

## Hostile queries

Each sent up to ${HOSTILE_RUNS} times in a row (at most ${HOSTILE_MAX_S} s) while a second client sends the per-renter
query back to back. Target: refused (an error and no data) in < 50 ms (or, for a shape that is cheap when indexed,
answered in < 50 ms), the second client's p95 < 100 ms, the API alive.

| query | outcome | HTTP | code | p50 ms | max ms | bytes | second client p95 ms | |
|---|---|---|---|---|---|---|---|---|
${hrows.join("\n")}

## Memory

API resident set (VmRSS, sampled every 100 ms over ${fmt(r.rss.samples)} samples): max **${rssMax} MiB** (target < 512 MB): ${mark(rssMet)}.
Highest phases: ${phases}.

## Dataset

${Object.entries(r.sizes).map(([k, v]) => `${k} ${fmt(v)}`).join(", ")} (renters = accounts - providers). The indexer
created its schema and indexed the deployment in ${r.indexerSeconds.toFixed(1)} s; the load took
${r.dataset.totalSeconds.toFixed(1)} s (rows ${r.dataset.tables.reduce((s, t) => s + t.seconds, 0).toFixed(1)} s, rebuilding the indexer's indexes and keys
${r.dataset.indexSeconds.toFixed(1)} s, VACUUM ANALYZE ${r.dataset.analyzeSeconds.toFixed(1)} s).
Counters bumped: ${r.dataset.counters.length ? r.dataset.counters.join("; ") : "no counters table in the indexer's schema (daily_stat and protocol_state only)"}.

| table | rows | seconds | columns filled by name/type |
|---|---|---|---|
${loads.join("\n")}

Consistency of the API's answers with the loaded rows: ${r.checks.map((c) => `${c.what}: ${c.ok ? "ok" : `FAILED (${c.detail})`}`).join("; ")}.

Re-run: \`npm run bench api-scale\` (sizes and run lengths: see the header of bench/api-scale.ts).
`;
  fs.writeFileSync(path.join(dir, "api-scale.md"), md);
  log(`wrote bench/results/api-scale.md and api-scale.json (${met} of ${total} targets met)`);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
