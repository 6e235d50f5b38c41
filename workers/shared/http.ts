/**
 * Small JSON-over-HTTP helpers for the workers (node:http, no framework): bounded body reading, JSON parsing with a
 * 400 on malformed input, 413 on oversize bodies, and errors turned into `{ error: { code, message, details } }`.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Registry } from "prom-client";
import { BadRequest, WorkerError } from "./errors";
import type { Logger } from "./logger";

/** Reads the raw body, at most `limitBytes` (413 beyond; the rest is drained so the client can read the answer). */
export async function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  const tooLarge = () => new WorkerError(`request body over ${limitBytes} bytes`, "body-too-large", 413);
  if (Number(req.headers["content-length"] ?? 0) > limitBytes) {
    req.resume(); // discard the body rather than reset the socket under the client before it reads the 413
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  // Read with listeners, not for-await: leaving a for-await early destroys the request and resets the connection.
  await new Promise<void>((resolve, reject) => {
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limitBytes) chunks.push(chunk);
    });
    req.on("end", resolve);
    req.on("error", reject);
  });
  if (size > limitBytes) throw tooLarge();
  return Buffer.concat(chunks);
}

export async function readJson(req: IncomingMessage, limitBytes: number): Promise<unknown> {
  const body = await readBody(req, limitBytes);
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    throw new BadRequest("request body is not valid JSON");
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body, (_, v) => (typeof v === "bigint" ? v.toString() : v));
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(payload) });
  res.end(payload);
}

export function sendError(res: ServerResponse, error: unknown, log: Logger): void {
  if (error instanceof WorkerError) {
    sendJson(res, error.status, { error: { code: error.code, message: error.message, details: error.details } });
    return;
  }
  log.error({ err: error }, "unexpected error");
  sendJson(res, 500, { error: { code: "internal", message: "internal error" } });
}

/** A JSON answer built by a request handler (the gateway's and the orchestrator's), written by `sendReply`. */
export interface Reply {
  status: number;
  body: string;
  headers: Record<string, string>;
}

/** A WorkerError as its status and `{ error: { code, message, details } }`; anything else as a logged 500. */
export function errorReply(error: unknown, log: Logger): Reply {
  if (error instanceof WorkerError) {
    return { status: error.status, body: JSON.stringify({ error: { code: error.code, message: error.message, details: error.details } }), headers: {} };
  }
  log.error({ err: error }, "unexpected error");
  return { status: 500, body: JSON.stringify({ error: { code: "internal", message: "internal error" } }), headers: {} };
}

export function sendReply(res: ServerResponse, reply: Reply): void {
  res.writeHead(reply.status, { "content-type": "application/json", "content-length": Buffer.byteLength(reply.body), ...reply.headers });
  res.end(reply.body);
}

/** The Prometheus text exposition of `registry` (GET /metrics). */
export async function sendMetrics(res: ServerResponse, registry: Registry): Promise<void> {
  const text = await registry.metrics();
  res.writeHead(200, { "content-type": registry.contentType });
  res.end(text);
}
