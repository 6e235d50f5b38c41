/**
 * Orchestrator benchmark, on a Hardhat node with the protocol deployed, the demo provider's gateway (wink-nlp) and one
 * orchestrator process:
 *
 *   overhead    BENCH_ORCH_PAIRS (default 400) sequential pairs of the same signed chat query, one sent straight to
 *               the gateway and one through the orchestrator, alternating. The latency the orchestrator adds to a
 *               query is what the renter waited minus the time the orchestrator spent waiting for the provider
 *               (its Server-Timing header): the extra HTTP hop plus the orchestrator's own work, per request, free of
 *               the provider's variance. Also reported: both paths' percentiles and their difference. The client is
 *               the same keep-alive node:http client the orchestrator uses, so its own overhead stays small.
 *   throughput  autocannon for BENCH_ORCH_SECONDS (default 10) with BENCH_ORCH_CONNECTIONS (default 8), through the
 *               orchestrator and straight to the gateway, rotating over 8 escrows (a gateway serves one escrow's
 *               requests in order; one signed request can be replayed while its authorization has room).
 *
 * The orchestrator hands every report to CONSENSUS_NODES; here that is a counting HTTP endpoint (its own process)
 * answering 200, so the measurement covers the orchestrator's whole path without thousands of settlement
 * transactions competing for the same two cores (settlement is measured by the consensus benchmark).
 * Writes bench/results/orchestrator.md and orchestrator.json.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import autocannon from "autocannon";
import { post } from "../workers/shared/http-client";
import { AUTHORIZATION_HEADER, formatAuthorizationHeader, requestDigest, signAuthorization } from "../workers/shared/authorization";
import { account, deployment, Processes, privateKeyOf, readContract, ROOT, send, startChain, waitFor, walletFor } from "../test/e2e/harness";
import { committeeDomain, PROVIDER, RENTER } from "../test/e2e/usage";

const PAIRS = Number(process.env.BENCH_ORCH_PAIRS ?? 400);
const SECONDS = Number(process.env.BENCH_ORCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_ORCH_CONNECTIONS ?? 8);
const ESCROWS = 8;
const GATEWAY = "http://127.0.0.1:8861";
const ORCHESTRATOR = "http://127.0.0.1:8860";
const SINK_PORT = 8862;
const DEMO_LISTING = 9n;
const PATH = "/v1/chat/completions";
/** Stands in for the consensus nodes: accepts every report, counts them (GET /count). */
const SINK_SCRIPT = `
let n = 0;
require("node:http").createServer((req, res) => {
  if (req.method === "GET") return res.end(String(n));
  req.resume();
  req.on("end", () => { n++; res.writeHead(200, { "content-type": "application/json" }).end("{}"); });
}).listen(Number(process.env.SINK_PORT), "127.0.0.1");
`;
const BODY = JSON.stringify({
  messages: [{ role: "user", content: "Shares of Acme rose 4% on Tuesday after strong quarterly revenue. Analysts expect growth to continue into next year." }],
});

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const r = (v: number) => Math.round(v * 100) / 100;
  return { p50: r(percentile(s, 50)), p95: r(percentile(s, 95)), p99: r(percentile(s, 99)), mean: r(xs.reduce((a, b) => a + b, 0) / xs.length) };
};

