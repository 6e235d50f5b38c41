/**
 * The renter's client: it holds the renter's key, signs an authorization for each query, sends it through an
 * orchestrator, checks the provider's usage report against the answer it received, and acknowledges what it
 * checked. Used by the `market:query` task, the tests and the benchmark; any wallet could do the same with the
 * EIP-712 types in workers/shared/authorization.ts and workers/shared/receipt.ts.
 *
 * How much a query may charge: each authorization allows the escrow's cumulative usage to reach
 *   (units the renter has acknowledged) + (budgets of queries still in flight) + (this query's budget).
 * The acknowledged count only grows when an answer arrived and its report's new units match the usage the answer
 * itself shows (tokens in its `usage`, one request, or at most the seconds the query took), so a provider that
 * over-reports, answers garbage or never delivers can take at most one query's budget per escrow offered, once:
 * its next reports would exceed every later authorization.
 *
 * Acknowledgements: after a checked answer the client signs the marketplace's `UsageReceipt(escrowId, cumulative
 * units, deadline)` and sends the newest one with its next request (X-PRSM-Acknowledgement). The provider serves an
 * escrow only while its reported usage stays within its credit window of the latest acknowledgement, and may charge
 * the receipt itself on chain.
 */
import type { Address, Hex, TypedDataDomain } from "viem";
import type { LocalAccount } from "viem/accounts";
import {
  AUTHORIZATION_HEADER,
  formatAuthorizationHeader,
  RECEIPT_HEADER,
  requestDigest,
  responseDigest,
  signAuthorization,
  usageResultDigest,
  type UsageAuthorization,
} from "../shared/authorization";
import { ACKNOWLEDGEMENT_HEADER, formatAcknowledgementHeader, signReceipt, type UsageReceipt } from "../shared/receipt";
import { MAX_SESSION_AUTHORIZATION_SECONDS } from "../shared/session-keys";
import { parseReport, recoverProvider, type UsageReport } from "../shared/usage-report";
import { openStream } from "../shared/http-client";
import { MAX_STREAM_BYTES, RECEIPT_EVENT, SseParser } from "../shared/sse";

/** A session key's authorizations: a minute within what gateways accept (workers/shared/session-keys.ts). */
const SESSION_DEADLINE_SECONDS = MAX_SESSION_AUTHORIZATION_SECONDS - 60n;

/** How long a receipt stays chargeable: longer than any escrow can run plus its grace (the chain bounds both). */
const RECEIPT_LIFETIME_SECONDS = 7n * 365n * 24n * 3600n;

/** The provider's report bills units the answer does not show: nothing is acknowledged. */
export class MeteringMismatch extends Error {
  override name = "MeteringMismatch";
  constructor(
    message: string,
    readonly report: UsageReport,
    readonly billedUnits: bigint,
    readonly shownUnits: bigint,
  ) {
    super(message);
  }
}

const UNIT_CODES: Record<string, number> = { token: 0, request: 1, second: 2 };

export interface QueryHints {
  /** Escrows the renter is willing to pay from (one authorization is signed for each). */
  escrowIds: bigint[];
  category?: string;
  listingId?: bigint;
  maxPricePerUnit?: bigint;
  /** Units this query may add at most (default: the client's budget). */
  budgetUnits?: bigint;
}

export interface RenterClientOptions {
  budgetUnits?: bigint;
  deadlineSeconds?: number;
  /**
   * The account is a session key the escrows' renter authorized (IMarketplaceSessionKeys), not the renter itself.
   * Nothing else changes (the client never compares its address with the escrow's renter), but gateways serve a
   * session key's authorization only if its deadline is at most MAX_SESSION_AUTHORIZATION_SECONDS away, so
   * deadlines are capped a minute below that, leaving room for clock differences.
   */
  sessionKey?: boolean;
  chainNow?: () => Promise<bigint>;
  /** The marketplace's EIP-712 domain: acknowledgements are signed in it. */
  marketplaceDomain: TypedDataDomain;
  /**
   * The billing unit (0 token, 1 request, 2 second) of an escrow's listing, read from the chain. Without it the
   * client believes the unit the answer names (X-PRSM-Unit), which a dishonest provider could misstate.
   */
  unitOf?: (escrowId: bigint) => Promise<number>;
  /**
   * The listing's provider for an escrow, read from the chain. When given, every report must carry that provider's
   * signature: a gateway posing as another provider cannot make this client acknowledge its usage.
   */
  providerOf?: (escrowId: bigint) => Promise<Address>;
  /** Unexplained units an escrow may accept over its life (chain usage beyond acknowledgements, cut streams); default the budget. */
  unexplainedAllowance?: bigint;
  /** Called with an escrow's new total of unexplained units accepted (persist it; restore with restoreUnexplained). */
  onUnexplained?: (escrowId: bigint, used: bigint) => void;
}

