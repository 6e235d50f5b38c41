/**
 * Fast EIP-712 recovery (workers/shared/recover.ts) against viem's recoverTypedDataAddress and hashTypedData, on
 * random keys and messages of every type the workers sign, plus malformed signatures: wherever OpenZeppelin's ECDSA
 * would accept a signature both give the same signer (or both throw); where it would not (high s, v not 27/28, wrong
 * length, r or s out of range) recover.ts throws even when viem recovers an address. Ends with a micro-benchmark.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { getAddress, hashTypedData, keccak256, recoverTypedDataAddress, type Address, type Hex, type TypedDataDomain } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { InvalidSignatureError, recoverDigestSigner, recoverTypedSigner, typedDataDigest } from "../../workers/shared/recover";
import { ATTESTATION_TYPES, PROVIDER_REPORT_TYPES, recoverAttester, recoverProvider, signAttestation, signProviderReport, type UsageReport } from "../../workers/shared/usage-report";
import { AUTHORIZATION_TYPES, authorizationHash, recoverRenter, signAuthorization } from "../../workers/shared/authorization";
import { BATCH_TYPES, recoverBatchSigner, signBatch } from "../../workers/shared/batch";
import { fastAccount } from "../../workers/shared/fast-account";
import { cryptoBackends, keccakBytes, recoverPublicKey } from "../../workers/shared/native-crypto";
import { recover as wasmRecover, signRecoverable } from "tiny-secp256k1";
import { encodeAbiParameters } from "viem";
import { reportContentId } from "../../workers/shared/usage-report";
import { resultDigestOf } from "../../workers/shared/authorization";

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

const rand = (bits: number): bigint => BigInt(`0x${randomBytes(bits / 8).toString("hex")}`);
const randHex = (bytes: number): Hex => `0x${randomBytes(bytes).toString("hex")}`;
const word = (n: bigint) => n.toString(16).padStart(64, "0");
/** Mostly random values, sometimes the edges (0 and the type's maximum). */
const uint = (bits: number): bigint => {
  const pick = Math.random();
  return pick < 0.1 ? 0n : pick < 0.2 ? (1n << BigInt(bits)) - 1n : rand(bits);
};

// A type outside the fast path (string and array fields: hashed by viem) and one with every atomic kind it handles.
const MAIL_TYPES = { Mail: [{ name: "contents", type: "string" }, { name: "to", type: "address" }, { name: "ids", type: "uint256[]" }] } as const;
const MIXED_TYPES = {
  Mixed: [
    { name: "delta", type: "int64" },
    { name: "flag", type: "bool" },
    { name: "tag", type: "bytes4" },
    { name: "small", type: "uint8" },
    { name: "who", type: "address" },
    { name: "big", type: "int256" },
  ],
} as const;

interface Case {
  domain: TypedDataDomain;
  types: Record<string, readonly { name: string; type: string }[]>;
  primaryType: string;
  message: Record<string, unknown>;
}

function randomDomain(): TypedDataDomain {
  return Math.random() < 0.5
    ? { name: "FederationCommittee", version: "1", chainId: 31337, verifyingContract: getAddress(randHex(20)) }
    : { name: "ModelMarketplace", version: "2", chainId: BigInt(80002), verifyingContract: randHex(20).toLowerCase() as Address, salt: randHex(32) };
}

function randomCases(): Case[] {
  const domain = randomDomain();
  const int64 = rand(64) - (1n << 63n);
  return [
    { domain, types: PROVIDER_REPORT_TYPES, primaryType: "ProviderUsageReport", message: { escrowId: uint(256), cumulativeUnits: uint(256), sequence: uint(64), resultDigest: randHex(32) } },
    {
      domain,
      types: ATTESTATION_TYPES,
      primaryType: "UsageAttestation",
      message: { marketplace: getAddress(randHex(20)), escrowId: uint(256), cumulativeUnits: uint(256), sequence: uint(64), resultDigest: randHex(32), epoch: uint(64) },
    },
    { domain, types: AUTHORIZATION_TYPES, primaryType: "UsageAuthorization", message: { escrowId: uint(256), maxCumulativeUnits: uint(256), requestDigest: randHex(32), deadline: uint(64) } },
    { domain, types: BATCH_TYPES, primaryType: "UsageBatch", message: { marketplace: randHex(20).toLowerCase(), entriesHash: randHex(32), epoch: Number(rand(32)) } },
    { domain, types: MAIL_TYPES, primaryType: "Mail", message: { contents: `hello ${rand(32)}`, to: getAddress(randHex(20)), ids: [uint(256), uint(256)] } },
    {
      domain,
      types: MIXED_TYPES,
      primaryType: "Mixed",
      message: { delta: int64, flag: Math.random() < 0.5, tag: randHex(4), small: Number(uint(8)), who: getAddress(randHex(20)), big: rand(256) - (1n << 255n) },
    },
  ];
}

