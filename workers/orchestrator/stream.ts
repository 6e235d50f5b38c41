/**
 * Relays a streamed answer (`stream: true`) from a provider's gateway to the renter, byte for byte as it arrives
 * (the provider's report commits to those bytes; workers/shared/sse.ts). Candidates are tried in order only until
 * one starts answering: before its first byte a provider that is down, times out, refuses payment or fails is
 * passed over as for any query; after it, the renter already holds part of that provider's answer and nothing can
 * be failed over. A provider that then stalls for longer than the timeout is cut off: the renter's stream ends
 * with an error event, and the provider's report (if it sends one later) can only charge what it delivered, within
 * the renter's authorization. At the end the provider's report is checked against the relayed bytes and handed to
 * the consensus nodes; a stream whose report is missing or wrong counts against the provider's rank.
 */
import { AUTHORIZATION_HEADER, formatAuthorizationHeader } from "../shared/authorization";
import { HttpTimeout, openStream, readAll, type OpenStream } from "../shared/http-client";
import type { Logger } from "../shared/logger";
import { ACKNOWLEDGEMENT_HEADER, formatAcknowledgementHeader, type UsageReceipt } from "../shared/receipt";
import { dataEvent, MAX_STREAM_BYTES, RECEIPT_EVENT, SseParser, type StreamSink } from "../shared/sse";
import type { UsageReport } from "../shared/usage-report";
import type { Reply } from "../shared/http";
import type { Endpoint } from "../provider-gateway/backend";
import type { Attempt, Candidate } from "./orchestrator";

export interface RelayContext {
  log: Logger;
  timeoutMs: number;
  recordFailure(listingId: bigint): void;
  onAttempt(attempt: Attempt): void;
  /** Checks the provider's report against the bytes relayed; throws when it does not match. */
  check(candidate: Candidate, receipt: string, streamedBytes: string): Promise<UsageReport>;
  /** A checked report: rank the provider, remember the units, hand it to the nodes. */
  served(candidate: Candidate, report: UsageReport, latencyMs: number): void;
}

/** Returns a Reply when no candidate started streaming (the error or refusal to send), or null once streamed. */
export async function relayStream(
  ctx: RelayContext,
  sink: StreamSink,
  endpoint: Endpoint,
  raw: Buffer,
  acknowledgements: Map<string, UsageReceipt>,
  ordered: Iterable<Candidate>,
): Promise<Reply | null> {
  const attempts: Attempt[] = [];
  let refusal: Reply | undefined;
  for (const candidate of ordered) {
    const started = performance.now();
    const record = (outcome: string, status?: number) => {
      const attempt = { listingId: candidate.listingId.toString(), escrowId: candidate.authorization.escrowId.toString(), outcome, status, ms: Math.round(performance.now() - started) };
      attempts.push(attempt);
      ctx.onAttempt(attempt);
    };
    const headers: Record<string, string> = { "content-type": "application/json", accept: "text/event-stream", [AUTHORIZATION_HEADER]: formatAuthorizationHeader([candidate.authorization]) };
    const ack = acknowledgements.get(candidate.authorization.escrowId.toString());
    if (ack) headers[ACKNOWLEDGEMENT_HEADER] = formatAcknowledgementHeader([ack]);
    let upstream: OpenStream;
    try {
      upstream = await openStream(`${candidate.served.gateway}${endpoint}`, raw, headers, ctx.timeoutMs);
    } catch (error) {
      ctx.recordFailure(candidate.listingId);
      record(error instanceof HttpTimeout ? "timeout" : "unreachable");
      continue;
    }
    const streamed = upstream.status === 200 && String(upstream.headers["content-type"] ?? "").startsWith("text/event-stream");
    if (!streamed) {
      let body: string;
      try {
        body = await readAll(upstream, 1 << 20, ctx.timeoutMs);
      } catch (error) {
        ctx.recordFailure(candidate.listingId);
        record(error instanceof HttpTimeout ? "timeout" : "unreadable", upstream.status);
        continue;
      }
      if (upstream.status === 400 || upstream.status === 401) {
        record("refused", upstream.status);
        return { status: upstream.status, body, headers: { "x-prsm-attempts": JSON.stringify(attempts) } };
      }
      if (upstream.status === 402) {
        refusal = { status: 402, body, headers: {} };
        record("payment-required", 402);
        continue;
      }
      ctx.recordFailure(candidate.listingId);
      record(upstream.status === 200 ? "not-streamed" : "provider-error", upstream.status);
      continue;
    }
    record("streaming", 200);
    sink.open({
      "x-prsm-listing": candidate.listingId.toString(),
      "x-prsm-escrow": candidate.authorization.escrowId.toString(),
      "x-prsm-provider": candidate.served.listing.provider,
      "x-prsm-unit": String(upstream.headers["x-prsm-unit"] ?? ""),
      "x-prsm-attempts": JSON.stringify(attempts),
    });
    await relay(ctx, sink, upstream, candidate, started);
    return null;
  }
  if (refusal && attempts.every((a) => a.outcome === "payment-required")) return { ...refusal, headers: { "x-prsm-attempts": JSON.stringify(attempts) } };
  return {
    status: 502,
    body: JSON.stringify({ error: { code: "providers-failed", message: "no provider could serve the request", details: { attempts } } }),
    headers: { "x-prsm-attempts": JSON.stringify(attempts) },
  };
}

