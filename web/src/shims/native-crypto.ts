/**
 * Browser build of workers/shared/native-crypto.ts (vite.config.ts aliases it here): the same exports, on viem's
 * keccak-256 and noble's secp256k1 instead of the Node addons. Also installs the small Buffer shim the shared
 * signing code needs, before any module that imports this one runs.
 */
import { secp256k1 } from "@noble/curves/secp256k1";
import { keccak256 } from "viem";
import { installBuffer } from "./buffer";

installBuffer();

export const cryptoBackends = { secp256k1: "js", keccak: "js" } as const;

export function keccakBytes(data: Uint8Array): Uint8Array {
  return keccak256(data, "bytes");
}

/** The uncompressed public key (65 bytes) that signed `digest` with the 64-byte `r ‖ s` and recovery id; null if none. */
export function recoverPublicKey(digest: Uint8Array, rs: Uint8Array, recoveryId: 0 | 1): Uint8Array | null {
  try {
    return secp256k1.Signature.fromCompact(rs).addRecoveryBit(recoveryId).recoverPublicKey(digest).toRawBytes(false);
  } catch {
    return null;
  }
}