/** What a streamed query delivered (stream(): the chunks themselves went to `onEvent` as they arrived). */
export interface StreamResult {
  status: number;
  /** Set when the stream was refused before it started (an error body from the orchestrator). */
  body?: string;
  report?: UsageReport;
  listingId?: bigint;
  escrowId?: bigint;
  units?: bigint;
  /** The usage chunk's `usage`, as the provider sent it. */
  usage?: Record<string, unknown>;
  /** Why the stream ended without a checked report (client left, provider cut or stalled). */
  incomplete?: string;
  attempts: unknown[];
}

export interface QueryResult {
  status: number;
  body: string;
  json: Record<string, any>;
  report?: UsageReport;
  listingId?: bigint;
  escrowId?: bigint;
  units?: bigint;
  /** The providers the orchestrator tried, in order, with their outcome. */
  attempts: { listingId: string; escrowId: string; outcome: string; status?: number }[];
}

export class RenterClient {
  /** escrowId -> cumulative units the renter has checked and acknowledged */
  private readonly acked = new Map<string, bigint>();
  /** escrowId -> the newest signed acknowledgement */
  private readonly receipts = new Map<string, UsageReceipt>();
  private readonly inFlight = new Map<string, bigint>();
  /**
   * Streams that ended without a report this client could check. The provider may have reported (and the committee
   * may settle) up to their budgets, and an honest gateway's next report includes what it delivered, so:
   *   leftEarly   budgets of streams the renter itself left: its own choice, covered in full, each one;
   *   cut         at most one budget for streams cut by someone else (provider, orchestrator, network): covered
   *               only out of the escrow's lifetime allowance for unexplained usage (`unexplained`, persisted by
   *               the caller through `onUnexplained`), so a provider cutting its own streams gains at most that.
   * The next checked report (cumulative: it covers them) or the chain's accounting settles both. Authorizations
   * include them (the provider can go on serving); receipts only ever cover usage explained this way or shown.
   */
  private readonly leftEarly = new Map<string, bigint>();
  private readonly cut = new Map<string, bigint>();
  /** escrowId -> unexplained units accepted so far (chain usage beyond the acknowledged, or a cut stream's units). */
  private readonly unexplained = new Map<string, bigint>();
  /** escrowId -> queries in flight, in the order they started (a report that arrives early waits for older ones). */
  private readonly running = new Map<string, { seq: number; done: Promise<unknown> }[]>();
  private seq = 0;

  constructor(
    private readonly account: LocalAccount,
    private readonly domain: TypedDataDomain,
    private readonly orchestratorUrl: string,
    private readonly options: RenterClientOptions,
  ) {}

  /** Starts an escrow's count from what the chain has accounted (call once per escrow the client did not see yet). */
  knowUsage(escrowId: bigint, cumulativeUnits: bigint): void {
    const key = escrowId.toString();
    if ((this.acked.get(key) ?? 0n) < cumulativeUnits) this.acked.set(key, cumulativeUnits);
  }

  lastUsage(escrowId: bigint): bigint {
    return this.acked.get(escrowId.toString()) ?? 0n;
  }

