/**
 * Hands signed usage reports to the consensus nodes. Every report goes to every configured node (a node that was down
 * learns a report from a peer's batch proposal, and the settler re-sends unsettled ones); a round where no node
 * accepted or refused it (unreachable, 5xx) is retried with backoff, a bounded number of times. Nodes' refusals (4xx) are final and logged: a report the nodes refuse is never paid.
 */
import { post } from "./http-client";
import type { Logger } from "./logger";
import { reportToJson, type UsageReport } from "./usage-report";

export interface ForwardOutcome {
  accepted: number;
  refused: { node: string; code: string }[];
  unreachable: number;
}

export class ReportForwarder {
  private inFlight = 0;

  constructor(
    private readonly nodes: string[],
    private readonly log: Logger,
    private readonly options: { attempts?: number; timeoutMs?: number; onOutcome?: (o: ForwardOutcome) => void } = {},
  ) {}

  get pending(): number {
    return this.inFlight;
  }

  /** Sends in the background; never throws. `then` sees the outcome (e.g. to learn that nodes refused it). */
  forward(report: UsageReport, then?: (outcome: ForwardOutcome) => void): void {
    if (this.nodes.length === 0) return;
    this.inFlight++;
    void this.send(report)
      .then((outcome) => then?.(outcome))
      .finally(() => this.inFlight--);
  }

  async send(report: UsageReport): Promise<ForwardOutcome> {
    const body = JSON.stringify({ report: reportToJson(report) });
    const attempts = this.options.attempts ?? 5;
    let outcome: ForwardOutcome = { accepted: 0, refused: [], unreachable: this.nodes.length };
    for (let attempt = 0; attempt < attempts; attempt++) {
      outcome = { accepted: 0, refused: [], unreachable: 0 };
      await Promise.all(
        this.nodes.map(async (node) => {
          try {
            const res = await post(`${node}/reports`, body, { "content-type": "application/json" }, this.options.timeoutMs ?? 10_000);
            let json: { error?: { code?: string } } = {};
            try {
              json = JSON.parse(res.body);
            } catch {
              // not JSON: the status decides
            }
            if (res.status >= 200 && res.status < 300) outcome.accepted++;
            else if (res.status >= 500) outcome.unreachable++;
            else outcome.refused.push({ node, code: json.error?.code ?? String(res.status) });
          } catch {
            outcome.unreachable++;
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
}

/** Parses a comma-separated list of base URLs (trailing slashes dropped). */
export function urlList(raw: string | undefined): string[] {
  return (raw ?? "")
    .split(",")
    .map((s) => s.trim().replace(/\/$/, ""))
    .filter(Boolean);
}
