/**
 * The provider gateway's request path. For each OpenAI-style request it:
 *   1. parses the body (400), the renter's authorization for exactly these bytes (401) and the renter's latest
 *      acknowledgement of usage received (X-PRSM-Acknowledgement, optional; 400 if malformed, 401 if not the
 *      renter's),
 *   2. checks the escrow on chain: open, not expired, for a listing this gateway serves, signed by its renter or by
 *      a session key the renter authorized for it (workers/shared/session-keys.ts: not revoked, or the deadline
 *      within revokedAt + 600 s, and in any case a deadline at most 300 s away),
 *   3. refuses (402 `acknowledgement-required`) when the usage it reported beyond the renter's latest
 *      acknowledgement (or the chain's accounted units) exceeds its credit window: a renter that stops
 *      acknowledging stops being served, so at most the window plus one query is at stake,
 *   4. refuses (402) when the escrow's spend cap or the renter's authorization cannot cover the request,
 *   5. runs the model, meters the usage in the listing's unit, and checks the total again before answering
 *      (a streamed answer, `stream: true`, is metered piece by piece and stopped at what can be paid),
 *   6. signs a cumulative usage report bound to the authorization and the exact response bytes, logs it and hands
 *      it to the settler (which takes it to the consensus nodes until it settles), then answers with the report
 *      in the X-PRSM-Receipt header.
 */
import type { Address } from "viem";
import {
  AUTHORIZATION_HEADER,
  parseAuthorizationHeader,
  RECEIPT_HEADER,
  recoverRenter,
  requestDigest,
  responseDigest,
  usageResultDigest,
  type UsageAuthorization,
} from "../shared/authorization";
import { readEscrow, readListing, type ChainContext, type Escrow, type Listing } from "../shared/chain";
import { ChainClock } from "../shared/clock";
import { BadRequest, PaymentRequired, Unauthorized, WorkerError } from "../shared/errors";
import { lastChargeAt as lastChargeOf } from "../shared/terms-cache";
import { MAX_SESSION_AUTHORIZATION_SECONDS, sessionKeysFor, type SessionKeyCache } from "../shared/session-keys";
import { ACKNOWLEDGEMENT_HEADER, parseAcknowledgementHeader, recoverReceiptSigner, type UsageReceipt } from "../shared/receipt";
import { errorReply, type Reply } from "../shared/http";
import type { Logger } from "../shared/logger";
import { reportToJson, signProviderReport, type UsageReport } from "../shared/usage-report";
import { dataEvent, DONE, MAX_STREAM_BYTES, receiptEvent, type StreamSink } from "../shared/sse";
import type { Backend, BackendResult, ChatRequest, Endpoint, StreamOutcome } from "./backend";
import { parseRequest } from "./backend";
import type { UsageBook } from "./usage-book";

export const UNIT_NAMES = ["token", "request", "second"] as const;

export interface GatewayHooks {
  /** Called with each signed report before the answer leaves (the settler logs it durably); must not throw. */
  onReport?: (report: UsageReport) => void;
}

export interface GatewayOptions {
  /** Units the gateway serves beyond the renter's latest acknowledgement before it asks for one (402). */
  creditWindowUnits: bigint;
}

export const DEFAULT_CREDIT_WINDOW_UNITS = 4_096n;

/** Units a request used, in the listing's billing unit. */
export function meter(unit: number, result: BackendResult, elapsedMs: number): bigint {
  if (unit === 0) return BigInt(result.promptTokens + result.completionTokens);
  if (unit === 1) return 1n;
  return BigInt(Math.max(1, Math.ceil(elapsedMs / 1000)));
}

export class ProviderGateway {
  private readonly clock: ChainClock;
  private readonly sessionKeys: SessionKeyCache;
  readonly provider: Address;

  constructor(
    private readonly ctx: ChainContext,
    private readonly backend: Backend,
    private readonly listings: Map<string, Listing>,
    private readonly book: UsageBook,
    private readonly log: Logger,
    private readonly hooks: GatewayHooks = {},
    private readonly options: GatewayOptions = { creditWindowUnits: DEFAULT_CREDIT_WINDOW_UNITS },
  ) {
    this.clock = new ChainClock(ctx);
    this.sessionKeys = sessionKeysFor(ctx);
    this.provider = ctx.account.address;
  }