  /**
   * Usage the chain has accounted beyond what this client acknowledged: another of the renter's machines, or a
   * provider that billed through the committee for answers this client never received. Authorizing from it would
   * hand such a provider a fresh budget on every run, so at most `allowance` units of it are accepted per escrow
   * (the caller keeps the allowance across runs); beyond that the escrow should not be offered. Returns the units
   * accepted now (0 when the chain is not ahead), or undefined when the gap exceeds the allowance.
   */
  acceptChainUsage(escrowId: bigint, chainUnits: bigint, allowance?: bigint): bigint | undefined {
    const gap = chainUnits - this.lastUsage(escrowId);
    if (gap <= 0n) return 0n;
    const key = escrowId.toString();
    const left = this.leftEarly.get(key) ?? 0n;
    // Without an explicit allowance: streams the renter left, then the escrow's lifetime allowance.
    if (gap > (allowance ?? left + this.unexplainedRemaining(escrowId))) return undefined;
    this.knowUsage(escrowId, chainUnits);
    this.explain(escrowId, gap);
    return gap;
  }

  /** Units of unexplained usage this escrow may still accept over its life (the default allowance is one budget). */
  unexplainedRemaining(escrowId: bigint): bigint {
    const allowance = this.options.unexplainedAllowance ?? this.options.budgetUnits ?? 4_096n;
    const used = this.unexplained.get(escrowId.toString()) ?? 0n;
    return allowance > used ? allowance - used : 0n;
  }

  /** Takes back the unexplained usage an earlier run accepted (from the caller's ledger). */
  restoreUnexplained(escrowId: bigint, used: bigint): void {
    const key = escrowId.toString();
    if ((this.unexplained.get(key) ?? 0n) < used) this.unexplained.set(key, used);
  }

  /** Accounts `excess` units not shown by an answer: streams the renter left first, then the lifetime allowance. */
  private explain(escrowId: bigint, excess: bigint): void {
    const key = escrowId.toString();
    const left = this.leftEarly.get(key) ?? 0n;
    const fromLeft = left < excess ? left : excess;
    if (left - fromLeft > 0n) this.leftEarly.set(key, left - fromLeft);
    else this.leftEarly.delete(key);
    const rest = excess - fromLeft;
    if (rest > 0n) {
      const used = (this.unexplained.get(key) ?? 0n) + rest;
      this.unexplained.set(key, used);
      this.options.onUnexplained?.(escrowId, used);
    }
    const cut = this.cut.get(key) ?? 0n;
    if (cut > rest) this.cut.set(key, cut - rest);
    else this.cut.delete(key);
  }

  /** Takes back an acknowledgement saved by an earlier run (it is only kept if newer than the one held). */
  restoreReceipt(receipt: UsageReceipt): void {
    const key = receipt.escrowId.toString();
    const current = this.receipts.get(key);
    if (!current || current.cumulativeUnits < receipt.cumulativeUnits) this.receipts.set(key, receipt);
    this.knowUsage(receipt.escrowId, receipt.cumulativeUnits);
  }

  /** The newest acknowledgement signed for an escrow (a receipt its provider can charge). */
  lastReceipt(escrowId: bigint): UsageReceipt | undefined {
    return this.receipts.get(escrowId.toString());
  }

  async authorize(path: string, body: string, escrowIds: bigint[], budget: bigint): Promise<UsageAuthorization[]> {
    const now = this.options.chainNow ? await this.options.chainNow() : BigInt(Math.floor(Date.now() / 1000));
    let seconds = BigInt(this.options.deadlineSeconds ?? 300);
    if (this.options.sessionKey && seconds > SESSION_DEADLINE_SECONDS) seconds = SESSION_DEADLINE_SECONDS;
    const deadline = now + seconds;
    const digest = requestDigest(path, body);
    return Promise.all(
      escrowIds.map((escrowId) => {
        const key = escrowId.toString();
        const cut = this.cut.get(key) ?? 0n;
        const remaining = this.unexplainedRemaining(escrowId);
        const reserved = (this.leftEarly.get(key) ?? 0n) + (cut < remaining ? cut : remaining);
        const maxCumulativeUnits = (this.acked.get(key) ?? 0n) + reserved + (this.inFlight.get(key) ?? 0n) + budget;
        return signAuthorization(this.account, this.domain, { escrowId, maxCumulativeUnits, requestDigest: digest, deadline });
      }),
    );
  }

