/**
 * The session keys this browser keeps for its escrows (the chat page generates one per escrow and authorizes it
 * when the escrow opens, see IMarketplaceSessionKeys). This module only finds the key's address for an escrow, so
 * the Account page can offer to revoke it; it never reads or shows the private key.
 */
import { privateKeyToAccount } from "viem/accounts";
import { isAddress, isHex } from "viem";

/** The storage key names the chat page may use for an escrow's session key (checked in order). */
function candidateNames(chainId: number, marketplace: string, escrowId: string): string[] {
  const m = marketplace.toLowerCase();
  return [
    `prsm:session:${chainId}:${m}:${escrowId}`,
    `prsm:session:${chainId}:${escrowId}`,
    `prsm:sessionKey:${chainId}:${m}:${escrowId}`,
    `prsm:sessionKey:${chainId}:${escrowId}`,
    `prsm.sessionKey.${chainId}.${escrowId}`,
    `prsm-session-${chainId}-${escrowId}`,
    `prsm:session:${escrowId}`,
    `prsm:sessionKey:${escrowId}`,
  ];
}

/** An address from whatever the stored value is: a JSON object with address / privateKey, a private key, an address. */
function addressOf(raw: string): `0x${string}` | undefined {
  let value: unknown = raw;
  try {
    value = JSON.parse(raw);
  } catch {
    // a bare string
  }
  const tryKey = (k: unknown): `0x${string}` | undefined => {
    if (typeof k !== "string") return undefined;
    if (isAddress(k)) return k;
    if (isHex(k) && k.length === 66) {
      try {
        return privateKeyToAccount(k).address;
      } catch {
        return undefined;
      }
    }
    return undefined;
  };
  if (typeof value === "string") return tryKey(value);
  if (value && typeof value === "object") {
    const o = value as Record<string, unknown>;
    return tryKey(o.address) ?? tryKey(o.sessionKey) ?? tryKey(o.key) ?? tryKey(o.privateKey);
  }
  return undefined;
}

/** The stored session key's address for `escrowId`, if this browser has one. */
export function storedSessionKey(chainId: number, marketplace: string, escrowId: string): `0x${string}` | undefined {
  let storage: Storage;
  try {
    storage = window.localStorage;
  } catch {
    return undefined;
  }
  for (const name of candidateNames(chainId, marketplace, escrowId)) {
    const raw = storage.getItem(name);
    if (raw) {
      const address = addressOf(raw);
      if (address) return address;
    }
  }
  return undefined;
}
