/**
 * `npm run node:consensus`: one consensus node. Configuration (validated at start, errors name the variable):
 *   CONSENSUS_NODE_KEY   the member's private key (it signs attestations and pays for settlement transactions)
 *   RPC_URL              JSON-RPC endpoint
 *   CONSENSUS_PORT       port to listen on (CONSENSUS_HOST, default 127.0.0.1)
 *   CONSENSUS_PEERS      comma-separated base URLs of the other nodes (may be empty)
 *   NETWORK              deployments/<NETWORK>/ to read addresses from (default localhost)
 *   STATE_DIR            where the signing journal lives (default .data/consensus/<address>)
 *   SUBMIT_STAGGER_MS, GOSSIP_INTERVAL_MS, REPORT_TTL_MS, LOG_LEVEL   tuning (defaults 1000, 1000, 3600000, info)
 */
import path from "node:path";
import { privateKeyToAccount } from "viem/accounts";
import type { Hex } from "viem";
import { ConfigError, intEnv, optionalEnv, requireEnv, requirePrivateKey, requireUrl } from "../../config/env";
import { connectChain } from "../shared/chain";
import { createLogger } from "../shared/logger";
import { runMain, stopOnSignals } from "../shared/process";
import { ConsensusNode } from "./node";
import { createServer } from "./server";

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
      peers: peersEnv(),
      journalFile: path.join(stateDir, "journal.json"),
      submitStaggerMs: intEnv("SUBMIT_STAGGER_MS", 1_000),
      gossipIntervalMs: intEnv("GOSSIP_INTERVAL_MS", 1_000),
      reportTtlMs: intEnv("REPORT_TTL_MS", 3_600_000),
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