  async query(path: "/v1/chat/completions" | "/v1/embeddings", request: object, hints: QueryHints): Promise<QueryResult> {
    const body = JSON.stringify(request);
    const budget = hints.budgetUnits ?? this.options.budgetUnits ?? 4_096n;
    const authorizations = await this.authorize(path, body, hints.escrowIds, budget);
    for (const id of hints.escrowIds) this.inFlight.set(id.toString(), (this.inFlight.get(id.toString()) ?? 0n) + budget);
    const mine = this.register(hints.escrowIds);
    try {
      const headers = this.headers(authorizations, hints);
      const started = performance.now();
      const res = await fetch(`${this.orchestratorUrl}${path}`, { method: "POST", headers, body });
      const text = await res.text();
      let json: Record<string, any> = {};
      try {
        json = JSON.parse(text) as Record<string, any>;
      } catch {
        json = { error: { code: "invalid-json", message: text.slice(0, 200) } };
      }
      const attemptsHeader = res.headers.get("x-prsm-attempts");
      const attempts = attemptsHeader ? JSON.parse(attemptsHeader) : (json.error?.details?.attempts ?? []);
      const result: QueryResult = { status: res.status, body: text, json, attempts };
      if (res.ok) {
        const elapsedMs = performance.now() - started;
        const report = await this.verify(res.headers.get(RECEIPT_HEADER), text, authorizations);
        const unit = this.options.unitOf ? await this.options.unitOf(report.escrowId) : UNIT_CODES[res.headers.get("x-prsm-unit") ?? "token"] ?? 0;
        const shown = shownUnits(unit, json, elapsedMs, request as Record<string, any>);
        const billed = await this.checkBilled(report, shown, mine.seq);
        result.report = report;
        result.escrowId = report.escrowId;
        result.units = billed;
        result.listingId = BigInt(res.headers.get("x-prsm-listing") ?? "0");
        await this.acknowledge(report.escrowId, report.cumulativeUnits);
        this.settledReservation(report.escrowId);
      }
      return result;
    } finally {
      mine.finish();
      for (const id of hints.escrowIds) this.inFlight.set(id.toString(), (this.inFlight.get(id.toString()) ?? 0n) - budget);
    }
  }

  /** Records `cumulativeUnits` as received and signs the receipt that says so. */
  async acknowledge(escrowId: bigint, cumulativeUnits: bigint): Promise<UsageReceipt> {
    const key = escrowId.toString();
    const current = this.receipts.get(key);
    if (current && current.cumulativeUnits >= cumulativeUnits) return current;
    const now = this.options.chainNow ? await this.options.chainNow() : BigInt(Math.floor(Date.now() / 1000));
    const receipt = await signReceipt(this.account, this.options.marketplaceDomain, { escrowId, cumulativeUnits, deadline: now + RECEIPT_LIFETIME_SECONDS });
    this.receipts.set(key, receipt);
    this.knowUsage(escrowId, cumulativeUnits);
    return receipt;
  }

