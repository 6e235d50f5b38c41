/**
 * The provider gateway's request path. For each OpenAI-style request it:
 *   1. parses the body (400), the renter's authorization for exactly these bytes (401) and the renter's latest
 *      acknowledgement of usage received (X-PRSM-Acknowledgement, optional; 400 if malformed, 401 if not the
 *      renter's),
 *   2. checks the escrow on chain: open, not expired, for a listing this gateway serves, signed by its renter,
 *   3. refuses (402 `acknowledgement-required`) when the usage it reported beyond the renter's latest
 *      acknowledgement (or the chain's accounted units) exceeds its credit window: a renter that stops
 *      acknowledging stops being served, so at most the window plus one query is at stake,
 *   4. refuses (402) when the escrow's spend cap or the renter's authorization cannot cover the request,
 *   5. runs the model, meters the usage in the listing's unit, and checks the total again before answering,
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
import { ACKNOWLEDGEMENT_HEADER, parseAcknowledgementHeader, recoverReceiptSigner, type UsageReceipt } from "../shared/receipt";
import { errorReply, type Reply } from "../shared/http";
import type { Logger } from "../shared/logger";
import { reportToJson, signProviderReport, type UsageReport } from "../shared/usage-report";
import type { Backend, BackendResult, Endpoint } from "./backend";
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

  async handle(endpoint: Endpoint, raw: Buffer, headers: Record<string, string | string[] | undefined>): Promise<Reply> {
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
      return await this.book.withEscrow(auth.escrowId, async () => {
        if (ack) {
          await this.checkAcknowledgementCovers(ack, escrow);
          this.book.acknowledge(ack);
        }
        return this.serve(endpoint, body, auth, escrow);
      });
    } catch (error) {
      if (error instanceof WorkerError && error.status >= 500) this.log.warn({ err: error.message, code: error.code }, "request failed");
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
    if (signer.toLowerCase() !== escrow.renter.toLowerCase()) {
      throw new Unauthorized(`the authorization is signed by ${signer}, not by escrow ${auth.escrowId}'s renter`);
    }
    if (escrow.status !== 1) throw new PaymentRequired("escrow-not-open", `escrow ${auth.escrowId} is closed`);
    if (now > escrow.expiresAt) throw new PaymentRequired("escrow-expired", `escrow ${auth.escrowId} expired at ${escrow.expiresAt}`);
    return escrow;
  }

  /** An acknowledgement counts only if the escrow's renter signed it (it is a receipt the provider can charge). */
  private async checkAcknowledgement(ack: UsageReceipt, escrow: Escrow): Promise<void> {
    let signer: Address;
    try {
      signer = await recoverReceiptSigner(this.ctx.marketplaceDomain, ack);
    } catch {
      throw new Unauthorized("the acknowledgement signature does not parse");
    }
    if (signer.toLowerCase() !== escrow.renter.toLowerCase()) {
      throw new Unauthorized(`the acknowledgement is signed by ${signer}, not by escrow ${ack.escrowId}'s renter`);
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

  private async serve(endpoint: Endpoint, body: Parameters<Backend["run"]>[1], auth: UsageAuthorization, escrow: Escrow) {
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
    const minimum = listing.unit === 0 ? BigInt(this.backend.estimatePromptTokens(endpoint, body)) : 1n;
    this.checkCovered(auth, escrow, before.cumulativeUnits + minimum);

    const started = performance.now();
    const result = await this.backend.run(endpoint, body, `prsm-${auth.requestDigest.slice(2, 26)}`);
    const units = meter(listing.unit, result, performance.now() - started);
    const cumulativeUnits = before.cumulativeUnits + units;
    this.checkCovered(auth, escrow, cumulativeUnits);

    const responseBody = JSON.stringify(result.response);
    const response = responseDigest(responseBody);
    const sequence = before.sequence + 1n;
    const resultDigest = usageResultDigest(this.ctx.domain, auth, response);
    const fields = { escrowId: auth.escrowId, cumulativeUnits, sequence, resultDigest };
    const providerSignature = await signProviderReport(this.ctx.account, this.ctx.domain, fields);
    const report: UsageReport = { ...fields, providerSignature, authorization: auth, responseDigest: response };
    this.book.set(auth.escrowId, { cumulativeUnits, sequence, acknowledged: known?.acknowledged });
    this.hooks.onReport?.(report);
    this.log.debug({ escrowId: auth.escrowId.toString(), units: units.toString(), sequence: sequence.toString() }, "served");
    const receipt = Buffer.from(JSON.stringify(reportToJson(report))).toString("base64url");
    return {
      status: 200,
      body: responseBody,
      headers: {
        [RECEIPT_HEADER]: receipt,
        "x-prsm-unit": UNIT_NAMES[listing.unit] ?? "token",
        "x-prsm-units": units.toString(),
        "x-prsm-cumulative-units": cumulativeUnits.toString(),
      },
    };
  }
}
