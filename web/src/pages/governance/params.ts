/**
 * The marketplace parameters a proposal can change from the Governance page: each setter the timelock may call
 * (IModelMarketplace "governance (timelock)"), the view that reads its current value, the input's unit and bounds,
 * and how a typed value becomes the setter's argument.
 */
import { decodeFunctionData, encodeFunctionData, formatUnits, type Hex } from "viem";
import { marketplaceAbi } from "../../lib/abi";
import { formatFtns, parseFtns } from "../../lib/format";

export type ParamKind = "bps" | "seconds" | "ftns";

export interface ParamSetter {
  setter:
    | "setProtocolFee"
    | "setSettlementGrace"
    | "setDisputeWindow"
    | "setMinProviderBond"
    | "setMinEscrowDeposit"
    | "setMaxEscrowDuration"
    | "setUnbondingDelay";
  view: "protocolFeeBps" | "settlementGrace" | "disputeWindow" | "minProviderBond" | "minEscrowDeposit" | "maxEscrowDuration" | "unbondingDelay";
  label: string;
  kind: ParamKind;
  /** Largest value the argument's type holds (the contract may bound it further: InvalidPeriod, FeeTooHigh). */
  max: bigint;
  help: string;
}

const u = (bits: number) => (1n << BigInt(bits)) - 1n;

export const PARAM_SETTERS: ParamSetter[] = [
  { setter: "setProtocolFee", view: "protocolFeeBps", label: "Protocol fee", kind: "bps", max: 1000n, help: "Share of every charge paid to the treasury, in basis points (100 = 1 %; at most 1,000). Applies to escrows opened afterwards." },
  { setter: "setSettlementGrace", view: "settlementGrace", label: "Settlement grace", kind: "seconds", max: u(48), help: "After an escrow expires, how long its provider may still charge before anyone may close it. New escrows only." },
  { setter: "setDisputeWindow", view: "disputeWindow", label: "Dispute window", kind: "seconds", max: u(48), help: "How long a renter may dispute an attested charge before it is paid out. New escrows only." },
  { setter: "setMinProviderBond", view: "minProviderBond", label: "Minimum provider bond", kind: "ftns", max: u(96), help: "FTNS a listing must bond to be rentable." },
  { setter: "setMinEscrowDeposit", view: "minEscrowDeposit", label: "Minimum escrow deposit", kind: "ftns", max: u(72), help: "Smallest deposit an escrow may open with." },
  { setter: "setMaxEscrowDuration", view: "maxEscrowDuration", label: "Maximum escrow duration", kind: "seconds", max: u(32), help: "Longest an escrow may run, from opening to expiry." },
  { setter: "setUnbondingDelay", view: "unbondingDelay", label: "Unbonding delay", kind: "seconds", max: u(48), help: "How long a delisted listing's bond stays locked." },
];

/** The typed text as the setter's argument, or an error sentence. */
export function parseParam(p: ParamSetter, text: string): { value: bigint } | { error: string } {
  const t = text.trim();
  if (!t) return { error: "Enter a value." };
  let value: bigint | undefined;
  if (p.kind === "ftns") value = parseFtns(t);
  else if (/^\d+$/.test(t)) value = BigInt(t);
  if (value === undefined) return { error: p.kind === "ftns" ? "Enter an FTNS amount such as 100 or 0.5." : "Enter a whole number." };
  if (value > p.max) return { error: `At most ${p.kind === "ftns" ? formatFtns(p.max) : p.max.toString()}.` };
  return { value };
}

export function formatParam(p: ParamSetter, value: bigint | number | undefined): string {
  if (value === undefined) return "—";
  const v = BigInt(value);
  if (p.kind === "ftns") return formatFtns(v);
  if (p.kind === "bps") return `${v} bps (${Number(v) / 100} %)`;
  const s = Number(v);
  const human = s >= 86400 ? `${+(s / 86400).toFixed(2)} days` : s >= 3600 ? `${+(s / 3600).toFixed(2)} h` : s >= 60 ? `${+(s / 60).toFixed(2)} min` : "";
  return `${s} s${human ? ` (${human})` : ""}`;
}

export function encodeParam(p: ParamSetter, value: bigint): Hex {
  // Each setter takes one unsigned integer; the narrower TypeScript types (number for uint16/32/48) are satisfied
  // by converting where the ABI expects a number.
  const arg = p.setter === "setProtocolFee" || p.setter === "setMaxEscrowDuration" || p.setter === "setSettlementGrace" || p.setter === "setDisputeWindow" || p.setter === "setUnbondingDelay" ? Number(value) : value;
  return encodeFunctionData({ abi: marketplaceAbi, functionName: p.setter, args: [arg] } as never);
}

export function defaultDescription(p: ParamSetter, value: bigint): string {
  return `Set the marketplace's ${p.label.toLowerCase()} to ${formatParam(p, value)}`;
}

/** A proposal action in words when it is a call on the marketplace (or raw otherwise). */
export function describeAction(target: string, calldata: string, value: string, marketplace: string): string {
  const eth = BigInt(value || "0") > 0n ? ` sending ${formatUnits(BigInt(value), 18)} native` : "";
  if (target.toLowerCase() === marketplace.toLowerCase()) {
    try {
      const decoded = decodeFunctionData({ abi: marketplaceAbi, data: calldata as Hex });
      const p = PARAM_SETTERS.find((s) => s.setter === decoded.functionName);
      const args = (decoded.args ?? []) as readonly unknown[];
      if (p && args.length === 1) return `Marketplace: ${p.setter}(${formatParam(p, args[0] as bigint)})${eth}`;
      return `Marketplace: ${decoded.functionName}(${args.map((a) => String(a)).join(", ")})${eth}`;
    } catch {
      // not a known marketplace function: fall through
    }
  }
  return `${target}: ${calldata.length > 74 ? `${calldata.slice(0, 74)}…` : calldata}${eth}`;
}