  /**
   * A streamed chat query (`stream: true` in `request`): each OpenAI chunk event goes to `onEvent` as it arrives
   * (exact text; return false to stop, e.g. the caller's client left); the provider's report that ends the stream
   * is checked against every byte before it and against the usage the stream shows, then acknowledged. A stream
   * that ends without a checkable report is not acknowledged: its budget stays reserved in later authorizations
   * (the provider may have reported up to it), which bounds what it can cost to one query's budget.
   */
  async stream(request: Record<string, unknown>, hints: QueryHints, onEvent: (text: string, json: Record<string, any> | undefined) => Promise<boolean>): Promise<StreamResult> {
    const path = "/v1/chat/completions";
    const body = JSON.stringify(request);
    const budget = hints.budgetUnits ?? this.options.budgetUnits ?? 4_096n;
    const authorizations = await this.authorize(path, body, hints.escrowIds, budget);
    for (const id of hints.escrowIds) this.inFlight.set(id.toString(), (this.inFlight.get(id.toString()) ?? 0n) + budget);
    const mine = this.register(hints.escrowIds);
    const headers = this.headers(authorizations, hints);
    headers.accept = "text/event-stream";
    let started = false;
    let escrowKey: string | undefined;
    try {
      const t0 = performance.now();
      const upstream = await openStream(`${this.orchestratorUrl}${path}`, body, headers, 120_000);
      const attemptsHeader = upstream.headers["x-prsm-attempts"];
      const attempts = typeof attemptsHeader === "string" ? JSON.parse(attemptsHeader) : [];
      if (upstream.status !== 200 || !String(upstream.headers["content-type"] ?? "").startsWith("text/event-stream")) {
        const chunks: Buffer[] = [];
        for await (const c of upstream.response as AsyncIterable<Buffer>) chunks.push(c);
        return { status: upstream.status, body: Buffer.concat(chunks).toString("utf8"), attempts };
      }
      started = true;
      escrowKey = String(upstream.headers["x-prsm-escrow"] ?? "");
      const parser = new SseParser();
      const decoder = new TextDecoder();
      let before = "";
      let receipt: string | undefined;
      let usage: Record<string, unknown> | undefined;
      let content = "";
      let choices = 0;
      let stopped = false;
      let late = false;
      for await (const chunk of upstream.response as AsyncIterable<Buffer>) {
        for (const event of parser.push(decoder.decode(chunk, { stream: true }))) {
          if (event.event === RECEIPT_EVENT) {
            receipt ??= event.data;
            continue;
          }
          if (event.data === "[DONE]") continue;
          if (receipt !== undefined) {
            late = true; // nothing but [DONE] may follow the report
            continue;
          }
          before += event.raw;
          if (before.length > MAX_STREAM_BYTES) {
            upstream.abort();
            throw new Error(`the stream passed ${MAX_STREAM_BYTES} bytes`);
          }
          let json: Record<string, any> | undefined;
          try {
            json = JSON.parse(event.data);
          } catch {
            json = undefined;
          }
          if (json?.usage) usage = json.usage;
          for (const c of (json?.choices ?? []) as { delta?: { content?: unknown } }[]) {
            if (typeof c.delta?.content === "string") content += c.delta.content;
            choices = Math.max(choices, 1);
          }
          if (!(await onEvent(event.raw, json))) {
            stopped = true;
            upstream.abort();
            break;
          }
        }
        if (stopped) break;
      }
      const listingId = BigInt(String(upstream.headers["x-prsm-listing"] ?? "0"));
      if (!receipt) {
        if (hints.escrowIds.some((id) => id.toString() === escrowKey)) this.reserveUnchecked(escrowKey, budget, stopped);
        return { status: 200, listingId, incomplete: stopped ? "client-left" : "no-report", attempts };
      }
      if (late) throw new Error("the stream carried events after its usage report, which the report does not cover");
      const report = await this.verify(receipt, before, authorizations, true);
      const unit = this.options.unitOf ? await this.options.unitOf(report.escrowId) : UNIT_CODES[String(upstream.headers["x-prsm-unit"] ?? "token")] ?? 0;
      const shown = shownUnits(unit, { usage, choices: [{ message: { content } }].slice(0, choices || 1) }, performance.now() - t0, request as Record<string, any>);
      const billed = await this.checkBilled(report, shown, mine.seq);
      await this.acknowledge(report.escrowId, report.cumulativeUnits);
      this.settledReservation(report.escrowId);
      return { status: 200, report, listingId, escrowId: report.escrowId, units: billed, usage, attempts };
    } catch (error) {
      if (started && escrowKey && hints.escrowIds.some((id) => id.toString() === escrowKey)) this.reserveUnchecked(escrowKey, budget, false);
      throw error;
    } finally {
      mine.finish();
      for (const id of hints.escrowIds) this.inFlight.set(id.toString(), (this.inFlight.get(id.toString()) ?? 0n) - budget);
    }
  }

  /** A stream that ended without a checked report: the renter left it (covered in full) or someone else cut it. */
  private reserveUnchecked(escrowKey: string, budget: bigint, renterLeft: boolean): void {
    if (!escrowKey) return;
    if (renterLeft) this.leftEarly.set(escrowKey, (this.leftEarly.get(escrowKey) ?? 0n) + budget);
    else if ((this.cut.get(escrowKey) ?? 0n) < budget) this.cut.set(escrowKey, budget); // one budget, however many
  }

