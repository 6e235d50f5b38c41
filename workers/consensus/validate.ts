/**
 * A node's independent check of a usage report against chain state, before it signs anything: the escrow is open
 * and still chargeable, the report is newer than the last settled one, the units only grow, the charge fits the
 * spend cap at the escrow's fixed price, and the listing's provider signed the report.
 */
import type { Address } from "viem";
import type { ChainContext } from "../shared/chain";
import { latestTimestamp, readEscrow, readListing, readSettlementGrace } from "../shared/chain";
import { ReportRejected } from "../shared/errors";
import { recoverProvider, type UsageReport } from "./report";

export interface ValidatedReport {
  report: UsageReport;
  units: bigint;
  amount: bigint;
}

/**
 * What a node reads rarely instead of per report: a listing's provider (fixed when listed), the settlement grace (a
 * governance parameter) and the chain clock's offset from this machine's (a local chain's clock may run ahead).
 * refresh() runs on every tick, so a changed parameter is picked up within one gossip interval.
 */
export class ChainSnapshot {
  private readonly providers = new Map<bigint, Address>();
  private grace = 0n;
  private clockOffset = 0n;

  constructor(private readonly ctx: ChainContext) {}

  async refresh(): Promise<void> {
    const [grace, chainNow] = await Promise.all([readSettlementGrace(this.ctx), latestTimestamp(this.ctx)]);
    this.grace = grace;
    this.clockOffset = chainNow - BigInt(Math.floor(Date.now() / 1000));
  }

  settlementGrace(): bigint {
    return this.grace;
  }

  chainNow(): bigint {
    return BigInt(Math.floor(Date.now() / 1000)) + this.clockOffset;
  }

  async provider(listingId: bigint): Promise<Address> {
    let provider = this.providers.get(listingId);
    if (!provider) {
      provider = (await readListing(this.ctx, listingId)).provider;
      this.providers.set(listingId, provider);
    }
    return provider;
  }
}

export async function validateReport(ctx: ChainContext, snapshot: ChainSnapshot, report: UsageReport): Promise<ValidatedReport> {
  const escrow = await readEscrow(ctx, report.escrowId);
  const grace = snapshot.settlementGrace();
  const now = snapshot.chainNow();
  if (escrow.status !== 1) {
    throw new ReportRejected("escrow-not-open", `escrow ${report.escrowId} is not open`, { status: escrow.status });
  }
  if (now > escrow.expiresAt + grace) {
    throw new ReportRejected("escrow-expired", `escrow ${report.escrowId} can no longer be charged`, {
      lastChargeAt: (escrow.expiresAt + grace).toString(),
    });
  }
  if (report.sequence <= escrow.sequence) {
    throw new ReportRejected("stale-sequence", `sequence ${report.sequence} is not after ${escrow.sequence}`, {
      lastSequence: escrow.sequence.toString(),
    });
  }
  const unitsCharged = escrow.charged / escrow.pricePerUnit;
  if (report.cumulativeUnits < unitsCharged) {
    throw new ReportRejected("units-decreased", `cumulative units ${report.cumulativeUnits} < ${unitsCharged} already charged`);
  }
  const units = report.cumulativeUnits - unitsCharged;
  const amount = units * escrow.pricePerUnit;
  const available = escrow.spendCap - escrow.charged;
  if (amount > available) {
    throw new ReportRejected("over-cap", `charge ${amount} exceeds the ${available} left under the spend cap`, {
      amount: amount.toString(),
      available: available.toString(),
    });
  }
  const provider = await snapshot.provider(escrow.listingId);
  let signer: string;
  try {
    signer = await recoverProvider(ctx.domain, report);
  } catch {
    throw new ReportRejected("bad-provider-signature", "the provider signature does not parse");
  }
  if (signer.toLowerCase() !== provider.toLowerCase()) {
    throw new ReportRejected("bad-provider-signature", "the report is not signed by the listing's provider", {
      provider,
      signer,
    });
  }
  return { report, units, amount };
}
