/**
 * When an escrow's pending usage is worth a settlement. Each settlement costs gas, amortized over a batch, so a
 * node holds the newest cumulative report per escrow and settles it only when one of these is true:
 *   - its unsettled value reached `minValue` (FTNS wei): the gas is a small share of what it pays;
 *   - its oldest unsettled usage is `maxAgeMs` old: a provider is never kept waiting for long;
 *   - its escrow's last charge time (expiry + grace) is within `expiryMarginSeconds`: after it, nothing can be charged;
 *   - its charges would reach `capFraction` of the spend cap: the renter's gateway will soon stop serving;
 *   - the renter or provider asked for it (POST /settle).
 * Defaults are in DEFAULT_POLICY and documented in docs/operations.md.
 */
export interface SettlementPolicy {
  minValue: bigint;
  maxAgeMs: number;
  expiryMarginSeconds: bigint;
  /** Parts per thousand of the spend cap. */
  capPerMille: bigint;
}

export const DEFAULT_POLICY: SettlementPolicy = {
  minValue: 10n ** 18n, // 1 FTNS
  maxAgeMs: 10 * 60_000,
  expiryMarginSeconds: 600n,
  capPerMille: 900n,
};

export interface DueInput {
  /** Value of the units beyond what the chain accounted. */
  unsettledValue: bigint;
  /** ms since the node first held unsettled usage of the escrow. */
  ageMs: number;
  secondsToLastCharge: bigint;
  chargedAfter: bigint;
  spendCap: bigint;
  requested: boolean;
}

export type DueReason = "value" | "age" | "expiry" | "cap" | "requested";

/** Why the escrow is due now, or undefined if it can wait. */
export function dueReason(policy: SettlementPolicy, e: DueInput): DueReason | undefined {
  if (e.requested) return "requested";
  if (e.secondsToLastCharge <= policy.expiryMarginSeconds) return "expiry";
  if (e.chargedAfter * 1000n >= e.spendCap * policy.capPerMille) return "cap";
  if (e.unsettledValue >= policy.minValue) return "value";
  if (e.ageMs >= policy.maxAgeMs) return "age";
  return undefined;
}
