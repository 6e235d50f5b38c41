/**
 * TransactionSender against a real Hardhat node (bare, port 8793) through a JSON-RPC proxy that can fail requests:
 * overlapping sends take consecutive nonces and all mine; a transaction priced under the base fee is replaced at its
 * nonce with higher fees and the mined version's receipt comes back; one that cannot be mined is given up and its
 * nonce goes to the next send; a reverting call is never sent and uses no nonce; a failed submission (lost request
 * or lost answer) and a nonce used by someone else leave no gap for later sends.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { encodeFunctionData, type Address, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { TransactionSender } from "../../workers/shared/sender";
import { privateKeyOf } from "../e2e/harness";
import { contextFor, installProbe, PROBE_ABI, RpcProxy, startBareChain, toQuantity, waitUntil, type BareChain } from "./chain-support";

const PORT = 8793;
const KEY = privateKeyOf(5); // a funded Hardhat dev key
const PROBE = "0x00000000000000000000000000000000000b0b00" as Address;

let chain: BareChain;
let proxy: RpcProxy;
const account = privateKeyToAccount(KEY);
const bump = (fail = false) => ({ address: PROBE, abi: PROBE_ABI, functionName: "bump", args: [fail] as const });

const pendingNonce = () => chain.client.getTransactionCount({ address: account.address, blockTag: "pending" });
const minedNonce = () => chain.client.getTransactionCount({ address: account.address, blockTag: "latest" });
const count = () => chain.client.readContract({ address: PROBE, abi: PROBE_ABI, functionName: "count" });
const sentHashes = () => proxy.requests.filter((r) => r.method === "eth_sendRawTransaction" && typeof r.result === "string").map((r) => r.result as Hex);

function sender(options: ConstructorParameters<typeof TransactionSender>[1] = {}) {
  return new TransactionSender(contextFor(proxy.url, account, PROBE), { pollMs: 30, ...options });
}

async function withManualMining<T>(work: () => Promise<T>): Promise<T> {
  await chain.rpc("evm_setAutomine", [false]);
  try {
    return await work();
  } finally {
    await chain.rpc("evm_setAutomine", [true]);
  }
}

describe("TransactionSender", { timeout: 120_000 }, () => {
  before(async () => {
    chain = await startBareChain(PORT);
    await installProbe(chain, PROBE);
    proxy = new RpcProxy(chain.rpcUrl);
    await proxy.start();
  });

  after(async () => {
    await proxy?.stop();
    await chain?.stop();
  });

  test("overlapping sends are all in the pool at once, at consecutive nonces, and all mine", async () => {
    const s = sender({ replaceAfterMs: 60_000 });
    const start = await pendingNonce();
    const before = await count();
    await withManualMining(async () => {
      const sends = Array.from({ length: 8 }, () => s.send(bump()));
      // None waits for another's receipt: all eight are submitted before a single block is mined.
      await waitUntil("eight transactions in the pool", () => s.stats.sent === 8);
      assert.equal(await pendingNonce(), start + 8);
      assert.equal(await minedNonce(), start, "nothing mined yet");
      await chain.rpc("evm_mine");
      const results = await Promise.all(sends);
      const nonces = await Promise.all(results.map(async (r) => (await chain.client.getTransaction({ hash: r!.hash })).nonce));
      assert.deepEqual([...nonces].sort((a, b) => a - b), Array.from({ length: 8 }, (_, i) => start + i));
      assert.ok(results.every((r) => r!.receipt.status === "success"));
      assert.equal(new Set(results.map((r) => r!.receipt.blockNumber)).size, 1, "one block took them all");
      const gas = results.reduce((sum, r) => sum + r!.receipt.gasUsed, 0n);
      assert.deepEqual({ ...s.stats, gasUsed: s.stats.gasUsed }, { sent: 8, replaced: 0, failed: 0, rejected: 0, mined: 8, gasUsed: gas, inFlight: 0 });
    });
    assert.equal(await count(), before + 8n);
    // And on an automining chain, concurrent sends mine one after another without nonce clashes.
    const auto = await Promise.all(Array.from({ length: 5 }, () => s.send(bump())));
    assert.ok(auto.every((r) => r!.receipt.status === "success"));
    assert.equal(await count(), before + 13n);
  });

  test("a transaction priced under the base fee is replaced at its nonce with higher fees; the mined version's receipt comes back", async () => {
    const s = sender({ replaceAfterMs: 300 });
    const nonce = await pendingNonce();
    const sentBefore = sentHashes().length;
    await withManualMining(async () => {
      const sending = s.send(bump());
      await waitUntil("the first version in the pool", () => s.stats.sent === 1);
      const first = sentHashes()[sentBefore]!;
      const v1 = await chain.client.getTransaction({ hash: first });
      assert.equal(v1.nonce, nonce);
      // The base fee jumps above what the first version offers: a block is mined without it.
      await chain.rpc("hardhat_setNextBlockBaseFeePerGas", [toQuantity(v1.maxFeePerGas! * 2n)]);
      await chain.rpc("evm_mine");
      assert.equal(await minedNonce(), nonce, "the first version is stuck");
      await waitUntil("a replacement", () => s.stats.replaced >= 1);
      await chain.rpc("evm_mine");
      const result = (await sending)!;
      const mined = await chain.client.getTransaction({ hash: result.hash });
      assert.notEqual(result.hash, first, "the receipt is the replacement's");
      assert.equal(result.hash, sentHashes().at(-1));
      assert.equal(mined.nonce, nonce);
      assert.ok(mined.maxFeePerGas! * 1000n >= v1.maxFeePerGas! * 1125n, "fees raised by at least 12.5%");
      assert.ok(mined.maxPriorityFeePerGas! * 1000n >= v1.maxPriorityFeePerGas! * 1125n);
      assert.equal(result.receipt.status, "success");
      await assert.rejects(chain.client.getTransactionReceipt({ hash: first }), "the first version never mined");
      assert.equal(s.stats.failed, 0);
      assert.equal(s.stats.mined, 1);
    });
  });

  test("a transaction that cannot be mined is given up after its replacements, and its nonce goes to the next send", async () => {
    const s = sender({ replaceAfterMs: 200, maxReplacements: 2 });
    const nonce = await pendingNonce();
    const before = await count();
    await withManualMining(async () => {
      // No block is mined at all: the sender replaces twice, waits once more, and gives up.
      const started = Date.now();
      await assert.rejects(s.send(bump()), /not mined after 2 replacements/);
      assert.ok(Date.now() - started >= 3 * 200);
      assert.equal(s.stats.replaced, 2);
      assert.equal(s.stats.failed, 1);
      const givenUp = sentHashes().at(-1)!;
      const lastFee = (await chain.client.getTransaction({ hash: givenUp })).maxFeePerGas!;
      // The next call takes the nonce over, outbidding the given-up version, instead of queueing behind it.
      const sending = s.send(bump());
      await waitUntil("the next send in the pool", () => s.stats.sent === 2);
      const takeover = sentHashes().at(-1)!;
      const tx = await chain.client.getTransaction({ hash: takeover });
      assert.equal(tx.nonce, nonce);
      assert.ok(tx.maxFeePerGas! > lastFee);
      await chain.rpc("evm_mine");
      const result = (await sending)!;
      assert.equal(result.hash, takeover);
      assert.equal(result.receipt.status, "success");
    });
    assert.equal(await count(), before + 1n, "one of the two calls ran: the given-up one was replaced");
    assert.equal(await minedNonce(), nonce + 1);
    const next = (await s.send(bump()))!;
    assert.equal((await chain.client.getTransaction({ hash: next.hash })).nonce, nonce + 1);
  });

  test("a reverting call is never sent and uses no nonce; the next send still works", async () => {
    const s = sender();
    const nonce = await pendingNonce();
    const submissions = proxy.count("eth_sendRawTransaction");
    await assert.rejects(s.send(bump(true)), /refused/);
    assert.equal(proxy.count("eth_sendRawTransaction"), submissions, "nothing was submitted");
    assert.equal(await pendingNonce(), nonce);
    assert.deepEqual([s.stats.sent, s.stats.rejected, s.stats.failed], [0, 1, 0]);
    // beforeSend saying no sends nothing either.
    assert.equal(await s.send(bump(), async () => false), undefined);
    const ok = (await s.send(bump()))!;
    assert.equal((await chain.client.getTransaction({ hash: ok.hash })).nonce, nonce);
    assert.equal(ok.receipt.status, "success");
  });

  test("failed submissions leave no nonce gap: a lost request, a lost answer, a nonce used elsewhere", async () => {
    const s = sender();
    await s.send(bump()); // the sender now counts nonces locally
    // 1. The request never reaches the node: the send fails, the nonce is reused by the next send.
    let nonce = await pendingNonce();
    proxy.rule = (method) => (method === "eth_sendRawTransaction" ? "drop" : "pass");
    await assert.rejects(s.send(bump()));
    proxy.rule = () => "pass";
    assert.equal(s.stats.failed, 1);
    let next = (await s.send(bump()))!;
    assert.equal((await chain.client.getTransaction({ hash: next.hash })).nonce, nonce);
    // 2. The node takes (and mines) it but the answer is lost: the next send re-reads and does not reuse the nonce.
    nonce = await pendingNonce();
    proxy.rule = (method) => (method === "eth_sendRawTransaction" ? "lose-response" : "pass");
    await assert.rejects(s.send(bump()));
    proxy.rule = () => "pass";
    assert.equal(await minedNonce(), nonce + 1, "it did go through");
    next = (await s.send(bump()))!;
    assert.equal((await chain.client.getTransaction({ hash: next.hash })).nonce, nonce + 1);
    // 3. Another process with the same key takes the next nonce: the send retries at a re-read nonce by itself.
    nonce = await pendingNonce();
    const other = contextFor(chain.rpcUrl, account, PROBE);
    await other.walletClient.sendTransaction({
      account,
      chain: other.chain,
      to: PROBE,
      data: encodeFunctionData({ abi: PROBE_ABI, functionName: "bump", args: [false] }),
      nonce,
    });
    const failedBefore = s.stats.failed;
    const submissions = proxy.requests.filter((r) => r.method === "eth_sendRawTransaction").length;
    next = (await s.send(bump()))!;
    const tries = proxy.requests.filter((r) => r.method === "eth_sendRawTransaction").slice(submissions);
    assert.deepEqual(tries.map((r) => typeof r.result), ["undefined", "string"], "refused as 'nonce too low', then sent at the re-read nonce");
    assert.equal((await chain.client.getTransaction({ hash: next.hash })).nonce, nonce + 1);
    assert.equal(s.stats.failed, failedBefore, "recovered without failing the call");
    assert.equal(await pendingNonce(), nonce + 2);
  });

  test("at most maxInFlight sends are estimated or pending at once", async () => {
    const s = sender({ maxInFlight: 2, replaceAfterMs: 60_000 });
    await withManualMining(async () => {
      const sends = Array.from({ length: 5 }, () => s.send(bump()));
      await waitUntil("two in the pool", () => s.stats.sent === 2);
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(s.stats.sent, 2, "the other three wait for a slot");
      for (let mined = 0; mined < 5; ) {
        await chain.rpc("evm_mine");
        await new Promise((r) => setTimeout(r, 100));
        mined = s.stats.mined;
      }
      const results = await Promise.all(sends);
      assert.ok(results.every((r) => r!.receipt.status === "success"));
      assert.equal(s.stats.inFlight, 0);
    });
  });
});
