/**
 * Test double for a Byzantine committee member: for every report it hears of (from a gateway or in a peer's proposal), it proposes to its peers a copy with
 * five times the units AND the honest report, both signed by it, hoping the inflated one settles; it also signs
 * whatever its peers propose. It uses the real signing code; only the behaviour is dishonest. Configured like a
 * consensus node (CONSENSUS_NODE_KEY, RPC_URL, CONSENSUS_PORT, CONSENSUS_PEERS, NETWORK).
 */
import http from "node:http";
import type { Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { connectChain, readCommitteeEpoch } from "../../workers/shared/chain";
import { readJson, sendJson } from "../../workers/shared/http";
import { parseReport, type UsageReport } from "../../workers/shared/usage-report";
import { parseProposal, proposalToJson, signable, signSignable } from "../../workers/consensus/attestation";

async function main() {
  const account = privateKeyToAccount(process.env.CONSENSUS_NODE_KEY as Hex);
  const ctx = await connectChain({ rpcUrl: process.env.RPC_URL!, network: process.env.NETWORK ?? "e2e", account });
  const peers = (process.env.CONSENSUS_PEERS ?? "").split(",").filter(Boolean);
  const seen = new Set<string>();
  const propose = async (report: UsageReport) => {
    const { epoch } = await readCommitteeEpoch(ctx);
    const s = signable([report]);
    const signature = await signSignable(ctx, s, epoch);
    const body = JSON.stringify(proposalToJson({ kind: s.kind, epoch, proposer: account.address, signature, reports: [report] }));
    await Promise.all(
      peers.map((peer) => fetch(`${peer}/batches`, { method: "POST", headers: { "content-type": "application/json" }, body }).catch(() => undefined)),
    );
  };

  /** Once per position: an inflated copy, then the honest report, each signed and proposed to every peer. */
  const lie = async (honest: UsageReport) => {
    const key = `${honest.escrowId}:${honest.sequence}`;
    if (seen.has(key)) return;
    seen.add(key);
    await propose({ ...honest, cumulativeUnits: honest.cumulativeUnits * 5n }).catch(() => undefined);
    await propose(honest).catch(() => undefined);
  };

  const server = http.createServer(async (req, res) => {
    if (req.method === "GET" && req.url === "/health") return sendJson(res, 200, { status: "ok", address: account.address, liar: true });
    try {
      const body = (await readJson(req, 1024 * 1024)) as { report?: unknown };
      if (req.url === "/batches") {
        const proposal = parseProposal(body);
        for (const report of proposal.reports) void lie(report);
        const signature = await signSignable(ctx, signable(proposal.reports), proposal.epoch);
        return sendJson(res, 200, { signer: account.address, epoch: proposal.epoch.toString(), signature });
      }
      await lie(parseReport(body.report));
      sendJson(res, 200, { status: "pending" });
    } catch (error) {
      sendJson(res, 400, { error: { code: "bad-request", message: (error as Error).message } });
    }
  });
  server.listen(Number(process.env.CONSENSUS_PORT), "127.0.0.1");
  process.on("SIGTERM", () => server.close(() => process.exit(0)));
}

void main();