  /** A checked cumulative report covers every earlier stream of the escrow: nothing stays reserved. */
  private settledReservation(escrowId: bigint): void {
    this.cut.delete(escrowId.toString());
    this.leftEarly.delete(escrowId.toString());
  }

  private register(escrowIds: bigint[]): { seq: number; finish(): void } {
    const seq = ++this.seq;
    let finish!: () => void;
    const done = new Promise<void>((r) => (finish = r));
    for (const id of escrowIds) {
      const key = id.toString();
      this.running.set(key, [...(this.running.get(key) ?? []), { seq, done }]);
    }
    return {
      seq,
      finish: () => {
        finish();
        for (const id of escrowIds) {
          const key = id.toString();
          const left = (this.running.get(key) ?? []).filter((r) => r.seq !== seq);
          if (left.length) this.running.set(key, left);
          else this.running.delete(key);
        }
      },
    };
  }

  /**
   * The new units a checked report bills. Beyond what its answer shows, only what earlier streams explain: first a
   * report that overtook older queries of the escrow waits for them (their acknowledgements lower what it bills),
   * then the streams the renter left, then (a cut stream) the escrow's lifetime allowance. A report behind the
   * acknowledged count (answers arriving out of order) bills nothing new.
   */
  private async checkBilled(report: UsageReport, shown: bigint, seq: number): Promise<bigint> {
    const key = report.escrowId.toString();
    let billed = report.cumulativeUnits - this.lastUsage(report.escrowId);
    if (billed > shown) {
      const older = (this.running.get(key) ?? []).filter((r) => r.seq < seq).map((r) => r.done);
      if (older.length) {
        await Promise.allSettled(older);
        billed = report.cumulativeUnits - this.lastUsage(report.escrowId);
      }
    }
    if (billed <= 0n) return 0n;
    if (billed <= shown) return billed;
    const excess = billed - shown;
    const cut = this.cut.get(key) ?? 0n;
    const remaining = this.unexplainedRemaining(report.escrowId);
    const explainable = (this.leftEarly.get(key) ?? 0n) + (cut < remaining ? cut : remaining);
    if (excess > explainable) throw new MeteringMismatch(`the usage report bills ${billed} new units; the answer shows ${shown}`, report, billed, shown);
    this.explain(report.escrowId, excess);
    return billed;
  }

  /** Units reserved for streams this client could not check (see stream()). */
  unconfirmedUsage(escrowId: bigint): bigint {
    const key = escrowId.toString();
    return (this.leftEarly.get(key) ?? 0n) + (this.cut.get(key) ?? 0n);
  }

  private headers(authorizations: UsageAuthorization[], hints: QueryHints): Record<string, string> {
    const headers: Record<string, string> = { "content-type": "application/json", [AUTHORIZATION_HEADER]: formatAuthorizationHeader(authorizations) };
    if (hints.category) headers["x-prsm-category"] = hints.category;
    if (hints.listingId !== undefined) headers["x-prsm-listing"] = hints.listingId.toString();
    if (hints.maxPricePerUnit !== undefined) headers["x-prsm-max-price"] = hints.maxPricePerUnit.toString();
    const acks = hints.escrowIds.map((id) => this.receipts.get(id.toString())).filter((r): r is UsageReceipt => r !== undefined);
    if (acks.length) headers[ACKNOWLEDGEMENT_HEADER] = formatAcknowledgementHeader(acks);
    return headers;
  }

