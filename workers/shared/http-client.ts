/**
 * A minimal JSON-over-HTTP client on node:http with keep-alive connections. The orchestrator calls providers and
 * consensus nodes on every query; undici's fetch costs about a millisecond of CPU per call more than this on the
 * benchmark machine, which is most of the latency budget the orchestrator is allowed to add.
 */
import http from "node:http";
import https from "node:https";

export interface HttpReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const agents = {
  "http:": new http.Agent({ keepAlive: true, maxSockets: 256 }),
  "https:": new https.Agent({ keepAlive: true, maxSockets: 256 }),
};

export class HttpTimeout extends Error {
  override name = "TimeoutError";
}

export class ReplyTooLarge extends Error {
  override name = "ReplyTooLarge";
}

/** POSTs `body`; the answer is buffered up to `maxReplyBytes` (a peer streaming without end is cut off). */
export function post(
  url: string,
  body: string | Uint8Array,
  headers: Record<string, string>,
  timeoutMs: number,
  maxReplyBytes = 32 * 1024 * 1024,
): Promise<HttpReply> {
  const target = new URL(url);
  const transport = target.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.request(
      target,
      {
        method: "POST",
        agent: agents[target.protocol as "http:" | "https:"],
        headers: { ...headers, "content-length": String(Buffer.byteLength(body)) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > maxReplyBytes) req.destroy(new ReplyTooLarge(`answer from ${target.origin} over ${maxReplyBytes} bytes`));
          else chunks.push(c);
        });
        res.on("end", () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") });
        });
        res.on("error", (e) => {
          clearTimeout(timer);
          reject(e);
        });
      },
    );
    const timer = setTimeout(() => req.destroy(new HttpTimeout(`no answer from ${target.origin} within ${timeoutMs} ms`)), timeoutMs);
    req.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end(body);
  });
}

export interface OpenStream {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The answer's body as it arrives. */
  response: http.IncomingMessage;
  /** Drops the connection (the peer sees its client leave). */
  abort(): void;
}

/**
 * POSTs `body` and resolves as soon as the answer's status and headers arrive (a streamed answer is then read from
 * `response`); `timeoutMs` bounds the wait for them. No keep-alive: a stream cut halfway leaves nothing to reuse.
 */
export function openStream(url: string, body: string | Uint8Array, headers: Record<string, string>, timeoutMs: number): Promise<OpenStream> {
  const target = new URL(url);
  const transport = target.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.request(target, { method: "POST", headers: { ...headers, "content-length": String(Buffer.byteLength(body)) } }, (res) => {
      clearTimeout(timer);
      resolve({ status: res.statusCode ?? 0, headers: res.headers, response: res, abort: () => req.destroy() });
    });
    const timer = setTimeout(() => req.destroy(new HttpTimeout(`no answer from ${target.origin} within ${timeoutMs} ms`)), timeoutMs);
    req.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end(body);
  });
}

/** Reads a whole (non-streamed) answer opened with openStream, up to `maxBytes` and within `timeoutMs`. */
export async function readAll(stream: OpenStream, maxBytes = 1 << 20, timeoutMs = 30_000): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  let timedOut = false;
  // A peer trickling its answer byte by byte must not hold the reader (and the renter) forever.
  const timer = setTimeout(() => {
    timedOut = true;
    stream.abort();
  }, timeoutMs);
  try {
    for await (const chunk of stream.response as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) {
        stream.abort();
        throw new ReplyTooLarge(`answer over ${maxBytes} bytes`);
      }
      chunks.push(chunk);
    }
  } catch (error) {
    if (timedOut) throw new HttpTimeout(`the answer did not end within ${timeoutMs} ms`);
    throw error;
  } finally {
    clearTimeout(timer);
  }
  if (timedOut) throw new HttpTimeout(`the answer did not end within ${timeoutMs} ms`);
  return Buffer.concat(chunks).toString("utf8");
}