async function relay(ctx: RelayContext, sink: StreamSink, upstream: OpenStream, candidate: Candidate, started: number): Promise<void> {
  const parser = new SseParser();
  const decoder = new TextDecoder();
  let before = "";
  let relayed = 0;
  let receipt: string | undefined;
  let stalled = false;
  let oversized = false;
  let late = false;
  let idle: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(idle);
    idle = setTimeout(() => {
      stalled = true;
      upstream.abort();
    }, ctx.timeoutMs);
  };
  arm();
  try {
    for await (const chunk of upstream.response as AsyncIterable<Buffer>) {
      relayed += chunk.length;
      if (relayed > MAX_STREAM_BYTES) {
        oversized = true;
        upstream.abort();
        break;
      }
      const text = decoder.decode(chunk, { stream: true });
      for (const event of parser.push(text)) {
        if (event.event === RECEIPT_EVENT) receipt ??= event.data;
        else if (receipt === undefined) before += event.raw;
        // After the report only [DONE] may follow: anything else is not covered by it.
        else if (event.data !== "[DONE]") late = true;
      }
      // The wait for a slow renter is not the provider's pause: the idle timer stops while the write drains.
      clearTimeout(idle);
      const written = await sink.write(text);
      arm();
      if (!written) {
        // The renter left: drop the provider's connection too, so it stops generating and reports what it delivered.
        upstream.abort();
        return;
      }
    }
  } catch {
    // the provider's connection broke (or was cut for stalling): below
  } finally {
    clearTimeout(idle);
  }
  if (!receipt || oversized || late) {
    if (receipt && !oversized) {
      // Events after the report: the renter's client refuses the report; the provider is ranked down here.
      ctx.recordFailure(candidate.listingId);
      sink.end();
      return;
    }
    ctx.recordFailure(candidate.listingId);
    ctx.onAttempt({ listingId: candidate.listingId.toString(), escrowId: candidate.authorization.escrowId.toString(), outcome: stalled ? "stalled" : "cut", ms: Math.round(performance.now() - started) });
    const code = oversized ? "provider-oversized" : stalled ? "provider-stalled" : "provider-cut";
    const message = oversized
      ? `the provider's stream passed ${MAX_STREAM_BYTES} bytes and was cut off`
      : stalled
        ? `the provider sent nothing for ${ctx.timeoutMs} ms; the answer is incomplete`
        : "the provider's stream ended before its usage report; the answer may be incomplete";
    await sink.write(dataEvent({ error: { code, message } }));
    sink.end();
    return;
  }
  sink.end();
  try {
    const report = await ctx.check(candidate, receipt, before);
    ctx.served(candidate, report, performance.now() - started);
  } catch (error) {
    ctx.recordFailure(candidate.listingId);
    ctx.log.warn({ listingId: candidate.listingId.toString(), err: (error as Error).message }, "streamed answer's report refused");
  }
}
