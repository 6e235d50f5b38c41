/**
 * Test double for a Byzantine committee member: for every report it hears of, it signs the honest content AND a
 * copy with five times the units, and pushes both to its peers, hoping the inflated one settles. It uses the real
 * signing code; only the behaviour is dishonest. Configured like a consensus node (CONSENSUS_NODE_KEY, RPC_URL,
 * CONSENSUS_PORT, CONSENSUS_PEERS, NETWORK).
 */
import http from "node:http";
import type { Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { connectChain, readCommitteeEpoch } from "../../workers/shared/chain";
import { readJson, sendJson } from "../../workers/shared/http";
import { parseReport, reportToJson, signAttestation, slotKey } from "../../workers/shared/usage-report";

async function main() {
  const account = privateKeyToAccount(process.env.CONSENSUS_NODE_KEY as Hex);
  const ctx = await connectChain({ rpcUrl: process.env.RPC_URL!, network: process.env.NETWORK ?? "e2e", account });
  const peers = (process.env.CONSENSUS_PEERS ?? "").split(",").filter(Boolean);
  const seen = new Set<string>();
  const push = (body: unknown) =>
    peers.forEach((peer) =>
      fetch(`${peer}/gossip`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }).catch(() => undefined),
    );

  const server = http.createServer(async (req, res) => {
    if (req.method === "GET" && req.url === "/health") return sendJson(res, 200, { status: "ok", address: account.address, liar: true });
    try {
      const body = (await readJson(req, 65_536)) as { report: unknown };
      const honest = parseReport(body.report);
      if (!seen.has(slotKey(honest))) {
        seen.add(slotKey(honest));
        const { epoch } = await readCommitteeEpoch(ctx);
        const inflated = { ...honest, cumulativeUnits: honest.cumulativeUnits * 5n };
        const honestSig = await signAttestation(account, ctx.domain, honest, epoch, ctx.marketplace.address);
        const inflatedSig = await signAttestation(account, ctx.domain, inflated, epoch, ctx.marketplace.address);
        push({ report: reportToJson(inflated), attestations: [{ signer: account.address, epoch: epoch.toString(), signature: inflatedSig }] });
        push({ report: reportToJson(honest), attestations: [{ signer: account.address, epoch: epoch.toString(), signature: honestSig }] });
      }
      sendJson(res, 200, { ok: true });
    } catch (error) {
      sendJson(res, 400, { error: { code: "bad-request", message: (error as Error).message } });
    }
  });
  server.listen(Number(process.env.CONSENSUS_PORT), "127.0.0.1");
  process.on("SIGTERM", () => server.close(() => process.exit(0)));
}

void main();
