/**
 * The reverse proxy that makes the GraphQL API (/graphql) and the orchestrator (/v1/*) same-origin with the app.
 * Request bodies are read up to a bound (413 beyond, JSON error) and sent with their length; the answer is streamed
 * back as it arrives, never buffered, so graphql-yoga's SSE subscriptions and streamed chat completions reach the
 * browser event by event. A client that goes away aborts the upstream request. Headers pass through (x-prsm-* in
 * both directions included) except hop-by-hop ones; the client's address is appended to X-Forwarded-For, so the
 * web server is one proxy hop for the API's API_TRUSTED_PROXIES.
 */
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import { readBody } from "../../workers/shared/http";
import { WorkerError } from "../../workers/shared/errors";

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length",
]);

const agents = {
  "http:": new http.Agent({ keepAlive: true, maxSockets: 512 }),
  "https:": new https.Agent({ keepAlive: true, maxSockets: 512 }),
};

export interface ProxyOptions {
  maxBodyBytes: number;
  upstreamTimeoutMs: number;
  streamIdleTimeoutMs: number;
  onUpstreamError?: (code: string) => void;
}

export function sendJsonError(res: ServerResponse, status: number, code: string, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ error: { code, message } });
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** The client's address as this server saw it (IPv4-mapped IPv6 shown as IPv4). */
function clientAddress(req: IncomingMessage): string {
  const address = req.socket.remoteAddress ?? "";
  return address.startsWith("::ffff:") ? address.slice(7) : address;
}

/**
 * Forwards `req` to `target` (a full URL: path and query already mapped) and streams the answer to `res`.
 * Resolves once the exchange is over (answered, failed or abandoned by the client).
 */
export async function proxy(req: IncomingMessage, res: ServerResponse, target: URL, options: ProxyOptions): Promise<void> {
  let body: Buffer | undefined;
  if (req.method !== "GET" && req.method !== "HEAD") {
    try {
      body = await readBody(req, options.maxBodyBytes);
    } catch (error) {
      if (error instanceof WorkerError && error.status === 413) {
        options.onUpstreamError?.("body-too-large");
        sendJsonError(res, 413, "BODY_TOO_LARGE", `request body over ${options.maxBodyBytes} bytes`);
      } else {
        sendJsonError(res, 400, "BAD_REQUEST", "could not read the request body");
      }
      return;
    }
  }
  const headers: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (!HOP_BY_HOP.has(name) && value !== undefined) headers[name] = value;
  }
  const forwarded = req.headers["x-forwarded-for"];
  const prior = Array.isArray(forwarded) ? forwarded.join(", ") : forwarded;
  headers["x-forwarded-for"] = prior ? `${prior}, ${clientAddress(req)}` : clientAddress(req);
  headers["x-forwarded-host"] = req.headers.host ?? "";
  headers["x-forwarded-proto"] = (req.socket as { encrypted?: boolean }).encrypted ? "https" : "http";
  headers.host = target.host;
  if (body) headers["content-length"] = String(body.length);

  const transport = target.protocol === "https:" ? https : http;
  await new Promise<void>((resolve) => {
    let settled = false;
    const done = () => {
      if (!settled) (settled = true), resolve();
    };
    const upstream = transport.request(target, { method: req.method, headers, agent: agents[target.protocol as "http:" | "https:"] });
    // Until the response headers arrive: the upstream's time to answer. Then: the longest pause inside the answer.
    const firstByte = setTimeout(() => {
      options.onUpstreamError?.("timeout");
      sendJsonError(res, 504, "UPSTREAM_TIMEOUT", `${target.origin} did not answer within ${options.upstreamTimeoutMs} ms`);
      upstream.destroy();
      done();
    }, options.upstreamTimeoutMs);
    upstream.on("response", (answer) => {
      clearTimeout(firstByte);
      const out: http.OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(answer.headers)) {
        if (value !== undefined && (!HOP_BY_HOP.has(name) || name === "content-length")) out[name] = value;
      }
      const streaming = String(answer.headers["content-type"] ?? "").includes("text/event-stream");
      if (streaming) {
        out["x-accel-buffering"] = "no"; // any proxy in front (nginx) must not buffer the stream either
        out["cache-control"] ??= "no-cache";
        req.socket.setNoDelay(true);
      }
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, out);
      if (streaming) res.flushHeaders();
      answer.setTimeout(options.streamIdleTimeoutMs, () => answer.destroy(new Error("idle")));
      answer.on("data", (chunk: Buffer) => {
        // Backpressure: a slow browser pauses the upstream rather than growing this process's memory.
        if (!res.write(chunk)) {
          answer.pause();
          res.once("drain", () => answer.resume());
        }
      });
      answer.on("end", () => {
        res.end();
        done();
      });
      answer.on("error", () => {
        res.destroy(); // cut mid-answer: the client must see a truncated response, not a complete one
        done();
      });
      answer.on("aborted", () => {
        res.destroy();
        done();
      });
    });
    upstream.on("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(firstByte);
      if (settled) return;
      if (!res.headersSent) {
        options.onUpstreamError?.(error.code ?? "error");
        sendJsonError(res, 502, "UPSTREAM_UNAVAILABLE", `${target.origin} is unavailable (${error.code ?? error.message})`);
      } else {
        res.destroy();
      }
      done();
    });
    // The browser left (closed the EventSource, aborted the fetch): stop the upstream work too.
    res.on("close", () => {
      if (!res.writableFinished) {
        clearTimeout(firstByte);
        upstream.destroy();
        done();
      }
    });
    upstream.end(body);
  });
}
