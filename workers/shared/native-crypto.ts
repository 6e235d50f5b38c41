/**
 * keccak-256 and secp256k1 public-key recovery through native libraries when they load, which is most of a
 * consensus node's CPU per report: libsecp256k1 (the `secp256k1` package's prebuilt addon) recovers a key in ~80 us
 * against ~360 us for tiny-secp256k1's WASM build, and the `keccak` addon hashes a short input in ~7 us against
 * ~26 us for viem's (noble's) JS. Both packages ship prebuilt binaries for linux-x64 inside their npm tarballs
 * (nothing is compiled or downloaded); where an addon does not load, the same answer comes from the portable code.
 */
import path from "node:path";
import { recover as wasmRecover } from "tiny-secp256k1";
import { keccak256 } from "viem";

type NativeRecover = (signature: Uint8Array, recoveryId: number, digest: Uint8Array, compressed: boolean) => Uint8Array;
/** The `keccak` addon's sponge (its package wraps it in a stream class that costs more than the hash). */
type KeccakState = { initialize(rate: number, capacity: number): void; absorb(data: Buffer): void; squeeze(length: number): Buffer };

function load<T>(load: () => T): T | undefined {
  try {
    return load();
  } catch {
    return undefined;
  }
}

// The addons' own entry points (the packages' index files fall back to slow pure-JS code instead).
const nativeRecover = load(() => (require("secp256k1/bindings") as { ecdsaRecover: NativeRecover }).ecdsaRecover);
const keccakState = load(() => {
  const dir = path.dirname(require.resolve("keccak/package.json"));
  const addon = require(require.resolve("node-gyp-build", { paths: [dir] }))(dir) as new () => KeccakState;
  return new addon();
});

/** Which implementations this process uses (logged by the consensus node at start). */
export const cryptoBackends = { secp256k1: nativeRecover ? "native" : "wasm", keccak: keccakState ? "native" : "js" } as const;

export function keccakBytes(data: Uint8Array): Uint8Array {
  if (!keccakState) return keccak256(data, "bytes");
  // Keccak-256: rate 1088, capacity 512, the original 0x01 padding (synchronous, so one state serves every call).
  keccakState.initialize(1088, 512);
  keccakState.absorb(Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  return keccakState.squeeze(32);
}

/** The uncompressed public key (65 bytes) that signed `digest` with the 64-byte `r ‖ s` and recovery id; null if none. */
export function recoverPublicKey(digest: Uint8Array, rs: Uint8Array, recoveryId: 0 | 1): Uint8Array | null {
  if (nativeRecover) {
    try {
      return nativeRecover(rs, recoveryId, digest, false);
    } catch {
      return null; // libsecp256k1 found no point
    }
  }
  return wasmRecover(digest, rs, recoveryId, false);
}
