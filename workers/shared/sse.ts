/**
 * Server-Sent Events for streamed answers (OpenAI's `stream: true` format: `data: <json>` events, then
 * `data: [DONE]`). Along the PRSM path, gateway -> orchestrator -> renter, one extra event carries the provider's
 * signed usage report after the model's last chunk:
 *
 *   event: prsm-receipt
 *   data: <base64url JSON usage report>
 *
 * The report's responseDigest is keccak256 of every byte of the stream before that event, exactly as sent, so each
 * hop can check the report against what it relayed or received. The renter's proxy strips the event before
 * answering an OpenAI client (which would try to parse it as a chunk).
 */
import type { ServerResponse } from "node:http";

export const RECEIPT_EVENT = "prsm-receipt";
export const DONE = "data: [DONE]\n\n";

export function dataEvent(json: unknown): string {
  return `data: ${typeof json === "string" ? json : JSON.stringify(json)}\n\n`;
}

export function receiptEvent(receipt: string): string {
  return `event: ${RECEIPT_EVENT}\ndata: ${receipt}\n\n`;
}

export interface SseEvent {
  event?: string;
  data: string;
  /** The event's exact text, blank line included (what a digest over the stream covers). */
  raw: string;
}

/** Splits a stream's text into events as it arrives (events end with a blank line; `\n` line ends, as sent here). */
export class SseParser {
  private buffer = "";
  /** Bytes buffered at most before the stream is refused (a hostile peer sending one endless line). */
  constructor(private readonly maxEventBytes = 1 << 20) {}

  push(text: string): SseEvent[] {
    this.buffer += text;
    const events: SseEvent[] = [];
    for (let end = this.buffer.indexOf("\n\n"); end >= 0; end = this.buffer.indexOf("\n\n")) {
      const raw = this.buffer.slice(0, end + 2);
      this.buffer = this.buffer.slice(end + 2);
      const event: SseEvent = { data: "", raw };
      const data: string[] = [];
      for (const line of raw.slice(0, -2).split("\n")) {
        if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        else if (line.startsWith("event:")) event.event = line.slice(6).trim();
        // comments (":...") and other fields are ignored
      }
      event.data = data.join("\n");
      events.push(event);
    }
    if (this.buffer.length > this.maxEventBytes) throw new Error(`an event of more than ${this.maxEventBytes} bytes`);
    return events;
  }

  /** Text after the last complete event (a stream that ended mid-event). */
  get rest(): string {
    return this.buffer;
  }
}

/** Where a streamed answer is written: an HTTP response, with back-pressure and a way to learn the client left. */
export interface StreamSink {
  /** Sends the status and headers (200, text/event-stream) once. */
  open(headers: Record<string, string>): void;
  /** Writes `text`; false once the client has gone (nothing more will reach it). Waits while the socket is full. */
  write(text: string): Promise<boolean>;
  end(): void;
  readonly opened: boolean;
  readonly closed: boolean;
}

export function responseSink(res: ServerResponse): StreamSink {
  let opened = false;
  let closed = false;
  res.on("close", () => (closed = true));
  return {
    open(headers) {
      if (opened) return;
      opened = true;
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive", "x-accel-buffering": "no", ...headers });
      res.flushHeaders();
    },
    async write(text) {
      if (closed || res.destroyed) return false;
      if (!res.write(text)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            res.off("drain", done);
            res.off("close", done);
            resolve();
          };
          res.once("drain", done);
          res.once("close", done);
        });
      }
      return !closed && !res.destroyed;
    },
    end() {
      if (!res.writableEnded) res.end();
    },
    get opened() {
      return opened;
    },
    get closed() {
      return closed;
    },
  };
}
