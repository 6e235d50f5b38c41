/**
 * Routes a renter's signed query to a rented model. The renter sends an OpenAI-style request with one authorization
 * per escrow it is willing to pay from (X-PRSM-Authorization) and optional hints (X-PRSM-Category, X-PRSM-Listing,
 * X-PRSM-Max-Price). The orchestrator:
 *   - turns the escrows into candidates: open, for a listing some known gateway serves, matching the hints, and not
 *     already spent to its cap by the reports this orchestrator has seen;
 *   - ranks them by measured success rate, latency and price, and tries them in order: a provider that is down,
 *     times out, answers 5xx, answers garbage or returns a report it could not be paid for (over the renter's
 *     authorization or the escrow's cap, not committing to the answer) counts as failed and the next one is tried;
 *     a 400/401 is the renter's error and is returned as is;
 *   - passes the provider's answer through byte for byte (the report commits to those bytes) and hands the report to
 *     the consensus nodes, which settle it on chain.
 * It never holds a renter key and never sends a report beyond the escrow's spend cap.
 */
import type { Hex } from "viem";
import { CATEGORIES } from "../../config/parameters";
import {
  AUTHORIZATION_HEADER,
  formatAuthorizationHeader,
  parseAuthorizationHeader,
  RECEIPT_HEADER,
  requestDigest,
  responseDigest,
  usageResultDigest,
  type UsageAuthorization,
} from "../shared/authorization";
import { readEscrow, type ChainReader, type Escrow } from "../shared/chain";
import { errorReply, type Reply } from "../shared/http";
import { HttpTimeout, post, type HttpReply } from "../shared/http-client";
import { BadRequest, PaymentRequired, WorkerError } from "../shared/errors";
import type { ReportForwarder } from "../shared/forwarder";
import type { Logger } from "../shared/logger";
import { ACKNOWLEDGEMENT_HEADER, formatAcknowledgementHeader, parseAcknowledgementHeader } from "../shared/receipt";
import { parseReport, type UsageReport } from "../shared/usage-report";
import { parseRequest, type Endpoint } from "../provider-gateway/backend";
import type { ProviderRegistry, ServedListing } from "./registry";
import type { StreamSink } from "../shared/sse";
import { relayStream, type RelayContext } from "./stream";
import type { ServiceStats } from "./ranking";
import { applyRouting, parseRouting } from "./routing";

export interface Candidate {
  listingId: bigint;
  pricePerUnit: bigint;
  served: ServedListing;
  escrow: Escrow;
  authorization: UsageAuthorization;
}

export interface Attempt {
  listingId: string;
  escrowId: string;
  outcome: string;
  status?: number;
  ms: number;
}

export interface OrchestratorHooks {
  onAttempt?: (attempt: Attempt) => void;
}

const UINT = /^\d{1,78}$/;

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** A provider's answer that the orchestrator will not pass on or pay for; the next candidate is tried. */
class ProviderFault extends Error {
  constructor(
    readonly outcome: string,
    message: string,
  ) {
    super(message);
  }
}

export class Orchestrator {
  /** escrowId -> immutable escrow terms (renter, listing, price, cap, expiry) as first read */
  private readonly escrows = new Map<string, Escrow>();
  /** escrowId -> highest cumulative units of a report passed on (the chain's settled units lag behind it) */
  private readonly reportedUnits = new Map<string, bigint>();

  constructor(
    private readonly ctx: ChainReader,
    private readonly registry: ProviderRegistry,
    private readonly stats: ServiceStats,
    private readonly forwarder: ReportForwarder,
    private readonly log: Logger,
    private readonly options: { providerTimeoutMs: number },
    private readonly hooks: OrchestratorHooks = {},
  ) {}

  /** Answers a query: a Reply, or null when the answer was streamed into `sink` (`stream: true`, stream.ts). */
  async handle(endpoint: Endpoint, raw: Buffer, headers: Record<string, string | string[] | undefined>, sink?: StreamSink): Promise<Reply | null> {
    try {
      return await this.route(endpoint, raw, headers, sink);
    } catch (error) {
      return errorReply(error, this.log);
    }
  }

