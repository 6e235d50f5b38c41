/**
 * `npm run renter` (or the `prsm-renter` bin): the renter proxy, on the renter's own machine. Any OpenAI client works
 * against it by changing only its base URL to http://RENTER_HOST:RENTER_PORT/v1. Configuration (validated at start;
 * errors name the variable):
 *   RENTER_KEY            the renter's private key, or instead
 *   RENTER_KEYSTORE       a V3 keystore file, with RENTER_KEYSTORE_PASSWORD (or RENTER_KEYSTORE_PASSWORD_FILE)
 *                         (the key is never logged or sent anywhere; it signs authorizations, receipts, permits)
 *   RPC_URL               JSON-RPC endpoint;  NETWORK  deployments/<NETWORK>/ to read addresses from (default localhost)
 *   ORCHESTRATOR_URL      the orchestrator that routes the queries
 *   RENTER_PORT           port (default 8790);  RENTER_HOST (default 127.0.0.1);  RENTER_BODY_LIMIT (bytes, 262144)
 *   RENTER_API_KEY        optional local bearer token every /v1 request must carry
 *   RENTER_ESCROWS        comma-separated escrow ids of this renter to pay from
 *   RENTER_BUDGET_FTNS    most FTNS the proxy may deposit into escrows it opens itself (default 0: opens none)
 *   RENTER_ESCROW_DEPOSIT_FTNS  deposit (and spend cap) of each escrow it opens (default 10)
 *   RENTER_ESCROW_DURATION_S    their lifetime (default 86400)
 *   RENTER_QUERY_BUDGET_UNITS   units one query may add at most: what a cheating provider can take per query (4096)
 *   RENTER_LEDGER_FILE    the local ledger (default .data/renter/<address>/ledger.json)
 *   LOG_LEVEL
 */
import fs from "node:fs";
import path from "node:path";
import { parseEther, type Hex } from "viem";
import { ConfigError, intEnv, optionalEnv, requireEnv, requirePrivateKey, requireUrl } from "../../config/env";
import { connectChain, latestTimestamp, readEscrow } from "../shared/chain";
import { fastAccount } from "../shared/fast-account";
import { createLogger } from "../shared/logger";
import { runMain, stopOnSignals } from "../shared/process";
import { RenterClient } from "./client";
import { EscrowPool } from "./escrow-pool";
import { readKeystore } from "./keystore";
import { Ledger } from "./ledger";
import { createRenterProxy, RenterMetrics } from "./proxy";

function renterKey(): Hex {
  const keystore = optionalEnv("RENTER_KEYSTORE");
  if (!keystore) return requirePrivateKey("RENTER_KEY") as Hex;
  const passwordFile = optionalEnv("RENTER_KEYSTORE_PASSWORD_FILE");
  const password = passwordFile ? fs.readFileSync(passwordFile, "utf8").replace(/\r?\n$/, "") : optionalEnv("RENTER_KEYSTORE_PASSWORD");
  if (password === undefined) throw new ConfigError("RENTER_KEYSTORE_PASSWORD", "RENTER_KEYSTORE needs RENTER_KEYSTORE_PASSWORD or RENTER_KEYSTORE_PASSWORD_FILE");
  try {
    return readKeystore(keystore, password);
  } catch (error) {
    throw new ConfigError("RENTER_KEYSTORE", (error as Error).message);
  }
}

function ftnsEnv(name: string, fallback: string): bigint {
  const raw = optionalEnv(name) ?? fallback;
  try {
    return parseEther(raw);
  } catch {
    throw new ConfigError(name, `must be an FTNS amount like 10 or 0.5, got "${raw}"`);
  }
}

async function main() {
  const account = fastAccount(renterKey());
  const rpcUrl = requireUrl("RPC_URL");
  const orchestrator = requireUrl("ORCHESTRATOR_URL").replace(/\/$/, "");
  const network = optionalEnv("NETWORK") ?? "localhost";
  const port = intEnv("RENTER_PORT", 8790);
  const host = optionalEnv("RENTER_HOST") ?? "127.0.0.1";
  const escrowIds = (optionalEnv("RENTER_ESCROWS") ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  if (escrowIds.some((id) => !/^[1-9]\d{0,29}$/.test(id))) throw new ConfigError("RENTER_ESCROWS", "must be comma-separated escrow ids");
  const budgetWei = ftnsEnv("RENTER_BUDGET_FTNS", "0");
  const log = createLogger("renter", { renter: account.address });
  requireEnv("ORCHESTRATOR_URL");

  const ctx = await connectChain({ rpcUrl, network, account });
  const ledger = new Ledger(optionalEnv("RENTER_LEDGER_FILE") ?? path.join(".data", "renter", account.address.toLowerCase(), "ledger.json"));
  const pool = new EscrowPool(ctx, ledger, orchestrator, {
    budgetWei,
    depositWei: ftnsEnv("RENTER_ESCROW_DEPOSIT_FTNS", "10"),
    durationSeconds: intEnv("RENTER_ESCROW_DURATION_S", 86_400),
    autoOpen: budgetWei > 0n,
    network,
  }, log);
  await pool.adopt(escrowIds.map(BigInt));
  const queryBudgetUnits = BigInt(intEnv("RENTER_QUERY_BUDGET_UNITS", 4_096));
  const renter = new RenterClient(account, ctx.domain, orchestrator, {
    budgetUnits: queryBudgetUnits,
    marketplaceDomain: ctx.marketplaceDomain,
    chainNow: () => latestTimestamp(ctx),
    // Read from the chain, never believed from the answer: the unit and the provider of each escrow's listing.
    unitOf: async (id) => (await pool.listing((await readEscrow(ctx, id)).listingId)).unit,
    providerOf: async (id) => (await pool.listing((await readEscrow(ctx, id)).listingId)).provider,
    unexplainedAllowance: queryBudgetUnits,
    onUnexplained: (id, used) => ledger.setUnexplained(id, used),
  });
  for (const receipt of ledger.receipts()) renter.restoreReceipt(receipt);
  for (const e of ledger.all()) if (e.chainAcceptedUnits) renter.restoreUnexplained(BigInt(e.escrowId), BigInt(e.chainAcceptedUnits));

  const server = createRenterProxy(renter, pool, ledger, new RenterMetrics(ledger), log, {
    apiKey: optionalEnv("RENTER_API_KEY"),
    bodyLimit: intEnv("RENTER_BODY_LIMIT", 262_144),
    queryBudgetUnits,
  });
  server.listen(port, host, () => {
    log.info({ url: `http://${host}:${port}/v1`, orchestrator, escrows: ledger.all().length, budgetFtns: budgetWei.toString(), network }, "renter proxy listening (OpenAI base URL)");
  });
  stopOnSignals(server);
}

runMain("renter proxy", main);
