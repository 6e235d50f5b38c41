/**
 * API benchmark: the protocol's GraphQL API (api/, its own process) against Ponder's built-in /graphql serving the
 * same indexed data, with autocannon, in one run on one machine:
 *
 *   listings   a page of listings with their escrows         (Ponder: listings + escrows of those listings)
 *   account    an account with its escrows and their charges  (Ponder: account + escrows + charges by renter's escrows)
 *   proposal   a proposal with its votes                      (Ponder: proposal + votes by proposal id)
 *
 * each for BENCH_API_SECONDS (default 10) with BENCH_API_CONNECTIONS (default 20): our API uncached (API_CACHE=0),
 * our API cached, and Ponder. Reports requests/s, p50/p97.5/p99 latency (autocannon's percentiles; p95 lies
 * between p90 and p97.5) and the cache hit ratio. Writes bench/results/api.md and api.json.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import autocannon from "autocannon";
import { account, Processes, ROOT, waitFor } from "../test/e2e/harness";
import { startIndexedChain } from "../test/e2e/indexed";
import { mineTransfers } from "../test/e2e/load";
import { runScenario } from "../test/e2e/scenario";

const SECONDS = Number(process.env.BENCH_API_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_API_CONNECTIONS ?? 20);
const PONDER_PORT = 42190;
const API_PORTS = { uncached: 4490, cached: 4491 };
const VIEWS = "prsm_bench";

interface Measured {
  target: string;
  query: string;
  requestsPerSecond: number;
  p50: number;
  p90: number;
  p97_5: number;
  p99: number;
  errors: number;
  non2xx: number;
}

async function load(url: string, body: string): Promise<autocannon.Result> {
  return autocannon({ url, method: "POST", headers: { "content-type": "application/json" }, body, connections: CONNECTIONS, duration: SECONDS });
}

async function main() {
  const env = await startIndexedChain({ chainPort: 8645, pgPort: 54341 });
  const processes = new Processes();
  try {
    const scenario = await runScenario(env.chain);
    await mineTransfers(env.chain, 300);
    env.startIndexer("bench_api", VIEWS, PONDER_PORT);
    await env.indexedToHead(PONDER_PORT);

    for (const [mode, port] of Object.entries(API_PORTS)) {
      processes.spawn(`api-${mode}`, process.execPath, ["--import", "tsx", path.join(ROOT, "api", "main.ts")], {
        DATABASE_URL: env.databaseUrl,
        API_VIEWS_SCHEMA: VIEWS,
        API_PORT: String(port),
        API_CACHE: mode === "cached" ? "1" : "0",
        API_RATE_LIMIT: "1000000000",
        API_GRAPHIQL: "0",
        NODE_ENV: "production",
        LOG_LEVEL: "warn",
      }, path.join(env.chain.logDir, `api-${mode}.log`));
      await waitFor(`API (${mode})`, async () => ((await fetch(`http://127.0.0.1:${port}/ready`).catch(() => undefined))?.ok ? true : undefined), 60_000, 100);
    }

    const renter = account(1).address.toLowerCase();
    const proposalId = scenario.proposals[0].toString();
    const [receiptEscrow] = scenario.escrows;
    const ours: Record<string, string> = {
      listings: `{ listings(limit: 10) { items { id provider pricePerUnit volume escrows(limit: 5) { id renter charged } } } }`,
      account: `{ account(address: "${renter}") { balance votes escrows { id charged charges { amount status } } } }`,
      proposal: `{ proposal(id: "${proposalId}") { id description forWeight againstWeight votes { voter support weight } } }`,
    };
    const ponder: Record<string, string> = {
      listings: `{ listings(limit: 10) { items { id provider pricePerUnit volume } } escrows(where: { listingId_in: ["1","2","3","4","5","6","7","8","9","10"] }, limit: 50) { items { id listingId renter charged } } }`,
      account: `{ account(address: "${renter}") { balance votes } escrows(where: { renter: "${renter}" }) { items { id charged } } charges(where: { escrowId: "${receiptEscrow}" }) { items { amount status } } }`,
      proposal: `{ proposal(id: "${proposalId}") { id description forWeight againstWeight } votes(where: { proposalId: "${proposalId}" }) { items { voter support weight } } }`,
    };

    // Same answers first: a benchmark of wrong results measures nothing.
    for (const name of Object.keys(ours)) {
      const a = await (await fetch(`http://127.0.0.1:${API_PORTS.cached}/graphql`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: ours[name] }) })).json() as { errors?: unknown };
      const b = await (await fetch(`http://127.0.0.1:${PONDER_PORT}/graphql`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: ponder[name] }) })).json() as { errors?: unknown };
      if (a.errors || b.errors) throw new Error(`${name}: ${JSON.stringify(a.errors ?? b.errors)}`);
    }

    const results: Measured[] = [];
    const targets = [
      { target: "api (uncached)", url: `http://127.0.0.1:${API_PORTS.uncached}/graphql`, queries: ours },
      { target: "api (cached)", url: `http://127.0.0.1:${API_PORTS.cached}/graphql`, queries: ours },
      { target: "ponder /graphql", url: `http://127.0.0.1:${PONDER_PORT}/graphql`, queries: ponder },
    ];
    for (const name of Object.keys(ours)) {
      for (const t of targets) {
        const r = await load(t.url, JSON.stringify({ query: t.queries[name] }));
        const m = { target: t.target, query: name, requestsPerSecond: Math.round(r.requests.average), p50: r.latency.p50, p90: r.latency.p90, p97_5: r.latency.p97_5, p99: r.latency.p99, errors: r.errors, non2xx: r.non2xx };
        results.push(m);
        console.log(`${name.padEnd(9)} ${t.target.padEnd(16)} ${String(m.requestsPerSecond).padStart(6)} req/s  p50 ${m.p50} ms  p97.5 ${m.p97_5} ms  p99 ${m.p99} ms  errors ${m.errors} non-2xx ${m.non2xx}`);
      }
    }
    const metrics = await (await fetch(`http://127.0.0.1:${API_PORTS.cached}/metrics`)).text();
    const count = (result: string) => Number(metrics.match(new RegExp(`prsm_api_cache_total\\{store="memory",result="${result}"\\} (\\d+)`))?.[1] ?? 0);
    writeResults(results, { hits: count("hit"), misses: count("miss") });
  } finally {
    await processes.stopAll();
    await env.stop();
  }
}

function writeResults(results: Measured[], cache: { hits: number; misses: number }) {
  const hitRatio = cache.hits / Math.max(1, cache.hits + cache.misses);
  const dir = path.join(ROOT, "bench", "results");
  fs.mkdirSync(dir, { recursive: true });
  const machine = `${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
  fs.writeFileSync(path.join(dir, "api.json"), JSON.stringify({ date: new Date().toISOString(), machine, seconds: SECONDS, connections: CONNECTIONS, hitRatio, cache, results }, null, 2) + "\n");
  const by = (q: string, t: string) => results.find((r) => r.query === q && r.target === t)!;
  const lines = results.map((r) => `| ${r.query} | ${r.target} | ${r.requestsPerSecond} | ${r.p50} | ${r.p90} | ${r.p97_5} | ${r.p99} | ${r.errors + r.non2xx} |`);
  const ratios = ["listings", "account", "proposal"].map((q) => `${q}: cached ${(by(q, "api (cached)").requestsPerSecond / by(q, "ponder /graphql").requestsPerSecond).toFixed(1)}x, uncached ${(by(q, "api (uncached)").requestsPerSecond / by(q, "ponder /graphql").requestsPerSecond).toFixed(1)}x`);
  fs.writeFileSync(
    path.join(dir, "api.md"),
    `# API benchmark

${new Date().toISOString()} · ${machine} · \`npm run bench api\` · autocannon, ${CONNECTIONS} connections, ${SECONDS} s per cell; the API,
Ponder, Postgres and autocannon share the machine's cores.

| query | target | req/s | p50 ms | p90 ms | p97.5 ms | p99 ms | errors |
|---|---|---|---|---|---|---|---|
${lines.join("\n")}

Throughput against Ponder's built-in endpoint on the same data: ${ratios.join("; ")}.
Response-cache hit ratio over the cached runs: ${(hitRatio * 100).toFixed(3)}% (${cache.hits} hits, ${cache.misses} misses: the first request of each query, and one per new indexed block).
Ponder's schema has no relations declared, so its queries fetch the related rows as sibling root fields.
`,
  );
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
