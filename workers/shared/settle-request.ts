/**
 * A renter's or provider's request that the committee settle escrows' pending usage now, rather than when the
 * settlement policy would (POST /settle on a consensus node). Signed in the committee's EIP-712 domain, so nobody
 * else can make the nodes spend gas on an escrow, and bounded by a deadline (at most an hour ahead).
 */
import type { Address, Hex, TypedDataDomain } from "viem";
import type { LocalAccount } from "viem/accounts";
import { recoverTypedSigner } from "./recover";

export const SETTLE_REQUEST_TYPES = {
  SettleRequest: [
    { name: "escrowIds", type: "uint256[]" },
    { name: "deadline", type: "uint256" },
  ],
} as const;

export interface SettleRequest {
  escrowIds: bigint[];
  deadline: bigint;
  signature: Hex;
}

export async function signSettleRequest(account: LocalAccount, domain: TypedDataDomain, escrowIds: bigint[], deadline: bigint): Promise<SettleRequest> {
  const signature = await account.signTypedData({ domain, types: SETTLE_REQUEST_TYPES, primaryType: "SettleRequest", message: { escrowIds, deadline } });
  return { escrowIds, deadline, signature };
}

export function settleRequestSigner(domain: TypedDataDomain, r: SettleRequest): Address {
  return recoverTypedSigner(domain, SETTLE_REQUEST_TYPES, "SettleRequest", { escrowIds: r.escrowIds, deadline: r.deadline }, r.signature);
}

export function settleRequestToJson(r: SettleRequest) {
  return { escrowIds: r.escrowIds.map(String), deadline: r.deadline.toString(), signature: r.signature };
}
