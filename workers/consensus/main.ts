/**
 * `npm run node:consensus`: one consensus node. Configuration (validated at start, errors name the variable):
 *   CONSENSUS_NODE_KEY   the member's private key (it signs attestations and pays for settlement transactions)
 *   RPC_URL              JSON-RPC endpoint
 *   CONSENSUS_PORT       port to listen on (CONSENSUS_HOST, default 127.0.0.1)
 *   CONSENSUS_PEERS      comma-separated base URLs of the other nodes (may be empty)
 *   NETWORK              deployments/<NETWORK>/ to read addresses from (default localhost)
 *   STATE_DIR            where the node's store (node.sqlite) lives (default .data/consensus/<address>)
 *   SETTLE_MIN_VALUE_WEI, SETTLE_MAX_AGE_MS, SETTLE_EXPIRY_MARGIN_S, SETTLE_CAP_PER_MILLE   the settlement policy
 *                        (defaults 1 FTNS, 10 min, 600 s, 900; see policy.ts and docs/operations.md)
 *   SUBMIT_STAGGER_MS, TICK_MS, MAX_PENDING_ESCROWS, MAX_BATCH_ENTRIES, LOG_LEVEL   tuning (defaults 2000, 1000,
 *                        100000, 100, info)
 */
import path from "node:path";
import { privateKeyToAccount } from "viem/accounts";
import type { Hex } from "viem";
import { ConfigError, intEnv, optionalEnv, requireEnv, requirePrivateKey, requireUrl } from "../../config/env";
import { connectChain } from "../shared/chain";
import { createLogger } from "../shared/logger";
import { runMain, stopOnSignals } from "../shared/process";
import { ConsensusNode, DEFAULT_NODE_OPTIONS } from "./node";
import { DEFAULT_POLICY } from "./policy";
import { createServer } from "./server";

function bigintEnv(name: string, fallback: bigint): bigint {
  const raw = optionalEnv(name);
  if (raw === undefined) return fallback;
  if (!/^\d{1,40}$/.test(raw)) throw new ConfigError(name, `"${raw}" is not a non-negative integer`);
  return BigInt(raw);
}

function peersEnv(): string[] {
  const raw = optionalEnv("CONSENSUS_PEERS") ?? "";
  return raw
    .split(",")
    .map((p) => p.trim().replace(/\/$/, ""))
    .filter(Boolean)
    .map((p) => {
      try {
        new URL(p);
      } catch {
        throw new ConfigError("CONSENSUS_PEERS", `"${p}" is not a URL`);
      }
      return p;
    });
}

async function main() {
  const account = privateKeyToAccount(requirePrivateKey("CONSENSUS_NODE_KEY") as Hex);
  const rpcUrl = requireUrl("RPC_URL");
  const port = intEnv("CONSENSUS_PORT", Number.NaN);
  if (Number.isNaN(port)) requireEnv("CONSENSUS_PORT");
  const host = optionalEnv("CONSENSUS_HOST") ?? "127.0.0.1";
  const network = optionalEnv("NETWORK") ?? "localhost";
  const stateDir = optionalEnv("STATE_DIR") ?? path.join(".data", "consensus", account.address.toLowerCase());
  const log = createLogger("consensus", { node: account.address });

  const ctx = await connectChain({ rpcUrl, network, account });
  const node = new ConsensusNode(
    ctx,
    {
      ...DEFAULT_NODE_OPTIONS,
      peers: peersEnv(),
      stateFile: path.join(stateDir, "node.sqlite"),
      submitStaggerMs: intEnv("SUBMIT_STAGGER_MS", DEFAULT_NODE_OPTIONS.submitStaggerMs),
      tickMs: intEnv("TICK_MS", DEFAULT_NODE_OPTIONS.tickMs),
      maxPending: intEnv("MAX_PENDING_ESCROWS", DEFAULT_NODE_OPTIONS.maxPending),
      maxBatchEntries: intEnv("MAX_BATCH_ENTRIES", DEFAULT_NODE_OPTIONS.maxBatchEntries),
      policy: {
        minValue: bigintEnv("SETTLE_MIN_VALUE_WEI", DEFAULT_POLICY.minValue),
        maxAgeMs: intEnv("SETTLE_MAX_AGE_MS", DEFAULT_POLICY.maxAgeMs),
        expiryMarginSeconds: BigInt(intEnv("SETTLE_EXPIRY_MARGIN_S", Number(DEFAULT_POLICY.expiryMarginSeconds))),
        capPerMille: BigInt(intEnv("SETTLE_CAP_PER_MILLE", Number(DEFAULT_POLICY.capPerMille))),
      },
    },
    log,
  );
  await node.start();
  const server = createServer(node, log);
  server.listen(port, host, () => {
    const address = server.address();
    const actualPort = typeof address === "object" && address ? address.port : port;
    log.info({ url: `http://${host}:${actualPort}`, epoch: node.epoch()?.epoch.toString(), network }, "consensus node listening");
  });

  stopOnSignals(server, () => node.stop());
}

runMain("consensus node", main);
