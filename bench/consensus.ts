/**
 * Consensus benchmark: four real consensus-node processes against a Hardhat node (automine: block time zero, so
 * what is measured is the nodes' work plus the chain processing settlement transactions), under the nodes'
 * DEFAULT settlement policy (workers/consensus/policy.ts: an escrow is settled once its unsettled usage is worth
 * 1 FTNS, or after 10 min).
 *
 * The load is the launch models' traffic: ESCROWS renters each send QUERIES queries of the demo query's size
 * (54 units at the demo listing's price; by default just enough queries for the last one to pass 1 FTNS). Measured:
 *   intake       reports accepted per second by the committee (BENCH_FANOUT: each report to one node, or to all)
 *   settlement   escrows settled per second, and the time from an escrow's first report to its settlement
 *   cost         gas of every settlement transaction, per escrow and per query, next to the value it paid, at the
 *                stated gas price, POL price and FTNS price
 *
 * Reports are signed before the clock starts. Writes bench/results/consensus.md and consensus.json.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseAbiItem, type Hex } from "viem";
import { deployment, Processes, startChain, startConsensusNode, type ConsensusNodeProcess } from "../test/e2e/harness";
import { committeeDomain, escrowState, openEscrow, providerReport } from "../test/e2e/usage";
import { post } from "../workers/shared/http-client";
import { homeCopies, homeOrder } from "../workers/shared/forwarder";
import { decodeApplied } from "../workers/shared/batch";

const CHAIN_PORT = 8645;
const PORTS = [8711, 8712, 8713, 8714];
const NODE_ACCOUNTS = [14, 15, 16, 17];
const ESCROWS = Number(process.env.BENCH_ESCROWS ?? 200);
const UNITS_PER_QUERY = 54n;
/** The default policy's value threshold (workers/consensus/policy.ts). */
const THRESHOLD_WEI = 10n ** 18n;
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 48);
/**
 * Which nodes get each report:
 *   "gateway" (default)  its escrow's home nodes, f+1 = 2 of 4, as the gateway's forwarder sends a fresh report
 *                        (workers/shared/forwarder.ts); the others check it in a proposal
 *   "one"                its escrow's home node only (the committee's raw intake capacity)
 *   "all"                all four nodes (each node checks each report: a single node's capacity)
 */
const FANOUT = process.env.BENCH_FANOUT === "all" || process.env.BENCH_FANOUT === "one" ? process.env.BENCH_FANOUT : "gateway";
const DEPOSIT = 5n * 10n ** 18n;
/** Assumptions for the cost table (stated in the output). */
const GAS_PRICE_GWEI = 30;
const POL_USD = 0.25;
const FTNS_USD = 0.1;

const FANOUT_TEXT: Record<string, string> = {
  gateway: "each report sent to its escrow's two home nodes (f+1), as a gateway's forwarder sends a fresh report; the other two check it in a proposal",
  one: "each report sent to its escrow's home node only; the other three check it in a proposal",
  all: "every report sent to all four nodes (each node checks each report)",
};

const BATCH_EVENT = parseAbiItem("event UsageBatchCharged(uint256 indexed batchId, uint256 disputableUntil, bytes32[] applied)");

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];

