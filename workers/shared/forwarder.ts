/**
 * Hands signed usage reports to the consensus nodes.
 *
 * A fresh report goes to its escrow's home nodes only: f+1 of the n configured nodes (f = floor((n-1)/3), the
 * committee's fault bound), starting at position escrowId mod n of the list and continuing round it past any node
 * that is unreachable or answers 5xx. Every node checks every report it is sent (two signature recoveries), so
 * sending each report to all n nodes would make the committee's intake capacity that of a single node; with f+1
 * copies it is n/(f+1) times that (twice, for 4 nodes), and at least one of the copies reaches an honest node even
 * when f of them lie or drop reports. The other members learn the report from its batch proposal and check it then
 * (workers/consensus/node.ts). Reports are cumulative, so only an escrow's newest matters: a resend (`toAll`, the
 * gateway's settler re-sending what is still unsettled) goes to every node.
 *
 * A round where no target accepted or refused (all unreachable, busy or 5xx) is retried with backoff, a bounded number of
 * times. Nodes' refusals (4xx) are final and logged: a report the nodes refuse is never paid.
 */
import { post } from "./http-client";
import type { Logger } from "./logger";
import { reportToJson, type UsageReport } from "./usage-report";

export interface ForwardOutcome {
  accepted: number;
  refused: { node: string; code: string }[];
  unreachable: number;
}

/** How many copies a fresh report gets: f+1 for a committee of n (n >= 3f+1). */
export function homeCopies(n: number): number {
  return Math.min(n, Math.floor((n - 1) / 3) + 1);
}

/** The nodes in the order a report for `escrowId` tries them: its home position first, then round the list. */
export function homeOrder<T>(nodes: readonly T[], escrowId: bigint): T[] {
  if (nodes.length === 0) return [];
  const start = Number(escrowId % BigInt(nodes.length));
  return [...nodes.slice(start), ...nodes.slice(0, start)];
}

type NodeAnswer = "accepted" | "refused" | "unreachable";

export class ReportForwarder {
  private inFlight = 0;

  constructor(
    private readonly nodes: string[],
    private readonly log: Logger,
    private readonly options: { attempts?: number; timeoutMs?: number; copies?: number; onOutcome?: (o: ForwardOutcome) => void } = {},
  ) {}

  get pending(): number {
    return this.inFlight;
  }

  /** Copies of a fresh report (f+1 unless configured). */
  get copies(): number {
    return Math.max(1, Math.min(this.nodes.length, this.options.copies ?? homeCopies(this.nodes.length)));
  }

  /** Sends in the background; never throws. `then` sees the outcome (e.g. to learn that nodes refused it). */
  forward(report: UsageReport, then?: (outcome: ForwardOutcome) => void, toAll = false): void {
    if (this.nodes.length === 0) return;
    this.inFlight++;
    void this.send(report, toAll)
      .then((outcome) => then?.(outcome))
      .finally(() => this.inFlight--);
  }

  async send(report: UsageReport, toAll = false): Promise<ForwardOutcome> {
    const body = JSON.stringify({ report: reportToJson(report) });
    const attempts = this.options.attempts ?? 5;
    const want = toAll ? this.nodes.length : this.copies;
    let outcome: ForwardOutcome = { accepted: 0, refused: [], unreachable: this.nodes.length };
    for (let attempt = 0; attempt < attempts; attempt++) {
      outcome = { accepted: 0, refused: [], unreachable: 0 };
      const ring = homeOrder(this.nodes, report.escrowId);
      let next = 0;
      // `want` lanes; a lane whose node is unreachable moves on to the next untried node of the ring.
      await Promise.all(
        Array.from({ length: want }, async () => {
          while (next < ring.length) {
            const node = ring[next++];
            const answer = await this.sendTo(node, body, outcome);
            if (answer !== "unreachable") return;
          }
        }),
      );
      if (outcome.accepted > 0 || outcome.refused.length > 0) break;
      await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
    }
    const slot = `${report.escrowId}:${report.sequence}`;
    if (outcome.accepted === 0) this.log.warn({ slot, ...outcome }, "no consensus node accepted the usage report");
    else if (outcome.refused.length) this.log.info({ slot, ...outcome }, "some consensus nodes refused the usage report");
    this.options.onOutcome?.(outcome);
    return outcome;
  }

  private async sendTo(node: string, body: string, outcome: ForwardOutcome): Promise<NodeAnswer> {
    try {
      const res = await post(`${node}/reports`, body, { "content-type": "application/json" }, this.options.timeoutMs ?? 10_000);
      let json: { error?: { code?: string } } = {};
      try {
        json = JSON.parse(res.body);
      } catch {
        // not JSON: the status decides
      }
      if (res.status >= 200 && res.status < 300) {
        outcome.accepted++;
        return "accepted";
      }
      // 5xx, or 429 (the node is busy: back-pressure): try another node, or this one again after the backoff.
      if (res.status >= 500 || res.status === 429) {
        outcome.unreachable++;
        return "unreachable";
      }
      outcome.refused.push({ node, code: json.error?.code ?? String(res.status) });
      return "refused";
    } catch {
      outcome.unreachable++;
      return "unreachable";
    }
  }
}

/** Parses a comma-separated list of base URLs (trailing slashes dropped). */
export function urlList(raw: string | undefined): string[] {
  return (raw ?? "")
    .split(",")
    .map((s) => s.trim().replace(/\/$/, ""))
    .filter(Boolean);
}
