/**
 * The node's HTTP API:
 *   POST /reports  {report}             a provider's gateway submits a usage report -> {status: pending|superseded}
 *   POST /batches  proposal             another member proposes a batch (see attestation.ts) -> this node's signature
 *   POST /settle   {escrowIds, deadline, signature}   the renter or provider (signed, shared/settle-request.ts) asks
 *                                      for escrows' pending usage to be settled now
 *   GET  /health                        liveness, membership, epoch, pending escrows
 *   GET  /metrics                       Prometheus metrics
 */
import http from "node:http";
import type { Hex } from "viem";
import { BadRequest, WorkerError } from "../shared/errors";
import { readJson, sendError, sendJson, sendMetrics } from "../shared/http";
import type { Logger } from "../shared/logger";
import type { ConsensusNode } from "./node";
import { parseReport } from "../shared/usage-report";

const REPORT_BODY_LIMIT = 64 * 1024;
/** A full batch of reports with their authorizations. */
const PROPOSAL_BODY_LIMIT = 1024 * 1024;
/** Proposal bodies read at once (before any is authenticated): bounds the memory unauthenticated callers can hold. */
const PROPOSALS_READ_AT_ONCE = 16;
/** Open connections at most, and how long one may take to send its request. */
const MAX_CONNECTIONS = 1_024;
const REQUEST_TIMEOUT_MS = 15_000;

export function createServer(node: ConsensusNode, log: Logger): http.Server {
  let readingProposals = 0;
  const server = http.createServer({ requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: REQUEST_TIMEOUT_MS }, async (req, res) => {
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
        if (readingProposals >= PROPOSALS_READ_AT_ONCE) {
          req.resume();
          throw new WorkerError("too many proposals in flight; try again shortly", "node-busy", 429);
        }
        readingProposals++;
        let body: unknown;
        try {
          body = await readJson(req, PROPOSAL_BODY_LIMIT);
        } finally {
          readingProposals--;
        }
        sendJson(res, 200, await node.signProposal(body));
        return;
      }
      if (req.method === "POST" && req.url === "/settle") {
        const body = (await readJson(req, 64 * 1024)) as Record<string, unknown> | null;
        const ids = body?.escrowIds;
        if (!Array.isArray(ids) || ids.length === 0 || ids.length > 1_000 || ids.some((id) => typeof id !== "string" || !/^\d{1,20}$/.test(id))) {
          throw new BadRequest("escrowIds must be 1..1000 decimal strings");
        }
        if (typeof body?.deadline !== "string" || !/^\d{1,20}$/.test(body.deadline)) throw new BadRequest("deadline must be a decimal string");
        if (typeof body?.signature !== "string" || !/^0x[0-9a-fA-F]{130}$/.test(body.signature)) throw new BadRequest("signature must be a 65-byte hex signature");
        const marked = await node.requestSettlement({ escrowIds: ids.map((id) => BigInt(id as string)), deadline: BigInt(body.deadline), signature: body.signature as Hex });
        if (marked.length === 0) throw new WorkerError("no pending usage here of escrows the signer rents or provides", "nothing-pending", 404);
        sendJson(res, 202, { status: "requested", escrowIds: marked.map(String) });
        return;
      }
      throw new WorkerError(`no route for ${req.method} ${req.url}`, "not-found", 404);
    } catch (error) {
      sendError(res, error, log);
    }
  });
  server.maxConnections = MAX_CONNECTIONS;
  return server;
}