  private async route(endpoint: Endpoint, raw: Buffer, headers: Record<string, string | string[] | undefined>, sink?: StreamSink): Promise<Reply | null> {
    const received = performance.now();
    let providerMs = 0;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString("utf8"));
    } catch {
      throw new BadRequest("request body is not valid JSON");
    }
    parseRequest(endpoint, parsed);
    // OpenRouter-style `provider` and `models` (routing.ts); they stay in the signed bytes the provider receives.
    const routing = parseRouting(parsed);
    const authorizations = parseAuthorizationHeader(headers[AUTHORIZATION_HEADER], requestDigest(endpoint, raw));
    // The renter's acknowledgements are the provider's to check (and keep); each gateway gets its escrow's one.
    const acknowledgements = new Map(parseAcknowledgementHeader(headers[ACKNOWLEDGEMENT_HEADER]).map((a) => [a.escrowId.toString(), a]));
    const hints = this.hints(headers);
    const { candidates, skipped } = await this.candidates(authorizations, hints);
    if (candidates.length === 0) {
      const exhausted = skipped.length > 0 && skipped.every((s) => s.reason === "escrow-exhausted");
      const details = { skipped };
      if (exhausted) throw new PaymentRequired("escrow-exhausted", "every escrow offered is spent up to its cap", details);
      throw new WorkerError("no listing matches: check the escrows offered and the hints", "no-candidate", 422, details);
    }

    if ((parsed as { stream?: unknown }).stream === true) {
      if (!sink) throw new BadRequest("this endpoint does not stream");
      return relayStream(this.relayContext(), sink, endpoint, raw, acknowledgements, applyRouting(candidates, routing, this.stats));
    }

    const attempts: Attempt[] = [];
    let paymentRefusal: Reply | undefined;
    for (const candidate of applyRouting(candidates, routing, this.stats)) {
      const started = performance.now();
      const record = (outcome: string, status?: number) => {
        const attempt = { listingId: candidate.listingId.toString(), escrowId: candidate.authorization.escrowId.toString(), outcome, status, ms: Math.round(performance.now() - started) };
        attempts.push(attempt);
        this.hooks.onAttempt?.(attempt);
      };
      let res: HttpReply;
      try {
        const forwarded: Record<string, string> = { "content-type": "application/json", [AUTHORIZATION_HEADER]: formatAuthorizationHeader([candidate.authorization]) };
        const ack = acknowledgements.get(candidate.authorization.escrowId.toString());
        if (ack) forwarded[ACKNOWLEDGEMENT_HEADER] = formatAcknowledgementHeader([ack]);
        res = await post(`${candidate.served.gateway}${endpoint}`, raw, forwarded, this.options.providerTimeoutMs);
      } catch (error) {
        providerMs += performance.now() - started;
        this.stats.recordFailure(candidate.listingId);
        record(error instanceof HttpTimeout ? "timeout" : "unreachable");
        continue;
      }
      const body = res.body;
      const receiptHeader = typeof res.headers[RECEIPT_HEADER] === "string" ? (res.headers[RECEIPT_HEADER] as string) : null;
      providerMs += performance.now() - started;
      if (res.status === 400 || res.status === 401) {
        // The renter's request or signature is wrong: every provider would say the same.
        record("refused", res.status);
        return { status: res.status, body, headers: { "x-prsm-attempts": JSON.stringify(attempts) } };
      }
      if (res.status === 402) {
        paymentRefusal = { status: 402, body, headers: {} };
        record("payment-required", 402);
        continue;
      }
      if (res.status < 200 || res.status >= 300) {
        this.stats.recordFailure(candidate.listingId);
        record("provider-error", res.status);
        continue;
      }
      let report: UsageReport;
      try {
        report = await this.checkReport(candidate, receiptHeader, body);
      } catch (error) {
        this.stats.recordFailure(candidate.listingId);
        const fault = error instanceof ProviderFault ? error : new ProviderFault("bad-receipt", (error as Error).message);
        this.log.warn({ listingId: candidate.listingId.toString(), outcome: fault.outcome, err: fault.message }, "provider answer refused");
        record(fault.outcome, res.status);
        continue;
      }
      const latency = performance.now() - started;
      this.stats.recordSuccess(candidate.listingId, latency);
      record("served", 200);
      // Answers for one escrow may come back out of order: keep the highest total seen.
      const key = report.escrowId.toString();
      if ((this.reportedUnits.get(key) ?? 0n) < report.cumulativeUnits) this.reportedUnits.set(key, report.cumulativeUnits);
      // After the answer is written: serialising and sending would otherwise run before it.
      setImmediate(() => this.forward(candidate, report));
      return {
        status: 200,
        body,
        headers: {
          [RECEIPT_HEADER]: receiptHeader!,
          "x-prsm-listing": candidate.listingId.toString(),
          "x-prsm-escrow": report.escrowId.toString(),
          "x-prsm-provider": candidate.served.listing.provider,
          "x-prsm-unit": String(res.headers["x-prsm-unit"] ?? ""),
          "x-prsm-units": String(res.headers["x-prsm-units"] ?? ""),
          "x-prsm-cumulative-units": report.cumulativeUnits.toString(),
          "x-prsm-attempts": JSON.stringify(attempts),
          // Time spent waiting for providers vs in the orchestrator itself (what the benchmark measures).
          "server-timing": `provider;dur=${providerMs.toFixed(2)}, orchestrator;dur=${(performance.now() - received - providerMs).toFixed(2)}`,
        },
      };
    }
    if (paymentRefusal && attempts.every((a) => a.outcome === "payment-required")) {
      return { ...paymentRefusal, headers: { "x-prsm-attempts": JSON.stringify(attempts) } };
    }
    throw new WorkerError("no provider could serve the request", "providers-failed", 502, { attempts });
  }

  private hints(headers: Record<string, string | string[] | undefined>) {
    const category = header(headers, "x-prsm-category");
    const listing = header(headers, "x-prsm-listing");
    const maxPrice = header(headers, "x-prsm-max-price");
    if (category !== undefined && !CATEGORIES.includes(category)) {
      throw new BadRequest(`x-prsm-category must be one of ${CATEGORIES.join(", ")}`);
    }
    if (listing !== undefined && !UINT.test(listing)) throw new BadRequest("x-prsm-listing must be a listing id");
    if (maxPrice !== undefined && !UINT.test(maxPrice)) throw new BadRequest("x-prsm-max-price must be raw FTNS per unit (an integer)");
    return {
      category: category === undefined ? undefined : CATEGORIES.indexOf(category),
      listingId: listing === undefined ? undefined : BigInt(listing),
      maxPrice: maxPrice === undefined ? undefined : BigInt(maxPrice),
    };
  }

  private async escrow(escrowId: bigint): Promise<Escrow> {
    let escrow = this.escrows.get(escrowId.toString());
    if (!escrow) {
      escrow = await readEscrow(this.ctx, escrowId);
      // Only the terms are cached (they never change); open/closed is the gateway's check on every request.
      if (escrow.status !== 0) this.escrows.set(escrowId.toString(), escrow);
      const settled = escrow.units;
      if ((this.reportedUnits.get(escrowId.toString()) ?? 0n) < settled) this.reportedUnits.set(escrowId.toString(), settled);
    }
    return escrow;
  }

  private async candidates(authorizations: UsageAuthorization[], hints: ReturnType<Orchestrator["hints"]>) {
    const candidates: Candidate[] = [];
    const skipped: { escrowId: string; reason: string }[] = [];
    for (const authorization of authorizations) {
      const escrowId = authorization.escrowId;
      const skip = (reason: string) => skipped.push({ escrowId: escrowId.toString(), reason });
      const escrow = await this.escrow(escrowId);
      if (escrow.status !== 1) {
        skip(escrow.status === 0 ? "no-such-escrow" : "escrow-not-open");
        continue;
      }
      const served = this.registry.get(escrow.listingId);
      if (!served) {
        skip("listing-not-served");
        continue;
      }
      if (served.listing.status !== 1) skip("listing-inactive");
      else if (hints.listingId !== undefined && hints.listingId !== escrow.listingId) skip("listing-hint");
      else if (hints.category !== undefined && hints.category !== served.listing.category) skip("category-hint");
      else if (hints.maxPrice !== undefined && escrow.pricePerUnit > hints.maxPrice) skip("over-max-price");
      else if (((this.reportedUnits.get(escrowId.toString()) ?? 0n) + 1n) * escrow.pricePerUnit > escrow.spendCap) skip("escrow-exhausted");
      else candidates.push({ listingId: escrow.listingId, pricePerUnit: escrow.pricePerUnit, served, escrow, authorization });
    }
    return { candidates, skipped };
  }

  /**
   * Hands a report to the consensus nodes. The provider's signature is not checked here: recovering it costs ~2.5 ms
   * of CPU per query and every node checks it anyway. A node's refusal for a bad signature is what tells the
   * orchestrator (the listing loses rank); such a report cannot be paid by anyone, so the renter lost nothing.
   */
  private forward(candidate: Candidate, report: UsageReport): void {
    this.forwarder.forward(report, (outcome) => {
      const refusal = outcome.refused.find((r) => r.code === "bad-provider-signature" || r.code === "bad-authorization" || r.code === "digest-mismatch");
      if (!refusal) return;
      this.stats.recordFailure(candidate.listingId);
      this.hooks.onAttempt?.({ listingId: candidate.listingId.toString(), escrowId: report.escrowId.toString(), outcome: refusal.code, ms: 0 });
      this.log.warn({ listingId: candidate.listingId.toString(), code: refusal.code }, "consensus nodes refused a provider's usage report");
    });
  }

  private relayContext(): RelayContext {
    return {
      log: this.log,
      timeoutMs: this.options.providerTimeoutMs,
      recordFailure: (id) => this.stats.recordFailure(id),
      onAttempt: (a) => this.hooks.onAttempt?.(a),
      check: (candidate, receipt, bytes) => this.checkReport(candidate, receipt, bytes, true),
      served: (candidate, report, latencyMs) => {
        this.stats.recordSuccess(candidate.listingId, latencyMs);
        const key = report.escrowId.toString();
        if ((this.reportedUnits.get(key) ?? 0n) < report.cumulativeUnits) this.reportedUnits.set(key, report.cumulativeUnits);
        this.forward(candidate, report);
      },
    };
  }

  /**
   * Checks the provider's answer and report (shape, authorization, cap, digests) before it is passed on. A streamed
   * answer's `body` is the stream's bytes before the report event (not one JSON document).
   */
  private async checkReport(candidate: Candidate, header: string | null, body: string, streamed = false): Promise<UsageReport> {
    if (!streamed) {
      try {
        JSON.parse(body);
      } catch {
        throw new ProviderFault("garbage", "the provider's answer is not JSON");
      }
    }
    if (!header) throw new ProviderFault("no-receipt", "the provider answered without a usage report");
    let report: UsageReport;
    try {
      report = parseReport(JSON.parse(Buffer.from(header, "base64url").toString("utf8")));
    } catch (error) {
      throw new ProviderFault("bad-receipt", `unreadable usage report: ${(error as Error).message}`);
    }
    const auth = candidate.authorization;
    const escrow = candidate.escrow;
    if (report.escrowId !== auth.escrowId || report.authorization.signature !== auth.signature) {
      throw new ProviderFault("bad-receipt", "the report is not for the authorization sent");
    }
    if (report.cumulativeUnits > auth.maxCumulativeUnits) {
      throw new ProviderFault("over-reported", `the report claims ${report.cumulativeUnits} units; the renter authorized ${auth.maxCumulativeUnits}`);
    }
    if (report.cumulativeUnits * escrow.pricePerUnit > escrow.spendCap) {
      throw new ProviderFault("over-cap", "the report would charge beyond the escrow's spend cap");
    }
    const digest: Hex = responseDigest(body);
    if (report.responseDigest !== digest || report.resultDigest !== usageResultDigest(this.ctx.domain, auth, digest)) {
      throw new ProviderFault("bad-receipt", "the report does not commit to the answer returned");
    }
    return report;
  }
}
