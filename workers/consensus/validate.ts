/**
 * A node's independent check of a usage report against chain state, before it signs anything: the escrow is open
 * and still chargeable (under the grace of the terms it opened with), the report charges units beyond those the
 * chain has accounted (reports are ordered by cumulative units alone), the charge fits the spend cap at the escrow's
 * fixed price, the escrow's renter (or a session key it authorized for the escrow, workers/shared/session-keys.ts)
 * signed an authorization covering the units (and the report commits to it), and the listing's provider signed the
 * report.
 */
import type { Address } from "viem";
import type { ChainReader, Escrow } from "../shared/chain";
import { latestTimestamp } from "../shared/chain";
import { ReportRejected } from "../shared/errors";
import { recoverProvider, type UsageReport } from "../shared/usage-report";
import { authorizationHash, resultDigestOf } from "../shared/authorization";
import { recoverDigestSigner } from "../shared/recover";
import { sessionKeysFor, type SessionKeyCache } from "../shared/session-keys";

/** The marketplace counts an escrow's units in a uint64. */
const MAX_UNITS = (1n << 64n) - 1n;

export interface ValidatedReport {
  report: UsageReport;
  units: bigint;
  amount: bigint;
}

/** The chain clock's offset from this machine's (a local chain's clock may run ahead); refresh() runs on every tick. */
export class ChainClockOffset {
  private offset = 0n;

  constructor(private readonly ctx: ChainReader) {}

  async refresh(): Promise<void> {
    const chainNow = await latestTimestamp(this.ctx);
    this.offset = chainNow - BigInt(Math.floor(Date.now() / 1000));
  }

  chainNow(): bigint {
    return BigInt(Math.floor(Date.now() / 1000)) + this.offset;
  }
}

/**
 * The renter's side: the report must charge for a request the escrow's renter signed, and no more units than that
 * signature allows. This is what stops a provider from over-reporting: its own signature proves nothing about usage.
 * Returns the signer when it is not the renter (a session key still to be checked against the chain).
 */
function checkAuthorization(ctx: ChainReader, report: UsageReport, renter: Address): Address | undefined {
  const auth = report.authorization;
  if (auth.escrowId !== report.escrowId) {
    throw new ReportRejected("bad-authorization", `the authorization is for escrow ${auth.escrowId}, not ${report.escrowId}`);
  }
  // One EIP-712 digest for both the signature and the resultDigest check.
  const digest = authorizationHash(ctx.domain, auth);
  let signer: Address;
  try {
    signer = recoverDigestSigner(digest, auth.signature);
  } catch {
    throw new ReportRejected("bad-authorization", "the renter's authorization signature does not parse");
  }
  if (report.cumulativeUnits > auth.maxCumulativeUnits) {
    throw new ReportRejected("over-authorized", `cumulative units ${report.cumulativeUnits} exceed the ${auth.maxCumulativeUnits} the renter authorized`, {
      authorized: auth.maxCumulativeUnits.toString(),
    });
  }
  if (resultDigestOf(digest, report.responseDigest) !== report.resultDigest.toLowerCase()) {
    throw new ReportRejected("digest-mismatch", "resultDigest does not commit to this authorization and response");
  }
  return signer.toLowerCase() === renter.toLowerCase() ? undefined : signer;
}

/**
 * An authorization not signed by the renter counts only if its signer is a session key of the escrow under the
 * shared rule (authorized, and the deadline within revokedAt + 600 s, or within 600 s of a read that showed the key
 * active). A chain read at most per (escrow, key) and grace window, cached (workers/shared/session-keys.ts).
 */
async function checkSessionKey(sessionKeys: SessionKeyCache, report: UsageReport, renter: Address, signer: Address): Promise<void> {
  const auth = report.authorization;
  const verdict = await sessionKeys.checkAuthorization(auth.escrowId, signer, auth.deadline);
  if (verdict.ok) return;
  const why = verdict.reason === "revoked"
    ? `it is signed by session key ${signer}, revoked at ${verdict.revokedAt}, and its deadline ${auth.deadline} is past revokedAt + 600 s`
    : verdict.reason === "deadline-too-far"
      ? `it is signed by session key ${signer} and ${verdict.message}`
      : `it is signed by ${signer}, which is neither the escrow's renter nor one of its session keys`;
  throw new ReportRejected("bad-authorization", `the authorization does not count: ${why}`, {
    renter,
    signer,
    ...(verdict.reason === "revoked" ? { revokedAt: verdict.revokedAt.toString() } : {}),
  });
}

/**
 * What the chain would refuse or skip anyway, checked against the node's (possibly slightly stale) copy of the
 * escrow so junk is turned away before it costs a signature check or any state.
 */
export function checkAgainstEscrow(escrow: Escrow, lastChargeAt: bigint, now: bigint, report: UsageReport): ValidatedReport {
  if (escrow.status !== 1) {
    throw new ReportRejected("escrow-not-open", `escrow ${report.escrowId} is not open`, { status: escrow.status });
  }
  if (now > lastChargeAt) {
    throw new ReportRejected("escrow-expired", `escrow ${report.escrowId} can no longer be charged`, {
      lastChargeAt: lastChargeAt.toString(),
    });
  }
  if (report.cumulativeUnits > MAX_UNITS) {
    throw new ReportRejected("units-out-of-range", `cumulative units ${report.cumulativeUnits} do not fit the escrow's uint64 counter`);
  }
  if (report.cumulativeUnits <= escrow.units) {
    throw new ReportRejected("no-new-usage", `cumulative units ${report.cumulativeUnits} are not beyond the ${escrow.units} already accounted`, {
      unitsAccounted: escrow.units.toString(),
    });
  }
  const units = report.cumulativeUnits - escrow.units;
  const amount = units * escrow.pricePerUnit;
  const available = escrow.spendCap - escrow.charged;
  if (amount > available) {
    throw new ReportRejected("over-cap", `charge ${amount} exceeds the ${available} left under the spend cap`, {
      amount: amount.toString(),
      available: available.toString(),
    });
  }
  return { report, units, amount };
}

/**
 * What only signatures can prove: the escrow's renter (or one of its session keys) authorized the request and these
 * units, and the listing's provider signed the report. This is what a node's attestation vouches for; the chain checks the rest.
 */
export async function checkSignatures(
  ctx: ChainReader,
  report: UsageReport,
  renter: Address,
  provider: Address,
  sessionKeys: SessionKeyCache = sessionKeysFor(ctx),
): Promise<void> {
  const sessionSigner = checkAuthorization(ctx, report, renter);
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
  // Last, once everything local holds: only a report the listing's provider signed can make a node read the chain.
  if (sessionSigner) await checkSessionKey(sessionKeys, report, renter, sessionSigner);
}