async function main() {
  const processes = new Processes();
  try {
    const chain = await startChain(processes, CHAIN_PORT);
    const domain = await committeeDomain(chain);
    const nodes: ConsensusNodeProcess[] = await Promise.all(
      PORTS.map((port, i) =>
        startConsensusNode(processes, chain, {
          index: NODE_ACCOUNTS[i],
          port,
          peers: PORTS.filter((p) => p !== port).map((p) => `http://127.0.0.1:${p}`),
          stateDir: path.join(chain.logDir, `state-${i}`),
          // The harness's test settings are replaced by the production defaults (stagger 2 s, tick 1 s, 1 FTNS / 10 min).
          env: { LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "warn", SUBMIT_STAGGER_MS: "2000", TICK_MS: "1000", SETTLE_MAX_AGE_MS: "600000",
            // e.g. BENCH_NODE_OPTIONS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the nodes
            ...(process.env.BENCH_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS } : {}) },
        }),
      ),
    );

    const escrows: bigint[] = [await openEscrow(chain, DEPOSIT, DEPOSIT * BigInt(ESCROWS))];
    while (escrows.length < ESCROWS) escrows.push(await openEscrow(chain, DEPOSIT, undefined));
    // Each escrow's last query is the one that takes its unsettled value past the threshold, so every escrow settles
    // under the value rule (with more queries, the ones after a settlement would wait for the 10 min age rule).
    const price = (await escrowState(chain, escrows[0])).pricePerUnit;
    const QUERIES = Number(process.env.BENCH_QUERIES ?? (THRESHOLD_WEI + UNITS_PER_QUERY * price - 1n) / (UNITS_PER_QUERY * price));
    process.stdout.write(`opened ${ESCROWS} escrows; signing ${ESCROWS * QUERIES} reports...\n`);
    // Round-robin over escrows, as concurrent renters would send them; each escrow's reports in sequence order.
    const reports: { escrowId: bigint; body: string }[] = [];
    for (let q = 1; q <= QUERIES; q++) {
      for (const escrowId of escrows) {
        const report = await providerReport(domain, escrowId, UNITS_PER_QUERY * BigInt(q), BigInt(q));
        reports.push({ escrowId, body: JSON.stringify({ report }) });
      }
    }
    const startBlock = await chain.publicClient.getBlockNumber();

    const firstReportAt = new Map<string, number>();
    let next = 0;
    let refused = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < reports.length) {
          const r = reports[next++];
          if (!firstReportAt.has(r.escrowId.toString())) firstReportAt.set(r.escrowId.toString(), performance.now());
          // The keep-alive client the gateway's forwarder uses (undici's fetch costs the bench process more CPU).
          const ring = homeOrder(nodes, r.escrowId);
          const targets = FANOUT === "all" ? nodes : ring.slice(0, FANOUT === "one" ? 1 : homeCopies(nodes.length));
          // One retry: a keep-alive socket the server closed at the same moment resets (the gateway's forwarder retries too).
          const send = (n: ConsensusNodeProcess) =>
            post(`${n.url}/reports`, r.body, { "content-type": "application/json" }, 30_000).catch(() => post(`${n.url}/reports`, r.body, { "content-type": "application/json" }, 30_000));
          const replies = await Promise.all(targets.map(send));
          if (replies.some((x) => x.status !== 200)) refused++;
        }
      }),
    );
    const intakeSeconds = (performance.now() - t0) / 1000;

    // Settlement: every escrow passed the value threshold; wait until the chain accounted all of it.
    const market = deployment("ModelMarketplace");
    const settledAt = new Map<string, number>();
    const finalUnits = UNITS_PER_QUERY * BigInt(QUERIES);
    const deadline = Date.now() + 600_000;
    while (settledAt.size < escrows.length && Date.now() < deadline) {
      await Promise.all(
        escrows.filter((id) => !settledAt.has(id.toString())).map(async (id) => {
          const e = (await chain.publicClient.readContract({ ...market, abi: market.abi as never, functionName: "getEscrow", args: [id] })) as { units: bigint };
          if (e.units >= finalUnits) settledAt.set(id.toString(), performance.now());
        }),
      );
      await new Promise((r) => setTimeout(r, 250));
    }
    if (settledAt.size < escrows.length) throw new Error(`${escrows.length - settledAt.size} escrows not settled within 10 min`);
    const settleSeconds = (Math.max(...settledAt.values()) - t0) / 1000;

    // Cost: every settlement transaction in the run (batches and single-report charges), from the chain.
    const [batchLogs, chargeLogs] = await Promise.all([
      chain.publicClient.getLogs({ address: market.address, event: BATCH_EVENT, fromBlock: startBlock }),
      chain.publicClient.getContractEvents({ address: market.address, abi: market.abi as never, eventName: "UsageCharged", fromBlock: startBlock }) as unknown as Promise<
        { transactionHash: Hex; args: { attested: boolean; amount: bigint } }[]
      >,
    ]);
    const txs = new Set<Hex>([...batchLogs.map((l) => l.transactionHash!), ...chargeLogs.filter((l) => l.args.attested).map((l) => l.transactionHash!)]);
    let gas = 0n;
    for (const hash of txs) gas += (await chain.publicClient.getTransactionReceipt({ hash })).gasUsed;
    const entries = batchLogs.reduce((n, l) => n + l.args.applied!.length, 0) + chargeLogs.filter((l) => l.args.attested).length;
    const value = batchLogs.reduce((v, l) => v + l.args.applied!.reduce((s, w) => s + decodeApplied(w).amount, 0n), 0n) +
      chargeLogs.filter((l) => l.args.attested).reduce((v, l) => v + l.args.amount!, 0n);
    const queries = ESCROWS * QUERIES;
    const gasUsd = (Number(gas) * GAS_PRICE_GWEI * 1e-9) * POL_USD;
    const valueUsd = (Number(value) / 1e18) * FTNS_USD;
    const latencies = escrows.map((id) => (settledAt.get(id.toString())! - firstReportAt.get(id.toString())!) / 1000).sort((a, b) => a - b);

    const metrics = await (await fetch(`${nodes[0].url}/metrics`)).text();
    const rss = Number(metrics.split("\n").find((l) => l.startsWith("prsm_node_process_resident_memory_bytes "))?.split(" ")[1] ?? 0);
    const result = {
      date: new Date().toISOString(),
      machine: `${process.platform} ${process.arch}, ${os.cpus().length} cores, Node ${process.version}`,
      nodes: nodes.length,
      quorum: 3,
      load: { fanout: FANOUT, escrows: ESCROWS, queriesPerEscrow: QUERIES, unitsPerQuery: Number(UNITS_PER_QUERY), concurrency: CONCURRENCY, refused },
      intake: { reports: reports.length, seconds: +intakeSeconds.toFixed(2), perSecond: +(reports.length / intakeSeconds).toFixed(1) },
      settlement: {
        transactions: txs.size,
        entries,
        seconds: +settleSeconds.toFixed(2),
        escrowsPerSecond: +(escrows.length / settleSeconds).toFixed(1),
        latencySeconds: { p50: +percentile(latencies, 50).toFixed(2), p95: +percentile(latencies, 95).toFixed(2), max: +latencies[latencies.length - 1].toFixed(2) },
      },
      cost: {
        gas: gas.toString(),
        gasPerEscrow: Math.round(Number(gas) / entries),
        gasPerQuery: +(Number(gas) / queries).toFixed(1),
        valueFtns: +(Number(value) / 1e18).toFixed(4),
        gasUsd: +gasUsd.toFixed(6),
        valueUsd: +valueUsd.toFixed(4),
        overheadPercent: +((gasUsd / valueUsd) * 100).toFixed(3),
        assumptions: { gasPriceGwei: GAS_PRICE_GWEI, polUsd: POL_USD, ftnsUsd: FTNS_USD },
      },
      node0RssMiB: Math.round(rss / 2 ** 20),
    };
    const met = (ok: boolean) => (ok ? "met" : "MISSED");
    const md = [
      "# Consensus benchmark",
      "",
      `Generated by \`npm run bench consensus\` on ${result.date.slice(0, 10)} (${result.machine}). Four consensus-node processes, ` +
        "quorum 3 of 4, against a Hardhat node with automine, under the nodes' default settlement policy (an escrow settles " +
        "once its unsettled usage is worth 1 FTNS, or after 10 min). The bench process signs every report before the clock " +
        "starts and shares the two cores with the nodes and the chain.",
      "",
      `Load: ${ESCROWS} escrows x ${QUERIES} queries of ${UNITS_PER_QUERY} units (the demo query) at the demo listing's price, ` +
        `${FANOUT_TEXT[FANOUT]}, ${CONCURRENCY} in flight (BENCH_FANOUT=${FANOUT}). Refused: ${refused}.`,
      "",
      "| measure | value |",
      "|---|---|",
      `| reports accepted by the committee (${FANOUT === "all" ? "each by all four nodes" : FANOUT === "one" ? "each by its home node" : "each by its two home nodes"}) | ${result.intake.perSecond}/s (${reports.length} in ${result.intake.seconds} s; target >= 500/s: ${met(result.intake.perSecond >= 500)}) |`,
      `| settlement transactions | ${txs.size} for ${entries} escrow settlements |`,
      `| escrows settled per second (first report -> last settlement) | ${result.settlement.escrowsPerSecond}/s |`,
      `| escrow's first report -> its settlement, p50 / p95 / max | ${result.settlement.latencySeconds.p50} / ${result.settlement.latencySeconds.p95} / ${result.settlement.latencySeconds.max} s |`,
      `| gas per escrow settlement (amortized over its batch) | ${result.cost.gasPerEscrow} |`,
      `| gas per query | ${result.cost.gasPerQuery} |`,
      `| node 0 memory after the run (RSS) | ${result.node0RssMiB} MiB |`,
      "",
      "## Settlement cost next to the value it paid",
      "",
      `Assumptions: gas price ${GAS_PRICE_GWEI} gwei, POL = $${POL_USD}, FTNS = $${FTNS_USD} (the launch models' documented rate).`,
      "",
      "| gas spent | gas cost | value settled | value | overhead |",
      "|---:|---:|---:|---:|---:|",
      `| ${gas} | $${result.cost.gasUsd} | ${result.cost.valueFtns} FTNS | $${result.cost.valueUsd} | ${result.cost.overheadPercent}% (target <= 1%: ${met(result.cost.overheadPercent <= 1)}) |`,
      "",
      "The latency is the time for an escrow's usage to reach the 1 FTNS threshold at this load plus the proposal and the " +
        "transaction; with a slow trickle of queries it is bounded by the 10 min age limit instead.",
      "",
    ].join("\n");
    const dir = path.join(__dirname, "results");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "consensus.json"), JSON.stringify(result, null, 2) + "\n");
    fs.writeFileSync(path.join(dir, "consensus.md"), md);
    process.stdout.write(md);
  } finally {
    await processes.stopAll();
  }
}

main().then(
  () => process.exit(0),
  (error: Error) => {
    process.stderr.write(`consensus benchmark failed: ${error.stack ?? error.message}\n`);
    process.exit(1);
  },
);
