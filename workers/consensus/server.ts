/**
 * The node's HTTP API:
 *   POST /reports  {report}             a provider's gateway submits a usage report -> {status: pending|superseded}
 *   POST /batches  proposal             another member proposes a batch (see attestation.ts) -> this node's signature
 *   POST /settle   {escrowId|escrowIds} a renter or provider asks for escrows' pending usage to be settled now
 *   GET  /health                        liveness, membership, epoch, pending escrows
 *   GET  /metrics                       Prometheus metrics
 */
import http from "node:http";
import { BadRequest, WorkerError } from "../shared/errors";
import { readJson, sendError, sendJson, sendMetrics } from "../shared/http";
import type { Logger } from "../shared/logger";
import type { ConsensusNode } from "./node";
import { parseReport } from "../shared/usage-report";

const REPORT_BODY_LIMIT = 64 * 1024;
/** A full batch of reports with their authorizations. */
const PROPOSAL_BODY_LIMIT = 1024 * 1024;

export function createServer(node: ConsensusNode, log: Logger): http.Server {
  return http.createServer(async (req, res) => {
    try {
      if (req.method === "GET" && req.url === "/health") {
        const epoch = node.epoch();
        sendJson(res, 200, {
          status: "ok",
          address: node.address,
          epoch: epoch?.epoch,
          members: epoch?.members.length,
          quorum: epoch?.quorum,
          member: epoch?.members.some((m) => m.toLowerCase() === node.address.toLowerCase()) ?? false,
          pending: node.pendingCount(),
          positions: node.store.positionCount(),
          settledEntries: node.settledEntries,
        });
        return;
      }
      if (req.method === "GET" && req.url === "/metrics") return await sendMetrics(res, node.metrics.registry);
      if (req.method === "POST" && req.url === "/reports") {
        const body = (await readJson(req, REPORT_BODY_LIMIT)) as Record<string, unknown> | null;
        if (typeof body !== "object" || body === null) throw new BadRequest("body must be a JSON object with a report");
        sendJson(res, 200, await node.receiveReport(parseReport(body.report)));
        return;
      }
      if (req.method === "POST" && req.url === "/batches") {
        sendJson(res, 200, await node.signProposal(await readJson(req, PROPOSAL_BODY_LIMIT)));
        return;
      }
      if (req.method === "POST" && req.url === "/settle") {
        const body = (await readJson(req, 64 * 1024)) as Record<string, unknown> | null;
        const raw = body?.escrowIds ?? (body?.escrowId === undefined ? undefined : [body.escrowId]);
        if (!Array.isArray(raw) || raw.length === 0 || raw.length > 1_000 || raw.some((id) => typeof id !== "string" || !/^\d{1,20}$/.test(id))) {
          throw new BadRequest("escrowId (or escrowIds, 1..1000) must be decimal strings");
        }
        const requested = (raw as string[]).filter((id) => node.requestSettlement(BigInt(id)));
        if (requested.length === 0) throw new WorkerError("no pending usage of these escrows here", "nothing-pending", 404);
        sendJson(res, 202, { status: "requested", escrowIds: requested });
        return;
      }
      throw new WorkerError(`no route for ${req.method} ${req.url}`, "not-found", 404);
    } catch (error) {
      sendError(res, error, log);
    }
  });
}
