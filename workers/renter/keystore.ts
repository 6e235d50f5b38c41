/**
 * The renter's key from an Ethereum V3 keystore file (what geth, MetaMask exports and `cast wallet` write: scrypt or
 * pbkdf2, aes-128-ctr, keccak MAC), decrypted with node:crypto. Hand-written because viem reads raw keys only and
 * ethers' keystore reader would pull ethers into the renter's process; the format is small and fixed.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import type { Hex } from "viem";
import { keccakBytes } from "../shared/native-crypto";

interface V3 {
  version?: number;
  crypto?: V3Crypto;
  Crypto?: V3Crypto;
}
interface V3Crypto {
  cipher: string;
  ciphertext: string;
  cipherparams: { iv: string };
  kdf: "scrypt" | "pbkdf2";
  kdfparams: { dklen: number; salt: string; n?: number; r?: number; p?: number; c?: number; prf?: string };
  mac: string;
}

export class KeystoreError extends Error {
  override name = "KeystoreError";
}

export function decryptKeystore(json: string, password: string): Hex {
  let file: V3;
  try {
    file = JSON.parse(json) as V3;
  } catch {
    throw new KeystoreError("the keystore file is not JSON");
  }
  const c = file.crypto ?? file.Crypto;
  if (file.version !== 3 || !c) throw new KeystoreError("not a version 3 keystore");
  if (c.cipher !== "aes-128-ctr") throw new KeystoreError(`unsupported cipher ${c.cipher}`);
  const salt = Buffer.from(c.kdfparams.salt, "hex");
  const dklen = c.kdfparams.dklen;
  let derived: Buffer;
  if (c.kdf === "scrypt") {
    const { n = 0, r = 8, p = 1 } = c.kdfparams;
    derived = crypto.scryptSync(password, salt, dklen, { N: n, r, p, maxmem: 256 * n * r + 64 * 1024 * 1024 });
  } else if (c.kdf === "pbkdf2") {
    if (c.kdfparams.prf !== "hmac-sha256") throw new KeystoreError(`unsupported pbkdf2 prf ${c.kdfparams.prf}`);
    derived = crypto.pbkdf2Sync(password, salt, c.kdfparams.c ?? 0, dklen, "sha256");
  } else {
    throw new KeystoreError(`unsupported kdf ${String(c.kdf)}`);
  }
  const ciphertext = Buffer.from(c.ciphertext, "hex");
  const mac = Buffer.from(keccakBytes(Buffer.concat([derived.subarray(16, 32), ciphertext]))).toString("hex");
  if (mac !== c.mac.toLowerCase()) throw new KeystoreError("wrong keystore password (MAC mismatch)");
  const decipher = crypto.createDecipheriv("aes-128-ctr", derived.subarray(0, 16), Buffer.from(c.cipherparams.iv, "hex"));
  const key = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  if (key.length !== 32) throw new KeystoreError("the keystore does not hold a 32-byte key");
  return `0x${key.toString("hex")}`;
}

/** Encrypts a key into a V3 keystore (scrypt); for tests and for renters creating one from a raw key. */
export function encryptKeystore(privateKey: Hex, password: string, n = 1 << 14): string {
  const salt = crypto.randomBytes(32);
  const iv = crypto.randomBytes(16);
  const derived = crypto.scryptSync(password, salt, 32, { N: n, r: 8, p: 1, maxmem: 256 * n * 8 + 64 * 1024 * 1024 });
  const cipher = crypto.createCipheriv("aes-128-ctr", derived.subarray(0, 16), iv);
  const ciphertext = Buffer.concat([cipher.update(Buffer.from(privateKey.slice(2), "hex")), cipher.final()]);
  const mac = Buffer.from(keccakBytes(Buffer.concat([derived.subarray(16, 32), ciphertext]))).toString("hex");
  return JSON.stringify({
    version: 3,
    id: crypto.randomUUID(),
    crypto: { cipher: "aes-128-ctr", ciphertext: ciphertext.toString("hex"), cipherparams: { iv: iv.toString("hex") }, kdf: "scrypt", kdfparams: { dklen: 32, salt: salt.toString("hex"), n, r: 8, p: 1 }, mac },
  });
}

export function readKeystore(file: string, password: string): Hex {
  return decryptKeystore(fs.readFileSync(file, "utf8"), password);
}
