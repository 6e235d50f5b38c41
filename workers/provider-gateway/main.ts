/**
 * `npm run gateway`: a provider gateway in front of the built-in demo model or an OpenAI-compatible model server.
 * Configuration (validated at start; errors name the variable):
 *   PROVIDER_KEY        the listings' provider key (signs usage reports; never leaves this process)
 *   RPC_URL             JSON-RPC endpoint;  NETWORK  deployments/<NETWORK>/ to read addresses from (default localhost)
 *   GATEWAY_LISTINGS    comma-separated listing ids this gateway serves (each must be listed by PROVIDER_KEY)
 *   GATEWAY_PORT        port (default 8801);  GATEWAY_HOST (default 127.0.0.1);  GATEWAY_BODY_LIMIT (bytes, 262144)
 *   GATEWAY_PUBLIC_URL  the base URL orchestrators reach this gateway at, which its identity proofs are bound to
 *                       (default http://GATEWAY_HOST:GATEWAY_PORT; must equal the URL in their PROVIDER_GATEWAYS)
 *   UPSTREAM_URL        optional OpenAI-compatible base URL (e.g. http://127.0.0.1:8000); unset = built-in demo model
 *   UPSTREAM_MODEL, UPSTREAM_API_KEY, UPSTREAM_TIMEOUT_MS   model name (the listing's: a renter's `model` never
 *                       chooses it), bearer key and timeout (default 25000, below the orchestrator's 30000)
 *   DEMO_STREAM_DELAY_MS  pause between the demo model's streamed pieces (default 15)
 *   GATEWAY_STATE_FILE  usage record (default .data/gateway/<provider>/usage.json); every signed report is kept
 *                       beside it in reports.jsonl until the chain has accounted it
 *   CONSENSUS_NODES     required comma-separated node URLs: every report is handed to them until it settles
 *   CREDIT_WINDOW_UNITS units served beyond the renter's latest acknowledgement before a 402 (default 4096)
 *   SETTLE_INTERVAL_MS, REPORT_RESEND_MS, RECEIPT_FALLBACK_MS   settler timing (defaults 5000, 30000, 900000)
 *   LOG_LEVEL
 */
import path from "node:path";
import type { Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { ConfigError, intEnv, optionalEnv, requireEnv, requirePrivateKey, requireUrl } from "../../config/env";
import { connectChain } from "../shared/chain";
import { ReportForwarder, urlList } from "../shared/forwarder";
import { createLogger } from "../shared/logger";
import { runMain, stopOnSignals } from "../shared/process";
import { DemoBackend, UpstreamBackend, type Backend } from "./backend";
import { DEFAULT_CREDIT_WINDOW_UNITS, ProviderGateway } from "./gateway";
import { IdentityResponder } from "./identity";
import { ReportLog } from "./report-log";
import { DEFAULT_SETTLER_OPTIONS, Settler } from "./settler";
import { createGatewayServer, GatewayMetrics } from "./server";
import { UsageBook } from "./usage-book";

function listingIds(): bigint[] {
  const raw = requireEnv("GATEWAY_LISTINGS");
  const ids = raw.split(",").map((s) => s.trim()).filter(Boolean);
  if (ids.length === 0 || ids.some((id) => !/^[1-9]\d{0,9}$/.test(id))) {
    throw new ConfigError("GATEWAY_LISTINGS", `"${raw}" is not a comma-separated list of listing ids`);
  }
  return ids.map(BigInt);
}

function backend(): Backend {
  const upstream = optionalEnv("UPSTREAM_URL");
  if (!upstream) return new DemoBackend(intEnv("DEMO_STREAM_DELAY_MS", 15));
  const url = requireUrl("UPSTREAM_URL").replace(/\/$/, "");
  return new UpstreamBackend(url, optionalEnv("UPSTREAM_MODEL") ?? "default", optionalEnv("UPSTREAM_API_KEY"), intEnv("UPSTREAM_TIMEOUT_MS", 25_000));
}

async function main() {
  const account = privateKeyToAccount(requirePrivateKey("PROVIDER_KEY") as Hex);
  const rpcUrl = requireUrl("RPC_URL");
  const ids = listingIds();
  const port = intEnv("GATEWAY_PORT", 8801);
  const host = optionalEnv("GATEWAY_HOST") ?? "127.0.0.1";
  const network = optionalEnv("NETWORK") ?? "localhost";
  const stateFile = optionalEnv("GATEWAY_STATE_FILE") ?? path.join(".data", "gateway", account.address.toLowerCase(), "usage.json");
  const log = createLogger("gateway", { provider: account.address });
  const model = backend();

  const ctx = await connectChain({ rpcUrl, network, account });
  const listings = await ProviderGateway.loadListings(ctx, ids);
  const nodes = urlList(requireEnv("CONSENSUS_NODES"));
  if (nodes.length === 0) throw new ConfigError("CONSENSUS_NODES", "no consensus node URL given: a gateway's reports must reach the committee");
  const forwarder = new ReportForwarder(nodes, log);
  const book = new UsageBook(stateFile);
  const settler = new Settler(ctx, log, forwarder, book, new ReportLog(path.join(path.dirname(stateFile), "reports.jsonl")), {
    ...DEFAULT_SETTLER_OPTIONS,
    intervalMs: intEnv("SETTLE_INTERVAL_MS", DEFAULT_SETTLER_OPTIONS.intervalMs),
    resendAfterMs: intEnv("REPORT_RESEND_MS", DEFAULT_SETTLER_OPTIONS.resendAfterMs),
    receiptFallbackMs: intEnv("RECEIPT_FALLBACK_MS", DEFAULT_SETTLER_OPTIONS.receiptFallbackMs),
  });
  const creditWindowUnits = BigInt(intEnv("CREDIT_WINDOW_UNITS", Number(DEFAULT_CREDIT_WINDOW_UNITS)));
  const gateway = new ProviderGateway(ctx, model, listings, book, log, { onReport: (r) => settler.record(r) }, { creditWindowUnits });
  settler.start();
  const metrics = new GatewayMetrics();
  metrics.settlement = () => ({ unsettledReports: settler.pending, receiptCharges: settler.receiptCharges.length });
  // Orchestrators check the identity proof against the URL they call: behind a proxy, set the URL they use.
  const publicUrl = optionalEnv("GATEWAY_PUBLIC_URL") ? requireUrl("GATEWAY_PUBLIC_URL") : `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}`;
  const identity = new IdentityResponder(account, ctx.chain.id, ctx.marketplace.address, publicUrl);
  const server = createGatewayServer(gateway, metrics, log, intEnv("GATEWAY_BODY_LIMIT", 262_144), identity);
  server.listen(port, host, () => {
    log.info({ url: `http://${host}:${port}`, listings: ids.map(String), model: model.model, network }, "provider gateway listening");
  });

  stopOnSignals(server, () => settler.stop());
}

runMain("provider gateway", main);