async function main() {
  const processes = new Processes();
  try {
    const chain = await startChain(processes, 8645);
    processes.spawn("report-sink", process.execPath, ["-e", SINK_SCRIPT], { SINK_PORT: String(SINK_PORT) }, path.join(chain.logDir, "sink.log"));
    const reportsSeen = async () => Number(await (await fetch(`http://127.0.0.1:${SINK_PORT}/count`)).text());
    await waitFor("the report sink", reportsSeen, 10_000, 50).catch(() => undefined);
    const market = deployment("ModelMarketplace");
    const token = deployment("FTNSToken");
    const domain = await committeeDomain(chain);
    const renter = walletFor(chain, RENTER);
    await send(chain, await renter.writeContract({ ...token, abi: token.abi as never, functionName: "approve", args: [market.address, 10n ** 24n] }));
    const now = (await chain.publicClient.getBlock()).timestamp;
    const { pricePerUnit } = await readContract<{ pricePerUnit: bigint }>(chain, market, "getListing", [DEMO_LISTING]);
    const escrows: bigint[] = [];
    for (let i = 0; i < ESCROWS; i++) {
      await send(chain, await renter.writeContract({ ...market, abi: market.abi as never, functionName: "openEscrow", args: [DEMO_LISTING, 5_000n * 10n ** 18n, 5_000n * 10n ** 18n, now + 7_200n, pricePerUnit] }));
      escrows.push(await readContract<bigint>(chain, market, "escrowCount"));
    }
    // One authorization per escrow for this body, with room for every request the run can send.
    const authorizations = await Promise.all(
      escrows.map((escrowId) =>
        signAuthorization(account(RENTER), domain, { escrowId, maxCumulativeUnits: 10n ** 12n, requestDigest: requestDigest(PATH, BODY), deadline: now + 7_200n }),
      ),
    );
    const headerFor = (i: number) => ({ "content-type": "application/json", [AUTHORIZATION_HEADER]: formatAuthorizationHeader([authorizations[i % ESCROWS]!]) });

    processes.spawn("gateway", process.execPath, ["--import", "tsx", path.join(ROOT, "workers", "provider-gateway", "main.ts")], {
      PROVIDER_KEY: privateKeyOf(PROVIDER), RPC_URL: chain.rpcUrl, NETWORK: "e2e", GATEWAY_LISTINGS: DEMO_LISTING.toString(), GATEWAY_PORT: "8861",
      GATEWAY_STATE_FILE: path.join(chain.logDir, "gateway", "usage.json"), LOG_LEVEL: "warn",
      // The load replays signed requests without acknowledging them: a credit window that never closes, and a sink
      // for the reports (this measures routing, not settlement).
      CONSENSUS_NODES: `http://127.0.0.1:${SINK_PORT}`, CREDIT_WINDOW_UNITS: "1000000000000",
    }, path.join(chain.logDir, "gateway.log"));
    await waitFor("the gateway", async () => ((await fetch(`${GATEWAY}/health`)).ok ? true : undefined), 60_000, 100);
    processes.spawn("orchestrator", process.execPath, ["--import", "tsx", path.join(ROOT, "workers", "orchestrator", "main.ts")], {
      RPC_URL: chain.rpcUrl, NETWORK: "e2e", PROVIDER_GATEWAYS: GATEWAY, CONSENSUS_NODES: `http://127.0.0.1:${SINK_PORT}`, ORCHESTRATOR_PORT: "8860", LOG_LEVEL: "warn",
    }, path.join(chain.logDir, "orchestrator.log"));
    await waitFor("the orchestrator", async () => ((await fetch(`${ORCHESTRATOR}/health`)).ok ? true : undefined), 60_000, 100);

    const added: number[] = [];
    const once = async (base: string, i: number) => {
      const t0 = performance.now();
      const res = await post(`${base}${PATH}`, BODY, headerFor(i), 30_000);
      const elapsed = performance.now() - t0;
      if (res.status !== 200) throw new Error(`${base} answered ${res.status}`);
      const provider = /provider;dur=([\d.]+)/.exec(String(res.headers["server-timing"] ?? ""));
      if (provider) added.push(elapsed - Number(provider[1]));
      return elapsed;
    };
    for (let i = 0; i < 40; i++) await Promise.all([once(GATEWAY, i), once(ORCHESTRATOR, i + 1)]); // warm-up
    added.length = 0;
    const direct: number[] = [];
    const routed: number[] = [];
    const overhead: number[] = [];
    for (let i = 0; i < PAIRS; i++) {
      // Alternate which goes first so neither path always meets a warmer cache.
      const [d, o] = i % 2 === 0 ? [await once(GATEWAY, i), await once(ORCHESTRATOR, i)] : (([o2, d2]) => [d2, o2])([await once(ORCHESTRATOR, i), await once(GATEWAY, i)]);
      direct.push(d!);
      routed.push(o!);
      overhead.push(o! - d!);
    }

    const load = async (base: string) => {
      let n = 0;
      const result = await autocannon({
        url: `${base}${PATH}`,
        connections: CONNECTIONS,
        duration: SECONDS,
        requests: [{ method: "POST", body: BODY, setupRequest: (req) => ({ ...req, headers: headerFor(n++) }) }],
      });
      return { requestsPerSecond: result.requests.average, p50: result.latency.p50, p97_5: result.latency.p97_5, p99: result.latency.p99, non2xx: result.non2xx, errors: result.errors };
    };
    const throughput = { orchestrator: await load(ORCHESTRATOR), gateway: await load(GATEWAY) };
    writeResults({ pairs: PAIRS, direct: stats(direct), routed: stats(routed), difference: stats(overhead), added: stats(added), throughput, reportsSeen: await reportsSeen() });
  } finally {
    await processes.stopAll();
  }
}