  /**
   * The report must be for one of this query's authorizations, within it, commit to the body received (for a stream:
   * every byte before the report event), and be signed by the escrow's listing's provider when that is known.
   */
  private async verify(header: string | null, body: string, authorizations: UsageAuthorization[], _streamed = false): Promise<UsageReport> {
    if (!header) throw new Error("the answer carries no usage report");
    const report = parseReport(JSON.parse(Buffer.from(header, "base64url").toString("utf8")));
    const auth = authorizations.find((a) => a.signature === report.authorization.signature);
    if (!auth) throw new Error("the usage report is not for an authorization of this query");
    if (report.escrowId !== auth.escrowId) throw new Error("the usage report is for another escrow than its authorization");
    if (report.cumulativeUnits > auth.maxCumulativeUnits) throw new Error("the usage report exceeds the authorization");
    const digest: Hex = responseDigest(body);
    if (report.responseDigest !== digest || report.resultDigest !== usageResultDigest(this.domain, auth, digest)) {
      throw new Error("the usage report does not commit to the answer received");
    }
    if (this.options.providerOf) {
      const provider = await this.options.providerOf(report.escrowId);
      let signer: string;
      try {
        signer = await recoverProvider(this.domain, report);
      } catch {
        throw new Error("the usage report's provider signature does not parse");
      }
      if (signer.toLowerCase() !== provider.toLowerCase()) throw new Error(`the usage report is signed by ${signer}, not by the listing's provider ${provider}`);
    }
    return report;
  }
}

/**
 * The most units a query can honestly have used, in the listing's billing unit, from what the renter can check
 * itself: one per request; for seconds, the (rounded up) time the renter waited plus one for clock granularity; for
 * tokens, the answer's own `usage`, but never more than the bytes that went each way can justify (every token of a
 * byte-level tokenizer covers at least one byte: UTF-8 bytes of the request's text plus a few per message, bytes of
 * the answer's text plus a few per choice, and at most `max_tokens` completion tokens when the request set it). A
 * provider can thus claim at most the byte bound for an answer, never a budget it did not deliver.
 */
export function shownUnits(unit: number, json: Record<string, any>, elapsedMs: number, request?: Record<string, any>): bigint {
  if (unit === 1) return 1n;
  if (unit === 2) return BigInt(Math.ceil(elapsedMs / 1000) + 1);
  const usage = json.usage as { prompt_tokens?: unknown; completion_tokens?: unknown; total_tokens?: unknown } | undefined;
  if (!usage || typeof usage !== "object") return 0n;
  const n = (v: unknown) => (typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? BigInt(v) : 0n);
  const claimedPrompt = n(usage.prompt_tokens);
  const claimedCompletion = n(usage.completion_tokens);
  const parts = claimedPrompt + claimedCompletion;
  const claimed = n(usage.total_tokens) > parts ? n(usage.total_tokens) : parts;
  if (!request) return claimed;
  const min = (a: bigint, b: bigint) => (a < b ? a : b);
  const promptBound = promptTokenBound(request);
  const completionBound = completionTokenBound(json, request);
  // Each part within its own bound when the answer itself splits them; the total within both otherwise.
  if (parts > 0n && claimed === parts) return min(claimedPrompt, promptBound) + min(claimedCompletion, completionBound);
  return min(claimed, promptBound + completionBound);
}

const PER_MESSAGE_TOKENS = 8n;
const bytes = (text: unknown) => BigInt(typeof text === "string" ? Buffer.byteLength(text, "utf8") : 0);

function promptTokenBound(request: Record<string, any>): bigint {
  if (Array.isArray(request.messages)) {
    return request.messages.reduce((sum: bigint, m: { content?: unknown }) => sum + bytes(m?.content) + PER_MESSAGE_TOKENS, PER_MESSAGE_TOKENS);
  }
  const input = request.input;
  const inputs = Array.isArray(input) ? input : [input];
  return inputs.reduce((sum: bigint, text: unknown) => sum + bytes(text) + PER_MESSAGE_TOKENS, 0n);
}

function completionTokenBound(json: Record<string, any>, request: Record<string, any>): bigint {
  if (!Array.isArray(json.choices)) return 0n;
  let bound = json.choices.reduce((sum: bigint, c: { message?: { content?: unknown }; text?: unknown }) => sum + bytes(c?.message?.content ?? c?.text) + PER_MESSAGE_TOKENS, 0n);
  if (typeof request.max_tokens === "number" && Number.isSafeInteger(request.max_tokens) && request.max_tokens >= 0) {
    const cap = BigInt(request.max_tokens) * BigInt(Math.max(1, json.choices.length));
    if (cap < bound) bound = cap;
  }
  return bound;
}
