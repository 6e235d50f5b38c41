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
/** Bytes one streamed answer may carry at most, at every hop (a provider streaming without end is cut off). */
export const MAX_STREAM_BYTES = 16 * 1024 * 1024;

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

/**
 * Splits a stream's text into events as it arrives (events end with a blank line). Linear in the input: the search
 * for the next blank line resumes where the last one stopped, so a peer trickling one long event byte by byte costs
 * no more than sending it at once. `normalizeNewlines` (for upstream servers, whose bytes no digest covers) reads
 * CRLF and CR line ends as LF; along the PRSM path the exact bytes matter, and every hop writes LF.
 */
export class SseParser {
  /** Text of the event being received, in the pieces it arrived in (joined once, when the event is complete). */
  private pending: string[] = [];
  private pendingLength = 0;
  private lastChar = "";

  /** `maxEventBytes`: an event longer than this ends the stream (a hostile peer sending one endless event). */
  constructor(
    private readonly maxEventBytes = 1 << 20,
    private readonly normalizeNewlines = false,
  ) {}

  push(input: string): SseEvent[] {
    let text = this.normalizeNewlines ? input.replace(/\r\n?/g, "\n") : input;
    // A CR at the end of one piece and LF at the start of the next were one CRLF: drop the doubled line end.
    if (this.normalizeNewlines && input.startsWith("\n") && this.lastRaw.endsWith("\r")) text = text.slice(1);
    if (input.length) this.lastRaw = input;
    const events: SseEvent[] = [];
    let start = 0;
    // An event ending across the boundary: the pending text ends in LF and this piece starts with one.
    if (this.lastChar === "\n" && text.startsWith("\n") && this.pendingLength > 0) {
      events.push(this.complete(this.pending.join("") + "\n"));
      start = 1;
    }
    for (let end = text.indexOf("\n\n", start); end >= 0; end = text.indexOf("\n\n", start)) {
      const head = this.pending.length ? this.pending.join("") : "";
      events.push(this.complete(head + text.slice(start, end + 2)));
      start = end + 2;
    }
    const rest = text.slice(start);
    if (rest.length) {
      this.pending.push(rest);
      this.pendingLength += rest.length;
      this.lastChar = rest[rest.length - 1]!;
    } else if (start > 0) {
      this.lastChar = "";
    }
    if (this.pendingLength > this.maxEventBytes) throw new Error(`an event of more than ${this.maxEventBytes} bytes`);
    return events;
  }

  private lastRaw = "";

  private complete(raw: string): SseEvent {
    this.pending = [];
    this.pendingLength = 0;
    this.lastChar = "";
    const event: SseEvent = { data: "", raw };
    const data: string[] = [];
    for (const line of raw.slice(0, -2).split("\n")) {
      if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      else if (line.startsWith("event:")) event.event = line.slice(6).trim();
      // comments (":...") and other fields are ignored
    }
    event.data = data.join("\n");
    return event;
  }

  /** Text after the last complete event (a stream that ended mid-event). */
  get rest(): string {
    return this.pending.join("");
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

/** How long a write may wait for a client that stopped reading before the stream is ended as if it had left. */
export const WRITE_STALL_MS = 30_000;

export function responseSink(res: ServerResponse, stallMs = WRITE_STALL_MS): StreamSink {
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
          const timer = setTimeout(() => {
            // A client that holds the socket open without reading: end it, so nothing waits on it forever.
            closed = true;
            res.destroy();
            done();
          }, stallMs);
          const done = () => {
            clearTimeout(timer);
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
