/**
 * The node's HTTP API:
 *   POST /reports  {report}                    a provider or orchestrator submits a usage report -> this node's signature
 *   POST /gossip   {report, attestations[]}    peers share reports and signatures
 *   GET  /health                               liveness, membership and epoch
 */
import http from "node:http";
import type { Address, Hex } from "viem";
import { BadRequest, WorkerError } from "../shared/errors";
import { readJson, sendError, sendJson } from "../shared/http";
import type { Logger } from "../shared/logger";
import type { ConsensusNode } from "./node";
import { parseReport, type MemberSignature } from "../shared/usage-report";

const BODY_LIMIT = 64 * 1024;

function parseAttestations(input: unknown): MemberSignature[] {
  if (input === undefined) return [];
  if (!Array.isArray(input) || input.length > 512) throw new BadRequest("attestations must be an array (at most 512)");
  return input.map((a, i) => {
    const { signer, epoch, signature } = (a ?? {}) as Record<string, unknown>;
    if (typeof signer !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(signer)) throw new BadRequest(`attestations[${i}].signer must be an address`);
    if (typeof epoch !== "string" || !/^\d{1,20}$/.test(epoch)) throw new BadRequest(`attestations[${i}].epoch must be a decimal string`);
    if (typeof signature !== "string" || !/^0x[0-9a-fA-F]{130}$/.test(signature)) throw new BadRequest(`attestations[${i}].signature must be a 65-byte hex signature`);
    return { signer: signer as Address, epoch: BigInt(epoch), signature: signature as Hex };
  });
}

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
        });
        return;
      }
      if (req.method === "POST" && (req.url === "/reports" || req.url === "/gossip")) {
        const body = (await readJson(req, BODY_LIMIT)) as Record<string, unknown> | null;
        if (typeof body !== "object" || body === null) throw new BadRequest("body must be a JSON object with a report");
        const report = parseReport(body.report);
        const attestations = req.url === "/gossip" ? parseAttestations(body.attestations) : [];
        const result = await node.receive(report, attestations);
        sendJson(res, 200, result);
        return;
      }
      throw new WorkerError(`no route for ${req.method} ${req.url}`, "not-found", 404);
    } catch (error) {
      sendError(res, error, log);
    }
  });
}