  /** Reads the configured listings and checks this key is their provider; a misconfiguration stops the start. */
  static async loadListings(ctx: ChainContext, ids: bigint[]): Promise<Map<string, Listing>> {
    const listings = new Map<string, Listing>();
    for (const id of ids) {
      const listing = await readListing(ctx, id);
      if (listing.provider.toLowerCase() !== ctx.account.address.toLowerCase()) {
        throw new WorkerError(`listing ${id} belongs to ${listing.provider}, not to this gateway's key ${ctx.account.address}`, "not-provider");
      }
      listings.set(id.toString(), listing);
    }
    return listings;
  }

  info() {
    return {
      provider: this.provider,
      chainId: this.ctx.chain.id,
      model: this.backend.model,
      listings: [...this.listings.entries()].map(([id, l]) => ({
        listingId: id,
        category: l.category,
        unit: UNIT_NAMES[l.unit],
        pricePerUnit: l.pricePerUnit.toString(),
      })),
    };
  }

  /** Answers a request: a Reply, or null when the answer was streamed into `sink` (`stream: true`). */
  async handle(endpoint: Endpoint, raw: Buffer, headers: Record<string, string | string[] | undefined>, sink?: StreamSink): Promise<Reply | null> {
    try {
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw.toString("utf8"));
      } catch {
        throw new BadRequest("request body is not valid JSON");
      }
      const body = parseRequest(endpoint, parsed);
      const authorizations = parseAuthorizationHeader(headers[AUTHORIZATION_HEADER], requestDigest(endpoint, raw));
      if (authorizations.length !== 1) throw new BadRequest(`a provider takes exactly one authorization, got ${authorizations.length}`);
      const auth = authorizations[0]!;
      const ack = parseAcknowledgementHeader(headers[ACKNOWLEDGEMENT_HEADER]).find((a) => a.escrowId === auth.escrowId);
      const escrow = await this.checkEscrow(auth);
      if (ack) await this.checkAcknowledgement(ack, escrow);
      const streamed = (body as ChatRequest).stream === true;
      if (streamed && !sink) throw new BadRequest("this endpoint does not stream");
      return await this.book.withEscrow(auth.escrowId, async () => {
        if (ack) {
          await this.checkAcknowledgementCovers(ack, escrow);
          this.book.acknowledge(ack);
        }
        if (!streamed) return this.serve(endpoint, body, auth, escrow);
        await this.serveStream(body as ChatRequest, auth, escrow, sink!);
        return null;
      });
    } catch (error) {
      if (error instanceof WorkerError && error.status >= 500) this.log.warn({ err: error.message, code: error.code }, "request failed");
      if (sink?.opened) {
        // Mid-stream: the status is sent; say what failed in the stream's own terms, then end it.
        await sink.write(dataEvent({ error: { code: error instanceof WorkerError ? error.code : "internal", message: (error as Error).message } }));
        sink.end();
        return null;
      }
      return errorReply(error, this.log);
    }
  }

  private async checkEscrow(auth: UsageAuthorization): Promise<Escrow> {
    const now = await this.clock.now();
    if (now > auth.deadline) throw new Unauthorized(`the authorization expired at ${auth.deadline} (chain time ${now})`);
    const escrow = await readEscrow(this.ctx, auth.escrowId);
    if (escrow.status === 0) throw new Unauthorized(`escrow ${auth.escrowId} does not exist`);
    if (!this.listings.has(escrow.listingId.toString())) {
      throw new WorkerError(`escrow ${auth.escrowId} is for listing ${escrow.listingId}, which this gateway does not serve`, "wrong-listing", 403);
    }
    let signer: Address;
    try {
      signer = await recoverRenter(this.ctx.domain, auth);
    } catch {
      throw new Unauthorized("the authorization signature does not parse");
    }
    if (signer.toLowerCase() !== escrow.renter.toLowerCase()) await this.checkSessionKey(auth, escrow, signer, now);
    if (escrow.status !== 1) throw new PaymentRequired("escrow-not-open", `escrow ${auth.escrowId} is closed`);
    if (now > escrow.expiresAt) throw new PaymentRequired("escrow-expired", `escrow ${auth.escrowId} expired at ${escrow.expiresAt}`);
    return escrow;
  }

  /**
   * An authorization signed by someone other than the renter counts only if the signer is a session key of the
   * escrow (authorized, and not revoked or the deadline within revokedAt + 600 s) and its deadline is at most 300 s
   * away: whatever is served on it was served before any revocation R plus this cache's age, so its deadline
   * D <= S + 300 < R + 600 and the nodes still attest it.
   */
  private async checkSessionKey(auth: UsageAuthorization, escrow: Escrow, signer: Address, now: bigint): Promise<void> {
    const notRenter = `the authorization is signed by ${signer}, not by escrow ${auth.escrowId}'s renter ${escrow.renter}`;
    if (auth.deadline > now + MAX_SESSION_AUTHORIZATION_SECONDS) {
      throw new Unauthorized(`${notRenter}; an authorization signed by a session key may run at most ${MAX_SESSION_AUTHORIZATION_SECONDS} s (deadline ${auth.deadline}, chain time ${now})`);
    }
    const verdict = await this.sessionKeys.checkAuthorization(auth.escrowId, signer, auth.deadline);
    if (!verdict.ok) throw new Unauthorized(`${notRenter}, and ${verdict.message}`);
  }

  /**
   * An acknowledgement counts only if the escrow's renter or a key ever authorized for the escrow (revoked or not)
   * signed it: it is a receipt the provider can charge, and chargeWithReceipt accepts exactly those signers.
   */
  private async checkAcknowledgement(ack: UsageReceipt, escrow: Escrow): Promise<void> {
    let signer: Address;
    try {
      signer = await recoverReceiptSigner(this.ctx.marketplaceDomain, ack);
    } catch {
      throw new Unauthorized("the acknowledgement signature does not parse");
    }
    if (signer.toLowerCase() === escrow.renter.toLowerCase()) return;
    if (!(await this.sessionKeys.everAuthorized(ack.escrowId, signer))) {
      throw new Unauthorized(`the acknowledgement is signed by ${signer}, which is neither escrow ${ack.escrowId}'s renter ${escrow.renter} nor one of its session keys`);
    }
  }

  /**
   * An acknowledgement counts only for usage this gateway actually served (never more than it reported, so a renter
   * cannot buy credit with a receipt for units nobody delivered) and only if it stays chargeable for as long as the
   * escrow can be charged (its deadline is not before the escrow's expiry plus the grace of its terms).
   */
  private async checkAcknowledgementCovers(ack: UsageReceipt, escrow: Escrow): Promise<void> {
    const reported = this.book.get(ack.escrowId)?.cumulativeUnits ?? 0n;
    const served = reported > escrow.units ? reported : escrow.units;
    if (ack.cumulativeUnits > served) {
      throw new WorkerError(`the acknowledgement is for ${ack.cumulativeUnits} units; escrow ${ack.escrowId} has been served ${served}`, "bad-acknowledgement", 400, {
        acknowledgedUnits: ack.cumulativeUnits.toString(),
        servedUnits: served.toString(),
      });
    }
    const lastChargeAt = await lastChargeOf(this.ctx, escrow);
    if (ack.deadline < lastChargeAt) {
      throw new WorkerError(`the acknowledgement expires at ${ack.deadline}, before escrow ${ack.escrowId} can last be charged (${lastChargeAt})`, "bad-acknowledgement", 400);
    }
  }

  /** Refuses usage that the spend cap or the renter's authorization cannot cover (402, nothing recorded). */
  private checkCovered(auth: UsageAuthorization, escrow: Escrow, cumulativeUnits: bigint): void {
    if ((cumulativeUnits - escrow.units) * escrow.pricePerUnit > escrow.spendCap - escrow.charged) {
      throw new PaymentRequired("escrow-exhausted", `escrow ${auth.escrowId} cannot cover ${cumulativeUnits} units in total`, {
        cumulativeUnits: cumulativeUnits.toString(),
        affordableUnits: (escrow.units + (escrow.spendCap - escrow.charged) / escrow.pricePerUnit).toString(),
      });
    }
    if (cumulativeUnits > auth.maxCumulativeUnits) {
      throw new PaymentRequired("authorization-exceeded", `the request needs ${cumulativeUnits} cumulative units; the renter authorized ${auth.maxCumulativeUnits}`, {
        cumulativeUnits: cumulativeUnits.toString(),
        authorized: auth.maxCumulativeUnits.toString(),
      });
    }
  }

  /** Where a request for `escrow` starts: the units and report number so far, after the credit-window check. */
  private begin(auth: UsageAuthorization, escrow: Escrow) {
    const listing = this.listings.get(escrow.listingId.toString())!;
    // What the chain settled is a floor: another gateway instance (or a restart without state) may lag behind it.
    const known = this.book.get(auth.escrowId);
    const before = {
      cumulativeUnits: known && known.cumulativeUnits > escrow.units ? known.cumulativeUnits : escrow.units,
      sequence: known?.sequence ?? 0n,
    };
    // Only the renter's own acknowledgement counts: units the committee attested are still disputable by the renter,
    // so a renter that never acknowledges is cut off even while the committee keeps settling for the provider.
    const acknowledged = known?.acknowledged?.cumulativeUnits ?? 0n;
    const unacknowledged = before.cumulativeUnits > acknowledged ? before.cumulativeUnits - acknowledged : 0n;
    if (unacknowledged > this.options.creditWindowUnits) {
      throw new PaymentRequired(
        "acknowledgement-required",
        `escrow ${auth.escrowId} has ${unacknowledged} units served but not acknowledged by the renter (credit window ${this.options.creditWindowUnits}); send the renter's receipt for them in ${ACKNOWLEDGEMENT_HEADER}`,
        { reportedUnits: before.cumulativeUnits.toString(), acknowledgedUnits: acknowledged.toString(), creditWindowUnits: this.options.creditWindowUnits.toString() },
      );
    }
    return { listing, known, before };
  }

  /** Signs the cumulative report for `units` more, bound to the authorization and the response bytes, and books it. */
  private async finish(auth: UsageAuthorization, begun: ReturnType<ProviderGateway["begin"]>, units: bigint, responseBytes: string): Promise<{ report: UsageReport; receipt: string }> {
    const cumulativeUnits = begun.before.cumulativeUnits + units;
    const response = responseDigest(responseBytes);
    const sequence = begun.before.sequence + 1n;
    const resultDigest = usageResultDigest(this.ctx.domain, auth, response);
    const fields = { escrowId: auth.escrowId, cumulativeUnits, sequence, resultDigest };
    const providerSignature = await signProviderReport(this.ctx.account, this.ctx.domain, fields);
    const report: UsageReport = { ...fields, providerSignature, authorization: auth, responseDigest: response };
    this.book.set(auth.escrowId, { cumulativeUnits, sequence, acknowledged: begun.known?.acknowledged });
    this.hooks.onReport?.(report);
    this.log.debug({ escrowId: auth.escrowId.toString(), units: units.toString(), sequence: sequence.toString() }, "served");
    return { report, receipt: Buffer.from(JSON.stringify(reportToJson(report))).toString("base64url") };
  }

  private async serve(endpoint: Endpoint, body: Parameters<Backend["run"]>[1], auth: UsageAuthorization, escrow: Escrow): Promise<Reply> {
    const begun = this.begin(auth, escrow);
    const { listing, before } = begun;
    const minimum = listing.unit === 0 ? BigInt(this.backend.estimatePromptTokens(endpoint, body)) : 1n;
    this.checkCovered(auth, escrow, before.cumulativeUnits + minimum);

    const started = performance.now();
    const result = await this.backend.run(endpoint, body, `prsm-${auth.requestDigest.slice(2, 26)}`);
    const units = meter(listing.unit, result, performance.now() - started);
    this.checkCovered(auth, escrow, before.cumulativeUnits + units);

    const responseBody = JSON.stringify(result.response);
    const { report, receipt } = await this.finish(auth, begun, units, responseBody);
    return {
      status: 200,
      body: responseBody,
      headers: {
        [RECEIPT_HEADER]: receipt,
        "x-prsm-unit": UNIT_NAMES[listing.unit] ?? "token",
        "x-prsm-units": units.toString(),
        "x-prsm-cumulative-units": report.cumulativeUnits.toString(),
      },
    };
  }

  /**
   * A streamed chat answer (`stream: true`). Everything that can refuse the request (402 included) happens before
   * the first byte. Then the answer goes out piece by piece as OpenAI chunk events; the model is stopped when the
   * next piece would take the escrow past what its cap or the renter's authorization can pay, or when the client
   * leaves. The usage chunk follows (always: the renter checks the report against it), then the signed report of
   * what was delivered (workers/shared/sse.ts), then [DONE]. A stream the client cut is still reported and
   * settled for the pieces written before it left (at most the renter's authorization, as for any answer).
   */
  private async serveStream(body: ChatRequest, auth: UsageAuthorization, escrow: Escrow, sink: StreamSink): Promise<void> {
    const begun = this.begin(auth, escrow);
    const { listing, before } = begun;
    const promptTokens = BigInt(this.backend.estimatePromptTokens("/v1/chat/completions", body));
    const base = listing.unit === 0 ? promptTokens : 1n;
    this.checkCovered(auth, escrow, before.cumulativeUnits + base);
    // Units the escrow and the authorization can still pay for, beyond what was served before.
    const affordable = (escrow.spendCap - escrow.charged) / escrow.pricePerUnit - (before.cumulativeUnits - escrow.units);
    const ceiling = auth.maxCumulativeUnits - before.cumulativeUnits < affordable ? auth.maxCumulativeUnits - before.cumulativeUnits : affordable;

    const id = `prsm-${auth.requestDigest.slice(2, 26)}`;
    const created = Math.floor(Date.now() / 1000);
    const chunk = (delta: Record<string, unknown>, finish: string | null, extra: Record<string, unknown> = {}) =>
      dataEvent({ id, object: "chat.completion.chunk", created, model: this.backend.model, choices: [{ index: 0, delta, finish_reason: finish }], ...extra });
    let written = "";
    // Opened with the first piece, not before: until then a failing upstream is an ordinary error reply, which the
    // orchestrator can still fail over.
    const send = async (text: string): Promise<boolean> => {
      if (written.length + text.length > MAX_STREAM_BYTES) return false;
      sink.open({ "x-prsm-unit": UNIT_NAMES[listing.unit] ?? "token" });
      if (!(await sink.write(text))) return false;
      written += text;
      return true;
    };
    let delivered = 0n;
    let first = true;
    const started = performance.now();
    const elapsedUnits = () => BigInt(Math.max(1, Math.ceil((performance.now() - started) / 1000)));
    let outcome: StreamOutcome;
    try {
      outcome = await this.backend.streamChat(body, async (content, tokens) => {
        if (listing.unit === 0 && base + delivered + BigInt(tokens) > ceiling) return false;
        // A per-second listing stops at what can be paid for, like a token listing at its ceiling.
        if (listing.unit === 2 && elapsedUnits() > ceiling) return false;
        const ok = await send(chunk(first ? { role: "assistant", content } : { content }, null));
        first = false;
        if (ok) delivered += BigInt(tokens);
        return ok;
      });
    } catch (error) {
      // Nothing delivered: an ordinary error (handle() answers it, or ends the stream if it was opened).
      if (!sink.opened) throw error;
      // The upstream failed mid-stream: what was delivered is still reported (and paid).
      this.log.warn({ err: (error as Error).message }, "upstream failed mid-stream; reporting what was delivered");
      outcome = { promptTokens: Number(promptTokens), completionTokens: Number(delivered), finishReason: "length" };
    }
    sink.open({ "x-prsm-unit": UNIT_NAMES[listing.unit] ?? "token" });
    // Metered from what was delivered; never beyond what can be paid (the upstream's own count may differ a little).
    let units = listing.unit === 0 ? BigInt(outcome.promptTokens) + delivered : listing.unit === 1 ? 1n : elapsedUnits();
    if (listing.unit === 0 && sink.closed === false && BigInt(outcome.completionTokens) > delivered) units = BigInt(outcome.promptTokens) + BigInt(outcome.completionTokens);
    if (units > ceiling) units = ceiling;
    if (units < 1n) units = 1n;
    if (!sink.closed) {
      await send(chunk({}, outcome.finishReason));
      const completion = listing.unit === 0 ? Number(units) - outcome.promptTokens : outcome.completionTokens;
      await send(dataEvent({ id, object: "chat.completion.chunk", created, model: this.backend.model, choices: [], usage: { prompt_tokens: outcome.promptTokens, completion_tokens: Math.max(0, completion), total_tokens: outcome.promptTokens + Math.max(0, completion) } }));
    }
    const { receipt } = await this.finish(auth, begun, units, written);
    await sink.write(receiptEvent(receipt));
    await sink.write(DONE);
    sink.end();
  }
}
