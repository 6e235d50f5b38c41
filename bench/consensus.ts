/**
 * Consensus benchmark: four real consensus-node processes against a Hardhat node (automine, so block time is zero
 * and what is measured is the nodes' own work plus the chain's processing of the settlement transaction).
 *
 *   latency     a provider's report POSTed to one node -> its attested charge on chain (UsageCharged with the report's
 *               sequence; sequential runs)
 *   throughput  many reports for different escrows POSTed at once -> all settled; settlements per second
 *
 * Writes bench/results/consensus.md and consensus.json. Run with `npm run bench` (or `node --import tsx bench/consensus.ts`).
 */
import fs from "node:fs";
import { createPublicClient, webSocket } from "viem";
import { hardhat } from "viem/chains";
import path from "node:path";
import { deployment, Processes, startChain, startConsensusNode, type Chain, type ConsensusNodeProcess } from "../test/e2e/harness";
import { committeeDomain, openEscrow, postJson, providerReport } from "../test/e2e/usage";

const CHAIN_PORT = 8645;
const PORTS = [8711, 8712, 8713, 8714];
const NODE_ACCOUNTS = [14, 15, 16, 17];
const LATENCY_RUNS = Number(process.env.BENCH_LATENCY_RUNS ?? 40);
const THROUGHPUT_ESCROWS = Number(process.env.BENCH_THROUGHPUT_ESCROWS ?? 100);
const THROUGHPUT_ROUNDS = 2;
const DEPOSIT = 10n ** 20n;

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

/**
 * Settlements as they happen, from a log subscription over the node's WebSocket (eth_subscribe): the benchmark
 * neither polls the single-threaded Hardhat node nor adds a polling interval to what it measures.
 */
class ChargeWatcher {
  private readonly seen = new Map<string, number>();
  private readonly waiters = new Map<string, () => void>();
  private readonly unwatch: () => void;

  constructor(chain: Chain) {
    const market = deployment("ModelMarketplace");
    const client = createPublicClient({ chain: hardhat, transport: webSocket(chain.rpcUrl.replace(/^http/, "ws")) });
    this.unwatch = client.watchContractEvent({
      address: market.address,
      abi: market.abi as never,
      eventName: "UsageCharged" as never,
      onLogs: (logs) => {
        for (const log of logs as unknown as { args: { escrowId: bigint; sequence: bigint } }[]) {
          const key = `${log.args.escrowId}:${BigInt(log.args.sequence)}`;
          this.seen.set(key, performance.now());
          this.waiters.get(key)?.();
        }
      },
    });
  }

  /** Resolves with the time the charge was seen (performance.now()). */
  async charged(escrowId: bigint, sequence: bigint, timeoutMs = 120_000): Promise<number> {
    const key = `${escrowId}:${sequence}`;
    if (!this.seen.has(key)) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${key} not settled within ${timeoutMs} ms`)), timeoutMs);
        this.waiters.set(key, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.seen.get(key)!;
  }

  stop(): void {
    this.unwatch();
  }
}

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
          env: { LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "warn", GOSSIP_INTERVAL_MS: "1000" },
        }),
      ),
    );

    // Escrows are opened before any clock starts: one approval covers them all.
    const total = LATENCY_RUNS + THROUGHPUT_ESCROWS;
    const escrows: bigint[] = [await openEscrow(chain, DEPOSIT, DEPOSIT * BigInt(total))];
    while (escrows.length < total) escrows.push(await openEscrow(chain, DEPOSIT, undefined));

    const watcher = new ChargeWatcher(chain);
    // Latency: one report at a time, each to the next node in turn.
    const latencies: number[] = [];
    for (let i = 0; i < LATENCY_RUNS; i++) {
      const escrowId = escrows[i];
      const report = await providerReport(domain, escrowId, 100n, 1n);
      const t0 = performance.now();
      const reply = await postJson(nodes[i % nodes.length].url, "/reports", { report });
      if (reply.status !== 200) throw new Error(`report refused: ${JSON.stringify(reply.json)}`);
      latencies.push((await watcher.charged(escrowId, 1n)) - t0);
    }
    latencies.sort((a, b) => a - b);

    // Throughput: every escrow's next report at once, spread over the nodes; two rounds (sequence 1 then 2, each
    // for 100 more cumulative units: usage is ordered by cumulative units, so a round must add new units).
    const batch = escrows.slice(LATENCY_RUNS);
    const t0 = performance.now();
    for (let round = 1; round <= THROUGHPUT_ROUNDS; round++) {
      const sequence = BigInt(round);
      const reports = await Promise.all(batch.map((id) => providerReport(domain, id, 100n * sequence, sequence)));
      const replies = await Promise.all(reports.map((report, i) => postJson(nodes[i % nodes.length].url, "/reports", { report })));
      const refused = replies.find((r) => r.status !== 200);
      if (refused) throw new Error(`report refused: ${JSON.stringify(refused.json)}`);
      await Promise.all(batch.map((id) => watcher.charged(id, sequence)));
    }
    const seconds = (performance.now() - t0) / 1000;
    const settlements = batch.length * THROUGHPUT_ROUNDS;

    watcher.stop();
    const result = {
      date: new Date().toISOString(),
      machine: `${process.platform} ${process.arch}, ${(await import("node:os")).cpus().length} cores, Node ${process.version}`,
      nodes: nodes.length,
      quorum: 3,
      latencyMs: {
        runs: LATENCY_RUNS,
        p50: +percentile(latencies, 50).toFixed(1),
        p95: +percentile(latencies, 95).toFixed(1),
        max: +latencies[latencies.length - 1].toFixed(1),
      },
      throughput: { settlements, seconds: +seconds.toFixed(2), perSecond: +(settlements / seconds).toFixed(1) },
    };
    const target = result.latencyMs.p95 < 1000 ? "met" : "MISSED";
    const md = [
      "# Consensus benchmark",
      "",
      `Generated by \`npm run bench\` on ${result.date.slice(0, 10)} (${result.machine}). Four consensus-node processes, quorum 3 of 4, ` +
        "against a Hardhat node with automine (block time zero: the figures are the nodes' work plus the chain processing " +
        "the settlement transaction).",
      "",
      "| measure | value |",
      "|---|---|",
      `| report -> settlement, p50 (${LATENCY_RUNS} sequential reports) | ${result.latencyMs.p50} ms |`,
      `| report -> settlement, p95 | ${result.latencyMs.p95} ms (target < 1000 ms: ${target}) |`,
      `| report -> settlement, max | ${result.latencyMs.max} ms |`,
      `| settlements sustained (${THROUGHPUT_ESCROWS} escrows x ${THROUGHPUT_ROUNDS} rounds, concurrent) | ${result.throughput.perSecond}/s (${settlements} in ${result.throughput.seconds} s) |`,
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
  () => process.exit(0), // the WebSocket client would otherwise keep reconnecting to the stopped chain
  (error: Error) => {
    process.stderr.write(`consensus benchmark failed: ${error.stack ?? error.message}\n`);
    process.exit(1);
  },
);
