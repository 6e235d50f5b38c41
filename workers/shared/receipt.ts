/**
 * Renter receipts: the renter's signed acknowledgement "escrow E has received C units in total". It is the
 * marketplace's own EIP-712 `UsageReceipt(escrowId, cumulativeUnits, deadline)`, so whoever holds it can charge the
 * escrow up to C with `chargeWithReceipt` (final, no dispute window, no committee needed).
 *
 * The renter's client signs one after it has checked an answer (its report's new units match the usage the answer
 * shows) and sends the latest one with its next request in the `X-PRSM-Acknowledgement` header. The provider's
 * gateway serves an escrow only while the usage it reported beyond the renter's latest acknowledgement stays within
 * its credit window, so a renter that stops acknowledging stops being served (see docs/ARCHITECTURE.md, "Fair
 * metering").
 */
import { recoverTypedDataAddress, type Address, type Hex, type TypedDataDomain } from "viem";
import type { LocalAccount } from "viem/accounts";
import { MAX_UINT256 } from "./authorization";
import { BadRequest, WorkerError } from "./errors";

export interface UsageReceipt {
  escrowId: bigint;
  cumulativeUnits: bigint;
  deadline: bigint;
  signature: Hex;
}

export const RECEIPT_TYPES = {
  UsageReceipt: [
    { name: "escrowId", type: "uint256" },
    { name: "cumulativeUnits", type: "uint256" },
    { name: "deadline", type: "uint256" },
  ],
} as const;

/** Header carrying acknowledgements: `escrowId:cumulativeUnits:deadline:signature`, comma-separated when several. */
export const ACKNOWLEDGEMENT_HEADER = "x-prsm-acknowledgement";

function message(r: Omit<UsageReceipt, "signature">) {
  return { escrowId: r.escrowId, cumulativeUnits: r.cumulativeUnits, deadline: r.deadline };
}

export async function signReceipt(account: LocalAccount, marketplaceDomain: TypedDataDomain, r: Omit<UsageReceipt, "signature">): Promise<UsageReceipt> {
  const signature = await account.signTypedData({ domain: marketplaceDomain, types: RECEIPT_TYPES, primaryType: "UsageReceipt", message: message(r) });
  return { ...r, signature };
}

export async function recoverReceiptSigner(marketplaceDomain: TypedDataDomain, r: UsageReceipt): Promise<Address> {
  return recoverTypedDataAddress({ domain: marketplaceDomain, types: RECEIPT_TYPES, primaryType: "UsageReceipt", message: message(r), signature: r.signature });
}

export function formatAcknowledgementHeader(list: UsageReceipt[]): string {
  return list.map((r) => `${r.escrowId}:${r.cumulativeUnits}:${r.deadline}:${r.signature}`).join(",");
}

const UINT = /^\d{1,78}$/;
const SIGNATURE = /^0x[0-9a-fA-F]{130}$/;

/** Parses the acknowledgement header (absent: none); a malformed entry is a 400 naming it. */
export function parseAcknowledgementHeader(value: string | string[] | undefined): UsageReceipt[] {
  const raw = Array.isArray(value) ? value.join(",") : value;
  if (!raw) return [];
  const entries = raw.split(",").map((s) => s.trim()).filter(Boolean);
  if (entries.length > 32) throw new BadRequest(`at most 32 acknowledgements per request, got ${entries.length}`);
  return entries.map((entry, i) => {
    const [escrowId, units, deadline, signature, ...rest] = entry.split(":");
    if (rest.length || !UINT.test(escrowId ?? "") || !UINT.test(units ?? "") || !UINT.test(deadline ?? "") || !SIGNATURE.test(signature ?? "")) {
      throw new WorkerError(`acknowledgement ${i} is malformed: expected escrowId:cumulativeUnits:deadline:0x<65-byte signature>`, "bad-acknowledgement", 400);
    }
    const receipt = { escrowId: BigInt(escrowId!), cumulativeUnits: BigInt(units!), deadline: BigInt(deadline!), signature: signature as Hex };
    if (receipt.escrowId >= MAX_UINT256 || receipt.cumulativeUnits >= MAX_UINT256 || receipt.deadline >= MAX_UINT256) {
      throw new WorkerError(`acknowledgement ${i} is out of range: its fields are uint256`, "bad-acknowledgement", 400);
    }
    return receipt;
  });
}

export interface UsageReceiptJson {
  escrowId: string;
  cumulativeUnits: string;
  deadline: string;
  signature: string;
}

export function receiptToJson(r: UsageReceipt): UsageReceiptJson {
  return { escrowId: r.escrowId.toString(), cumulativeUnits: r.cumulativeUnits.toString(), deadline: r.deadline.toString(), signature: r.signature };
}

export function receiptFromJson(j: UsageReceiptJson): UsageReceipt {
  return { escrowId: BigInt(j.escrowId), cumulativeUnits: BigInt(j.cumulativeUnits), deadline: BigInt(j.deadline), signature: j.signature as Hex };
}