async function viemRecover(c: Case, signature: Hex): Promise<Address | "throws"> {
  try {
    return await recoverTypedDataAddress({ domain: c.domain, types: c.types, primaryType: c.primaryType, message: c.message, signature } as never);
  } catch {
    return "throws";
  }
}

function fastRecover(c: Case, signature: Hex): Address | "throws" {
  try {
    return recoverTypedSigner(c.domain, c.types, c.primaryType, c.message, signature);
  } catch {
    return "throws";
  }
}

/** Whether OpenZeppelin's ECDSA.recover(bytes32, bytes) would get past its checks to ecrecover. */
function ozAccepts(signature: Hex): boolean {
  if (!/^0x[0-9a-fA-F]{130}$/.test(signature)) return false;
  const r = BigInt(`0x${signature.slice(2, 66)}`);
  const s = BigInt(`0x${signature.slice(66, 130)}`);
  const v = parseInt(signature.slice(130), 16);
  return (v === 27 || v === 28) && r > 0n && r < N && s > 0n && s <= N / 2n;
}

function variants(signature: Hex): { name: string; signature: Hex }[] {
  const r = BigInt(`0x${signature.slice(2, 66)}`);
  const s = BigInt(`0x${signature.slice(66, 130)}`);
  const v = parseInt(signature.slice(130), 16);
  const sig = (r_: bigint, s_: bigint, v_: number) => `0x${word(r_)}${word(s_)}${v_.toString(16).padStart(2, "0")}` as Hex;
  return [
    { name: "high-s twin", signature: sig(r, N - s, v === 27 ? 28 : 27) },
    { name: "v as y-parity", signature: sig(r, s, v - 27) },
    { name: "v flipped", signature: sig(r, s, v === 27 ? 28 : 27) },
    { name: "v 29", signature: sig(r, s, 29) },
    { name: "v 26", signature: sig(r, s, 26) },
    { name: "r zero", signature: sig(0n, s, v) },
    { name: "s zero", signature: sig(r, 0n, v) },
    { name: "r = n", signature: sig(N, s, v) },
    { name: "r > n", signature: sig(N + 5n, s, v) },
    { name: "s = n/2 + 1", signature: sig(r, N / 2n + 1n, v) },
    { name: "64 bytes (EIP-2098 form)", signature: signature.slice(0, 130) as Hex },
    { name: "66 bytes", signature: `${signature}00` },
    { name: "empty", signature: "0x" },
    { name: "not hex", signature: `0x${"zz".repeat(65)}` as Hex },
    { name: "random r and s", signature: sig(rand(256) % N, (rand(256) % (N / 2n)) + 1n, 27 + Number(rand(8) % 2n)) },
  ];
}

