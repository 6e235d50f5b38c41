/**
 * Browser build of workers/shared/http-client.ts (vite.config.ts aliases it here): the same exported API on fetch.
 * `openStream` resolves when the status and headers arrive; `response` yields the body's chunks (Buffer shim
 * instances, as Node's IncomingMessage yields Buffers) as they arrive, and `abort()` drops the request.
 */
import { BrowserBuffer } from "./buffer";

export type IncomingHttpHeaders = Record<string, string | undefined>;

export interface HttpReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export class HttpTimeout extends Error {
  override name = "TimeoutError";
}

export class ReplyTooLarge extends Error {
  override name = "ReplyTooLarge";
}

function headersOf(res: Response): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  res.headers.forEach((value, key) => (out[key.toLowerCase()] = value));
  return out;
}

export async function post(url: string, body: string | Uint8Array, headers: Record<string, string>, timeoutMs: number, maxReplyBytes = 32 * 1024 * 1024): Promise<HttpReply> {
  const stream = await openStream(url, body, headers, timeoutMs);
  const text = await readAll(stream, maxReplyBytes, timeoutMs);
  return { status: stream.status, headers: stream.headers, body: text };
}

export interface OpenStream {
  status: number;
  headers: IncomingHttpHeaders;
  response: AsyncIterable<BrowserBuffer>;
  abort(): void;
}

export async function openStream(url: string, body: string | Uint8Array, headers: Record<string, string>, timeoutMs: number): Promise<OpenStream> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new HttpTimeout(`no answer from ${new URL(url, location.href).origin} within ${timeoutMs} ms`)), timeoutMs);
  let res: Response;
  try {
    res = await fetch(url, { method: "POST", headers, body: body as BodyInit, signal: controller.signal, cache: "no-store" });
  } catch (error) {
    if (controller.signal.aborted && controller.signal.reason instanceof HttpTimeout) throw controller.signal.reason;
    throw error;
  } finally {
    clearTimeout(timer);
  }
  const reader = res.body?.getReader();
  const response: AsyncIterable<BrowserBuffer> = {
    async *[Symbol.asyncIterator]() {
      if (!reader) return;
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          if (value?.length) yield BrowserBuffer.from(value);
        }
      } catch (error) {
        if (controller.signal.aborted) return; // the caller left: the stream simply ends, as Node's does
        throw error;
      } finally {
        reader.releaseLock();
      }
    },
  };
  return { status: res.status, headers: headersOf(res), response, abort: () => controller.abort() };
}

export async function readAll(stream: OpenStream, maxBytes = 1 << 20, timeoutMs = 30_000): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    stream.abort();
  }, timeoutMs);
  try {
    for await (const chunk of stream.response) {
      size += chunk.length;
      if (size > maxBytes) {
        stream.abort();
        throw new ReplyTooLarge(`answer over ${maxBytes} bytes`);
      }
      chunks.push(chunk);
    }
  } finally {
    clearTimeout(timer);
  }
  if (timedOut) throw new HttpTimeout(`the answer did not end within ${timeoutMs} ms`);
  return BrowserBuffer.concat(chunks).toString("utf8");
}
