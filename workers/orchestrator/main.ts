/**
 * `npm run orchestrator`: routes renters' signed queries to provider gateways and hands the usage reports to the
 * consensus nodes. Stateless apart from what it measures: run several behind a load balancer if needed.
 * Configuration (validated at start; errors name the variable):
 *   RPC_URL                 JSON-RPC endpoint;  NETWORK  deployments/<NETWORK>/ (default localhost)
 *   PROVIDER_GATEWAYS       comma-separated gateway base URLs to discover listings from
 *   CONSENSUS_NODES         comma-separated consensus node base URLs the reports go to
 *   ORCHESTRATOR_PORT       port (default 8800);  ORCHESTRATOR_HOST (default 127.0.0.1)
 *   ORCHESTRATOR_PROVIDER_TIMEOUT_MS   per provider call (default 30000)
 *   ORCHESTRATOR_REFRESH_MS            gateway discovery interval (default 30000)
 *   ORCHESTRATOR_BODY_LIMIT            bytes (default 262144);  LOG_LEVEL
 * It holds no key: renters sign their own requests.
 */
import { ConfigError, intEnv, optionalEnv, requireEnv, requireUrl } from "../../config/env";
import { connectReader } from "../shared/chain";
import { ReportForwarder, urlList } from "../shared/forwarder";
import { createLogger } from "../shared/logger";
import { runMain, stopOnSignals } from "../shared/process";
import { Orchestrator } from "./orchestrator";
import { ServiceStats } from "./ranking";
import { ProviderRegistry } from "./registry";
import { createOrchestratorServer, OrchestratorMetrics } from "./server";

function urls(name: string): string[] {
  const list = urlList(requireEnv(name));
  for (const u of list) {
    try {
      new URL(u);
    } catch {
      throw new ConfigError(name, `"${u}" is not a URL`);
    }
  }
  return list;
}

async function main() {
  const rpcUrl = requireUrl("RPC_URL");
  const gateways = urls("PROVIDER_GATEWAYS");
  const nodes = urls("CONSENSUS_NODES");
  const port = intEnv("ORCHESTRATOR_PORT", 8800);
  const host = optionalEnv("ORCHESTRATOR_HOST") ?? "127.0.0.1";
  const network = optionalEnv("NETWORK") ?? "localhost";
  const log = createLogger("orchestrator");

  const ctx = await connectReader({ rpcUrl, network });
  const metrics = new OrchestratorMetrics();
  const registry = new ProviderRegistry(ctx, gateways, log);
  await registry.start(intEnv("ORCHESTRATOR_REFRESH_MS", 30_000));
  const stats = new ServiceStats();
  const forwarder = new ReportForwarder(nodes, log, {
    onOutcome: (o) => metrics.reportsForwarded.inc({ outcome: o.accepted > 0 ? "accepted" : o.refused.length ? "refused" : "unreachable" }),
  });
  const orchestrator = new Orchestrator(ctx, registry, stats, forwarder, log, { providerTimeoutMs: intEnv("ORCHESTRATOR_PROVIDER_TIMEOUT_MS", 30_000) }, {
    onAttempt: (a) => metrics.attempts.inc({ outcome: a.outcome }),
  });
  const server = createOrchestratorServer(orchestrator, registry, stats, metrics, log, intEnv("ORCHESTRATOR_BODY_LIMIT", 262_144));
  server.listen(port, host, () => {
    log.info({ url: `http://${host}:${port}`, gateways, nodes, listings: registry.all().map((s) => s.listingId.toString()) }, "orchestrator listening");
  });

  stopOnSignals(server, () => registry.stop());
}

runMain("orchestrator", main);
