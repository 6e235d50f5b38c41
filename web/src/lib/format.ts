/** Display formats: FTNS amounts (18 decimals) with a USD estimate, addresses, times, units. */
import { formatUnits, parseUnits } from "viem";

export const FTNS_DECIMALS = 18;

const toBig = (v: bigint | string | number | null | undefined): bigint => {
  if (v === null || v === undefined || v === "") return 0n;
  return typeof v === "bigint" ? v : BigInt(v);
};

/** "1,234.5678 FTNS" with up to `digits` decimals (small non-zero amounts keep their significant digits). */
export function formatFtns(wei: bigint | string | number | null | undefined, digits = 4, symbol = true): string {
  const value = toBig(wei);
  const text = formatUnits(value, FTNS_DECIMALS);
  const n = Number(text);
  let shown: string;
  if (n !== 0 && Math.abs(n) < 10 ** -digits) shown = Number(n.toPrecision(3)).toString();
  else shown = n.toLocaleString("en-US", { maximumFractionDigits: digits });
  return symbol ? `${shown} FTNS` : shown;
}

/** "≈ $12.34" from FTNS wei and config.usdPerFtns; "" when no price is configured. */
export function formatUsd(wei: bigint | string | number | null | undefined, usdPerFtns: number | null | undefined): string {
  if (usdPerFtns == null || !Number.isFinite(usdPerFtns)) return "";
  const usd = Number(formatUnits(toBig(wei), FTNS_DECIMALS)) * usdPerFtns;
  if (usd !== 0 && Math.abs(usd) < 0.01) return `≈ $${Number(usd.toPrecision(2))}`;
  return `≈ $${usd.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

/** Parses a user-typed FTNS amount ("1.5") into wei; undefined when it is not a non-negative number. */
export function parseFtns(text: string): bigint | undefined {
  const t = text.trim();
  if (!/^\d+(\.\d{0,18})?$|^\.\d{1,18}$/.test(t)) return undefined;
  try {
    return parseUnits(t, FTNS_DECIMALS);
  } catch {
    return undefined;
  }
}

/** "0x1234…abcd" */
export function shortAddress(address: string | null | undefined): string {
  if (!address) return "—";
  return address.length > 12 ? `${address.slice(0, 6)}…${address.slice(-4)}` : address;
}

/** A block timestamp (seconds, as string/bigint/number) as local date and time. */
export function formatTime(seconds: bigint | string | number | null | undefined): string {
  if (seconds === null || seconds === undefined) return "—";
  const n = Number(seconds);
  if (!Number.isFinite(n) || n <= 0) return "—";
  return new Date(n * 1000).toLocaleString();
}

/** "in 2 h 5 min" / "3 min ago" relative to `now` (seconds). */
export function formatRelative(seconds: bigint | string | number, now = Date.now() / 1000): string {
  const delta = Number(seconds) - now;
  const abs = Math.abs(delta);
  const text = formatDuration(abs);
  return delta >= 0 ? `in ${text}` : `${text} ago`;
}

export function formatDuration(totalSeconds: number): string {
  const s = Math.round(totalSeconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.round((s % 86400) / 3600)} h`;
}

/** Billing units as the contracts number them. */
export const UNIT_NAMES = ["token", "request", "second"] as const;
export function unitName(unit: number | null | undefined): string {
  return UNIT_NAMES[unit ?? 0] ?? `unit ${unit}`;
}

export const LISTING_STATUS_NAMES: Record<number, string> = { 1: "active", 2: "paused", 3: "delisted" };
export function listingStatus(status: number): string {
  return LISTING_STATUS_NAMES[status] ?? `status ${status}`;
}

/** Rating as "4.5 ★ (12)" or "no ratings". */
export function formatRating(average: number | null | undefined, count: number): string {
  if (average == null || count === 0) return "no ratings";
  return `${average.toFixed(1)} ★ (${count})`;
}