describe("recoverTypedSigner", () => {
  test("agrees with viem on random keys and messages of every signed type, and is stricter exactly where OpenZeppelin is", async () => {
    let compared = 0;
    let strictOnly = 0;
    for (let k = 0; k < 16; k++) {
      const account = privateKeyToAccount(generatePrivateKey());
      for (const c of randomCases()) {
        // The digest first: the precomputed path must be hashTypedData, field for field.
        const viemDigest = hashTypedData({ domain: c.domain, types: c.types, primaryType: c.primaryType, message: c.message } as never);
        assert.equal(typedDataDigest(c.domain, c.types, c.primaryType, c.message), viemDigest, `${c.primaryType} digest`);
        const signature = await account.signTypedData({ domain: c.domain, types: c.types, primaryType: c.primaryType, message: c.message } as never);
        assert.equal(recoverTypedSigner(c.domain, c.types, c.primaryType, c.message, signature), account.address, `${c.primaryType} signer`);
        assert.equal(recoverDigestSigner(viemDigest, signature), account.address);
        // Any other message: another (equal on both sides) address, never the signer.
        const other = { ...c, message: { ...c.message, [c.types[c.primaryType]![0]!.name]: c.primaryType === "Mail" ? "changed" : c.primaryType === "Mixed" ? 7n : 12345n } };
        const moved = fastRecover(other, signature);
        assert.equal(moved, await viemRecover(other, signature));
        assert.notEqual(moved, account.address);
        for (const variant of variants(signature)) {
          const ours = fastRecover(c, variant.signature);
          const theirs = await viemRecover(c, variant.signature);
          if (ozAccepts(variant.signature)) {
            assert.equal(ours, theirs, `${c.primaryType}: ${variant.name} (${variant.signature})`);
            compared++;
          } else {
            assert.equal(ours, "throws", `${c.primaryType}: ${variant.name} must be refused`);
            assert.throws(() => recoverTypedSigner(c.domain, c.types, c.primaryType, c.message, variant.signature), InvalidSignatureError);
            if (theirs !== "throws") strictOnly++;
          }
          if (variant.name === "high-s twin") assert.equal(theirs, account.address, "viem takes the malleable twin; OpenZeppelin (and recover.ts) do not");
        }
      }
    }
    assert.equal(compared, 16 * 6 * 2, "two OpenZeppelin-valid variants per signature (v flipped, random r and s)");
    assert.ok(strictOnly >= 16 * 6 * 2, `viem accepted ${strictOnly} signatures that recover.ts refuses (high s, v 0/1)`);
  });

  test("messages viem cannot hash throw here too (out-of-range integers, bad addresses, wrong byte sizes)", async () => {
    const account = privateKeyToAccount(generatePrivateKey());
    const domain = randomDomain();
    const good = { escrowId: 1n, cumulativeUnits: 2n, sequence: 3n, resultDigest: keccak256("0x01") };
    const signature = await account.signTypedData({ domain, types: PROVIDER_REPORT_TYPES, primaryType: "ProviderUsageReport", message: good });
    const bad: Record<string, unknown>[] = [
      { ...good, sequence: 1n << 64n },
      { ...good, escrowId: -1n },
      { ...good, cumulativeUnits: 1n << 256n },
      { ...good, resultDigest: "0x1234" },
      { ...good, resultDigest: undefined },
      { ...good, escrowId: 1.5 },
    ];
    for (const message of bad) {
      const c: Case = { domain, types: PROVIDER_REPORT_TYPES, primaryType: "ProviderUsageReport", message };
      assert.equal(await viemRecover(c, signature), "throws", JSON.stringify(message, (_, v) => (typeof v === "bigint" ? v.toString() : v)));
      assert.equal(fastRecover(c, signature), "throws");
    }
    const batch = (marketplace: string): Case => ({ domain, types: BATCH_TYPES, primaryType: "UsageBatch", message: { marketplace, entriesHash: keccak256("0x02"), epoch: 1n } });
    const mixedCase = "0x5FbDB2315678afecb367f032d93F642f64180aA3"; // checksum broken by one letter
    assert.equal(await viemRecover(batch(mixedCase), signature), "throws");
    assert.equal(fastRecover(batch(mixedCase), signature), "throws");
    // The checksummed and the lowercase spelling of one address are the same message.
    const address = getAddress(randHex(20));
    assert.equal(typedDataDigest(domain, BATCH_TYPES, "UsageBatch", batch(address).message), typedDataDigest(domain, BATCH_TYPES, "UsageBatch", batch(address.toLowerCase()).message));
  });

  test("the workers' recover functions return their signers", async () => {
    const account = privateKeyToAccount(generatePrivateKey());
    const domain = randomDomain();
    const marketplace = getAddress(randHex(20));
    const fields = { escrowId: 9n, cumulativeUnits: 1_000n, sequence: 4n, resultDigest: keccak256("0x03") };
    const authorization = await signAuthorization(account, domain, { escrowId: 9n, maxCumulativeUnits: 2_000n, requestDigest: keccak256("0x04"), deadline: 1_900_000_000n });
    const report: UsageReport = { ...fields, providerSignature: await signProviderReport(account, domain, fields), authorization, responseDigest: keccak256("0x05") };
    assert.equal(await recoverProvider(domain, report), account.address);
    assert.equal(await recoverAttester(domain, fields, 2n, await signAttestation(account, domain, fields, 2n, marketplace), marketplace), account.address);
    assert.equal(await recoverRenter(domain, authorization), account.address);
    assert.equal(await recoverBatchSigner(domain, marketplace, keccak256("0x06"), 3n, await signBatch(account, domain, marketplace, keccak256("0x06"), 3n)), account.address);
    assert.equal(
      authorizationHash(domain, authorization),
      hashTypedData({ domain, types: AUTHORIZATION_TYPES, primaryType: "UsageAuthorization", message: { escrowId: 9n, maxCumulativeUnits: 2_000n, requestDigest: authorization.requestDigest, deadline: 1_900_000_000n } }),
    );
    // A high-s twin of the renter's signature is refused (it would recover the renter in viem).
    const s = BigInt(`0x${authorization.signature.slice(66, 130)}`);
    const v = parseInt(authorization.signature.slice(130), 16);
    const twin = `${authorization.signature.slice(0, 66)}${word(N - s)}${(v === 27 ? 28 : 27).toString(16)}` as Hex;
    await assert.rejects(recoverRenter(domain, { ...authorization, signature: twin }), InvalidSignatureError);
  });

  test("native keccak and key recovery give the portable code's answers; hand-written encodings match viem's", () => {
    assert.deepEqual(cryptoBackends, { secp256k1: "native", keccak: "native" }, "the prebuilt addons load on this platform");
    for (let i = 0; i < 200; i++) {
      const data = randomBytes(i);
      assert.equal(Buffer.from(keccakBytes(data)).toString("hex"), keccak256(data).slice(2));
      const digest = randomBytes(32);
      const { signature, recoveryId } = signRecoverable(digest, randomBytes(32));
      assert.deepEqual(Buffer.from(recoverPublicKey(digest, signature, recoveryId as 0 | 1)!), Buffer.from(wasmRecover(digest, signature, recoveryId, false)!));
      const r = { escrowId: uint(256), cumulativeUnits: uint(256), sequence: uint(64), resultDigest: randHex(32) };
      assert.equal(reportContentId(r), keccak256(encodeAbiParameters([{ type: "uint256" }, { type: "uint256" }, { type: "uint64" }, { type: "bytes32" }], [r.escrowId, r.cumulativeUnits, r.sequence, r.resultDigest])));
      const a = randHex(32), b = randHex(32);
      assert.equal(resultDigestOf(a, b), keccak256(encodeAbiParameters([{ type: "bytes32" }, { type: "bytes32" }], [a, b])));
    }
    assert.throws(() => reportContentId({ escrowId: 1n, cumulativeUnits: 1n, sequence: 1n << 64n, resultDigest: randHex(32) }), RangeError);
    assert.throws(() => resultDigestOf(randHex(31), randHex(32)), TypeError);
  });

  test("fastAccount signs byte for byte what viem's account signs", async () => {
    for (let round = 0; round < 20; round++) {
      const key = generatePrivateKey();
      const slow = privateKeyToAccount(key);
      const fast = fastAccount(key);
      assert.equal(fast.address, slow.address);
      for (const c of randomCases()) {
        const definition = { domain: c.domain, types: c.types, primaryType: c.primaryType, message: c.message } as never;
        assert.equal(await fast.signTypedData(definition), await slow.signTypedData(definition), c.primaryType);
      }
    }
  });

  test("micro-benchmark: a provider report's signer, viem vs recover.ts", async (t) => {
    const account = privateKeyToAccount(generatePrivateKey());
    const domain = randomDomain();
    const signed: { message: Record<string, unknown>; signature: Hex }[] = [];
    for (let i = 0; i < 150; i++) {
      const message = { escrowId: BigInt(i), cumulativeUnits: uint(64), sequence: BigInt(i + 1), resultDigest: randHex(32) };
      signed.push({ message, signature: await account.signTypedData({ domain, types: PROVIDER_REPORT_TYPES, primaryType: "ProviderUsageReport", message }) });
    }
    const perCall = async (f: (m: (typeof signed)[number]) => unknown): Promise<number> => {
      for (const m of signed.slice(0, 30)) await f(m); // warm up
      const start = performance.now();
      for (const m of signed) await f(m);
      return (performance.now() - start) / signed.length;
    };
    const viemMs = await perCall((m) => recoverTypedDataAddress({ domain, types: PROVIDER_REPORT_TYPES, primaryType: "ProviderUsageReport", message: m.message as never, signature: m.signature }));
    const hashMs = await perCall((m) => hashTypedData({ domain, types: PROVIDER_REPORT_TYPES, primaryType: "ProviderUsageReport", message: m.message as never }));
    const digestMs = await perCall((m) => typedDataDigest(domain, PROVIDER_REPORT_TYPES, "ProviderUsageReport", m.message));
    const fastMs = await perCall((m) => recoverTypedSigner(domain, PROVIDER_REPORT_TYPES, "ProviderUsageReport", m.message, m.signature));
    const line = `viem recoverTypedDataAddress ${viemMs.toFixed(3)} ms/call (hashTypedData ${hashMs.toFixed(3)} ms); recover.ts ${fastMs.toFixed(3)} ms/call (digest ${digestMs.toFixed(3)} ms): ${(viemMs / fastMs).toFixed(1)}x`;
    t.diagnostic(line);
    console.log(`# ${line}`);
    assert.ok(fastMs * 2 < viemMs, line); // loose: the machine is shared
  });
});
