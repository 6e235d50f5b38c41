/**
 * A rented query from the terminal, as a renter:
 *   npx hardhat market:open --listing 9 --deposit 5 --network localhost --from 1
 *   npx hardhat market:query --text "Markets rallied on Monday ..." --network localhost --from 1 [--escrow 3]
 * The renter's key signs an authorization for the request (it never leaves this process), the orchestrator routes
 * it to a provider, the answer and the provider's usage report are checked, and the task waits until the consensus
 * nodes have settled the charge on chain. The renter's latest acknowledgement (a receipt for the usage it checked)
 * is kept in .data/renter/, so the next query starts from it and carries it to the provider.
 */
import fs from "node:fs";
import path from "node:path";
import { task } from "hardhat/config";
import type { HardhatRuntimeEnvironment } from "hardhat/types";
import type { Hex, TypedDataDomain } from "viem";
import { toAccount } from "viem/accounts";
import type { FederationCommittee, ModelMarketplace } from "../typechain-types";
import { Deployments } from "../config/deployments";
import { RenterClient } from "../workers/renter/client";
import { receiptFromJson, receiptToJson, type UsageReceiptJson } from "../workers/shared/receipt";
import { contractAt, signerFor, taskError } from "./support";

/** What the task keeps per escrow between runs. */
interface SavedEscrow {
  receipt?: UsageReceiptJson;
  /** Units the chain accounted that this renter never acknowledged, accepted so far (at most one budget). */
  unexplainedUnits?: string;
}

function stateFile(chainId: bigint, renter: string): string {
  return path.join(".data", "renter", `${chainId}-${renter.toLowerCase()}.json`);
}

/** The renter's open escrows, newest first (scans the most recent 500). */
async function openEscrowsOf(market: ModelMarketplace, renter: string): Promise<bigint[]> {
  const count = await market.escrowCount();
  const ids: bigint[] = [];
  for (let id = count; id >= 1n && id > count - 500n; id--) {
    const e = await market.getEscrow(id);
    if (e.renter.toLowerCase() === renter.toLowerCase() && Number(e.status) === 1) ids.push(id);
  }
  return ids;
}

