/**
 * The renter's client: it holds the renter's key, signs an authorization for each query, sends it through an
 * orchestrator, and checks the provider's usage report before trusting it. Used by the `market:query` task, the
 * tests and the benchmark; any wallet could do the same with the EIP-712 type in workers/shared/authorization.ts.
 *
 * How much a query may charge: each authorization allows the escrow's cumulative usage to reach
 *   (last cumulative units a verified report showed) + (budgets of queries still in flight) + (this query's budget),
 * so a provider can never report more than the queries' budgets beyond what the renter has already seen.
 */
import type { Hex, TypedDataDomain } from "viem";
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
import { parseReport, type UsageReport } from "../shared/usage-report";

export interface QueryHints {
  /** Escrows the renter is willing to pay from (one authorization is signed for each). */
  escrowIds: bigint[];
  category?: string;
  listingId?: bigint;
  maxPricePerUnit?: bigint;
  /** Units this query may add at most (default: the client's budget). */
  budgetUnits?: bigint;
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
  /** escrowId -> cumulative units of the latest verified report */
  private readonly seen = new Map<string, bigint>();
  private readonly inFlight = new Map<string, bigint>();

  constructor(
    private readonly account: LocalAccount,
    private readonly domain: TypedDataDomain,
    private readonly orchestratorUrl: string,
    private readonly options: { budgetUnits?: bigint; deadlineSeconds?: number; chainNow?: () => Promise<bigint> } = {},
  ) {}

  /** Starts an escrow's count from what the chain has settled (call once per escrow the client did not see yet). */
  knowUsage(escrowId: bigint, cumulativeUnits: bigint): void {
    const key = escrowId.toString();
    if ((this.seen.get(key) ?? 0n) < cumulativeUnits) this.seen.set(key, cumulativeUnits);
  }

  lastUsage(escrowId: bigint): bigint {
    return this.seen.get(escrowId.toString()) ?? 0n;
  }

  async authorize(path: string, body: string, escrowIds: bigint[], budget: bigint): Promise<UsageAuthorization[]> {
    const now = this.options.chainNow ? await this.options.chainNow() : BigInt(Math.floor(Date.now() / 1000));
    const deadline = now + BigInt(this.options.deadlineSeconds ?? 300);
    const digest = requestDigest(path, body);
    return Promise.all(
      escrowIds.map((escrowId) => {
        const key = escrowId.toString();
        const maxCumulativeUnits = (this.seen.get(key) ?? 0n) + (this.inFlight.get(key) ?? 0n) + budget;
        return signAuthorization(this.account, this.domain, { escrowId, maxCumulativeUnits, requestDigest: digest, deadline });
      }),
    );
  }

  async query(path: "/v1/chat/completions" | "/v1/embeddings", request: object, hints: QueryHints): Promise<QueryResult> {
    const body = JSON.stringify(request);
    const budget = hints.budgetUnits ?? this.options.budgetUnits ?? 4_096n;
    const authorizations = await this.authorize(path, body, hints.escrowIds, budget);
    for (const id of hints.escrowIds) this.inFlight.set(id.toString(), (this.inFlight.get(id.toString()) ?? 0n) + budget);
    try {
      const headers: Record<string, string> = { "content-type": "application/json", [AUTHORIZATION_HEADER]: formatAuthorizationHeader(authorizations) };
      if (hints.category) headers["x-prsm-category"] = hints.category;
      if (hints.listingId !== undefined) headers["x-prsm-listing"] = hints.listingId.toString();
      if (hints.maxPricePerUnit !== undefined) headers["x-prsm-max-price"] = hints.maxPricePerUnit.toString();
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
        const report = this.verify(res.headers.get(RECEIPT_HEADER), text, authorizations);
        result.report = report;
        result.escrowId = report.escrowId;
        result.units = BigInt(res.headers.get("x-prsm-units") ?? "0");
        result.listingId = BigInt(res.headers.get("x-prsm-listing") ?? "0");
        this.knowUsage(report.escrowId, report.cumulativeUnits);
      }
      return result;
    } finally {
      for (const id of hints.escrowIds) this.inFlight.set(id.toString(), (this.inFlight.get(id.toString()) ?? 0n) - budget);
    }
  }

  /** The report must be for one of this query's authorizations, within it, and commit to the body received. */
  private verify(header: string | null, body: string, authorizations: UsageAuthorization[]): UsageReport {
    if (!header) throw new Error("the answer carries no usage report");
    const report = parseReport(JSON.parse(Buffer.from(header, "base64url").toString("utf8")));
    const auth = authorizations.find((a) => a.signature === report.authorization.signature);
    if (!auth) throw new Error("the usage report is not for an authorization of this query");
    if (report.cumulativeUnits > auth.maxCumulativeUnits) throw new Error("the usage report exceeds the authorization");
    const digest: Hex = responseDigest(body);
    if (report.responseDigest !== digest || report.resultDigest !== usageResultDigest(this.domain, auth, digest)) {
      throw new Error("the usage report does not commit to the answer received");
    }
    return report;
  }
}