function writeResults(r: {
  pairs: number;
  direct: ReturnType<typeof stats>;
  routed: ReturnType<typeof stats>;
  difference: ReturnType<typeof stats>;
  added: ReturnType<typeof stats>;
  throughput: Record<string, { requestsPerSecond: number; p50: number; p97_5: number; p99: number; non2xx: number; errors: number }>;
  reportsSeen: number;
}) {
  const dir = path.join(ROOT, "bench", "results");
  fs.mkdirSync(dir, { recursive: true });
  const machine = `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  fs.writeFileSync(path.join(dir, "orchestrator.json"), JSON.stringify({ date: new Date().toISOString(), machine, ...r }, null, 2) + "\n");
  const row = (name: string, s: ReturnType<typeof stats>) => `| ${name} | ${s.p50} | ${s.p95} | ${s.p99} | ${s.mean} |`;
  const t = (name: string, x: (typeof r.throughput)[string]) => `| ${name} | ${Math.round(x.requestsPerSecond)} | ${x.p50} | ${x.p97_5} | ${x.p99} | ${x.non2xx + x.errors} |`;
  const md = [
    "# Orchestrator benchmark",
    "",
    `${new Date().toISOString()} on ${machine}. One chat query (demo model, wink-nlp) signed by the renter; the gateway checks the`,
    "escrow on chain, runs the model and signs a usage report for every request. `npm run bench orchestrator`.",
    "",
    `## Latency added by the orchestrator (${r.pairs} sequential pairs, ms)`,
    "",
    "| path | p50 | p95 | p99 | mean |",
    "|---|---|---|---|---|",
    row("straight to the gateway", r.direct),
    row("through the orchestrator", r.routed),
    row("**added by the orchestrator** (renter's wait − provider time, per request)", r.added),
    row("difference of the pair (includes the provider's variance twice)", r.difference),
    "",
    `Target: added latency under 5 ms at p95 — ${r.added.p95 < 5 ? "met" : "NOT met"} (p95 ${r.added.p95} ms).`,
    "",
    `## Queries per second (autocannon, ${CONNECTIONS} connections, ${SECONDS} s, ${ESCROWS} escrows)`,
    "",
    "| target | queries/s | p50 ms | p97.5 ms | p99 ms | errors |",
    "|---|---|---|---|---|---|",
    t("through one orchestrator process", r.throughput.orchestrator!),
    t("straight to the gateway", r.throughput.gateway!),
    "",
    `Usage reports handed on by the orchestrator during the run: ${r.reportsSeen} (to a counting endpoint standing in for the consensus nodes).`,
    "Everything (chain, gateway, orchestrator, load generator) shares the same cores, so the gateway's throughput bounds the orchestrator's.",
    "",
  ].join("\n");
  fs.writeFileSync(path.join(dir, "orchestrator.md"), md);
  console.log(md);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