/** Waits until the escrow has accounted `cumulativeUnits` (usage is ordered by cumulative units alone). */
async function waitForSettlement(hre: HardhatRuntimeEnvironment, market: ModelMarketplace, escrowId: bigint, cumulativeUnits: bigint, timeoutS: number) {
  const deadline = Date.now() + timeoutS * 1000;
  while (Date.now() < deadline) {
    const e = await market.getEscrow(escrowId);
    if (e.units >= cumulativeUnits) return e;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw taskError(`escrow ${escrowId} did not settle ${cumulativeUnits} cumulative units within ${timeoutS} s (are the consensus nodes running?)`);
}

task("market:query", "Send a query to a rented model through the orchestrator and watch its charge settle")
  .addParam("text", "the text to send (as the user message, or the embeddings input)")
  .addOptionalParam("escrow", "escrow id(s) to pay from, comma-separated (default: all your open escrows)", "")
  .addOptionalParam("endpoint", "chat or embeddings", "chat")
  .addOptionalParam("category", "route only to listings of this category", "")
  .addOptionalParam("listing", "route only to this listing", "")
  .addOptionalParam("budget", "most units this query may add to the escrow's usage", "4096")
  .addOptionalParam("orchestrator", "orchestrator URL", process.env.ORCHESTRATOR_URL ?? "http://127.0.0.1:8800")
  .addOptionalParam("wait", "seconds to wait for the charge to settle on chain (0: do not wait)", "60")
  .addOptionalParam("from", "renter account index or address", "")
  .setAction(async (args, hre) => {
    const renter = await signerFor(hre, args.from);
    const market = await contractAt<ModelMarketplace>(hre, Deployments.Marketplace);
    const committee = await contractAt<FederationCommittee>(hre, Deployments.Committee);
    const [, name, version, chainId, verifyingContract] = await committee.eip712Domain();
    const domain: TypedDataDomain = { name, version, chainId: Number(chainId), verifyingContract: verifyingContract as Hex };
    const account = toAccount({
      address: renter.address as Hex,
      signMessage: () => Promise.reject(new Error("not used")),
      signTransaction: () => Promise.reject(new Error("not used")),
      signTypedData: async ({ domain: d, types, message }) => {
        const { EIP712Domain: _, ...rest } = types as Record<string, { name: string; type: string }[]>;
        return (await renter.signTypedData(d as never, rest, message as Record<string, unknown>)) as Hex;
      },
    });

    const escrowIds = args.escrow
      ? String(args.escrow).split(",").map((s: string) => {
          if (!/^\d+$/.test(s.trim())) throw taskError(`--escrow: "${s}" is not an escrow id`);
          return BigInt(s.trim());
        })
      : await openEscrowsOf(market, renter.address);
    if (escrowIds.length === 0) throw taskError(`${renter.address} has no open escrow: open one with market:open --listing <id> --deposit <FTNS>`);
    if (!/^\d+$/.test(args.budget)) throw taskError(`--budget: "${args.budget}" is not a whole number of units`);

    const m = await market.eip712Domain();
    const marketplaceDomain: TypedDataDomain = { name: m[1], version: m[2], chainId: Number(m[3]), verifyingContract: m[4] as Hex };
    const client = new RenterClient(account, domain, String(args.orchestrator).replace(/\/$/, ""), {
      budgetUnits: BigInt(args.budget),
      chainNow: async () => BigInt((await hre.ethers.provider.getBlock("latest"))!.timestamp),
      marketplaceDomain,
      // The billing unit from the chain, not from the provider's answer.
      unitOf: async (escrowId) => Number((await market.getListing((await market.getEscrow(escrowId)).listingId)).unit),
    });
    // The renter's latest acknowledgement per escrow, kept between runs: the provider serves an escrow only while
    // what it served stays within its credit window of the renter's acknowledgement, which the next query carries.
    // Usage the chain accounted beyond it (an answer this renter never received) is accepted once, up to one budget
    // per escrow over the escrow's life; an escrow past that is no longer offered.
    const file = stateFile(chainId, renter.address);
    const saved: Record<string, SavedEscrow> = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : {};
    const budget = BigInt(args.budget);
    const offered: bigint[] = [];
    for (const id of escrowIds) {
      const entry = typeof saved[id.toString()] === "object" ? saved[id.toString()]! : {};
      if (entry.receipt) client.restoreReceipt(receiptFromJson(entry.receipt));
      const unexplained = BigInt(entry.unexplainedUnits ?? "0");
      const accepted = client.acceptChainUsage(id, (await market.getEscrow(id)).units, budget - unexplained > 0n ? budget - unexplained : 0n);
      if (accepted === undefined) {
        console.warn(`escrow ${id}: its provider charged more than one budget this renter never acknowledged; not offering it (dispute the charges or close it)`);
        continue;
      }
      saved[id.toString()] = { ...entry, unexplainedUnits: (unexplained + accepted).toString() };
      offered.push(id);
    }
    if (offered.length === 0) throw taskError("no escrow can be offered (see the warnings above)");
    escrowIds.splice(0, escrowIds.length, ...offered);

    const chat = args.endpoint === "chat";
    if (!chat && args.endpoint !== "embeddings") throw taskError(`--endpoint must be chat or embeddings`);
    let result;
    try {
      result = chat
        ? await client.query("/v1/chat/completions", { messages: [{ role: "user", content: args.text }] }, {
            escrowIds,
            category: args.category || undefined,
            listingId: args.listing ? BigInt(args.listing) : undefined,
          })
        : await client.query("/v1/embeddings", { input: args.text }, { escrowIds, category: args.category || undefined, listingId: args.listing ? BigInt(args.listing) : undefined });
    } catch (error) {
      throw taskError(`query failed: ${(error as Error).message} (is the orchestrator at ${args.orchestrator} running?)`);
    }
    if (result.status !== 200 || !result.report) {
      throw taskError(`the orchestrator answered ${result.status}: ${result.json.error?.code ?? ""} ${result.json.error?.message ?? result.body.slice(0, 300)}`);
    }
    const report = result.report;
    const receipt = client.lastReceipt(report.escrowId);
    if (receipt) saved[report.escrowId.toString()] = { ...saved[report.escrowId.toString()], receipt: receiptToJson(receipt) };
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify(saved, null, 2));

    if (chat) console.log(result.json.choices?.[0]?.message?.content ?? result.body);
    else console.log(`embedding of ${result.json.data?.[0]?.embedding?.length} dimensions`);
    console.log(`\nlisting ${result.listingId}, escrow ${report.escrowId}: ${result.units} units (cumulative ${report.cumulativeUnits}, report #${report.sequence})`);
    const waitS = Number(args.wait);
    if (!(waitS > 0)) return result;
    console.log("waiting for the consensus nodes to settle the charge on chain ...");
    const escrow = await waitForSettlement(hre, market, report.escrowId, report.cumulativeUnits, waitS);
    console.log(`settled: escrow ${report.escrowId} charged ${hre.ethers.formatEther(escrow.charged)} FTNS in total (${escrow.units} units accounted)`);
    return result;
  });
