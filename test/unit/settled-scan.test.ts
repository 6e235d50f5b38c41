/**
 * readSettledSince against a real Hardhat node (bare, port 8794) through a JSON-RPC proxy: getLogs in bounded
 * ranges; a backlog of many ranges eaten over several calls; UsageBatchCharged decoded (absent from the ABI the
 * context carries) into charged entries; an RPC outage in the middle of a scan returns what was read and where it
 * stopped, and the next scans resume there without re-reading or skipping a block; a transient failure is retried;
 * an RPC that refuses wide ranges gets narrower ones.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { encodeFunctionData, type Address } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { readSettledSince, type ChainReader, type ChargedEntry } from "../../workers/shared/chain";
import { encodeApplied } from "../../workers/shared/batch";
import { privateKeyOf } from "../e2e/harness";
import { contextFor, installProbe, PROBE_ABI, RpcProxy, startBareChain, toQuantity, type BareChain } from "./chain-support";

const PORT = 8794;
const MARKETPLACE = "0x000000000000000000000000000000000000fa11" as Address;
const account = privateKeyToAccount(privateKeyOf(7));

let chain: BareChain;
let proxy: RpcProxy;
let ctx: ChainReader;
/** Every settlement event the chain holds, as the scan should report it. */
const expected: { charged: ChargedEntry[]; closed: { escrowId: bigint; blockNumber: bigint }[] } = { charged: [], closed: [] };
let head = 0n;

async function call(functionName: "charged" | "closed" | "batch", args: readonly unknown[]): Promise<bigint> {
  const wallet = contextFor(chain.rpcUrl, account, MARKETPLACE).walletClient;
  const hash = await wallet.sendTransaction({ account, chain: wallet.chain, to: MARKETPLACE, data: encodeFunctionData({ abi: PROBE_ABI, functionName, args } as never) });
  return (await chain.client.waitForTransactionReceipt({ hash })).blockNumber;
}

/** Charged entries and closed ids as comparable strings, in block order. */
const chargedKeys = (list: ChargedEntry[]) => list.map((c) => `${c.blockNumber}:${c.escrowId}:${c.cumulativeUnits}:${c.batchId ?? "-"}:${c.amount ?? "-"}`);
const inBlocks = (from: bigint, to: bigint) => ({
  charged: chargedKeys(expected.charged.filter((c) => c.blockNumber >= from && c.blockNumber <= to)),
  closed: expected.closed.filter((c) => c.blockNumber >= from && c.blockNumber <= to).map((c) => c.escrowId),
});
const getLogsQueries = () =>
  proxy.requests
    .filter((r) => r.method === "eth_getLogs" && r.action === "pass")
    .map((r) => {
      const { fromBlock, toBlock } = r.params[0] as { fromBlock: string; toBlock: string };
      return [BigInt(fromBlock), BigInt(toBlock)] as const;
    });

describe("readSettledSince", { timeout: 120_000 }, () => {
  before(async () => {
    chain = await startBareChain(PORT);
    await installProbe(chain, MARKETPLACE);
    proxy = new RpcProxy(chain.rpcUrl);
    await proxy.start();
    ctx = contextFor(proxy.url, account, MARKETPLACE);
    // Events scattered over ~1,300 blocks: single charges, closes and batches, with long empty stretches between.
    let escrow = 1n;
    for (let round = 0; round < 6; round++) {
      const units = BigInt(10 * (round + 1));
      let block = await call("charged", [escrow, units]);
      expected.charged.push({ escrowId: escrow, cumulativeUnits: units, blockNumber: block });
      const applied = [
        { escrowId: escrow + 100n, cumulativeUnits: units + 1n, amount: 1_000n * units },
        { escrowId: escrow + 200n, cumulativeUnits: (1n << 64n) - 1n, amount: (1n << 128n) - 1n },
      ];
      block = await call("batch", [BigInt(round + 1), applied.map(encodeApplied)]);
      for (const a of applied) expected.charged.push({ ...a, batchId: BigInt(round + 1), blockNumber: block });
      block = await call("closed", [escrow + 300n]);
      expected.closed.push({ escrowId: escrow + 300n, blockNumber: block });
      escrow++;
      await chain.rpc("hardhat_mine", [toQuantity(150 + 40 * round)]);
    }
    head = await chain.client.getBlockNumber();
    assert.ok(head > 1_300n);
  });

  after(async () => {
    await proxy?.stop();
    await chain?.stop();
  });

  test("one scan in bounded ranges finds every charge (batch entries decoded) and close", async () => {
    proxy.requests.length = 0;
    const scan = await readSettledSince(ctx, 0n, head, { maxRange: 200n, maxRanges: 100 });
    assert.equal(scan.scannedTo, head);
    assert.equal(scan.error, undefined);
    assert.deepEqual(chargedKeys(scan.charged), inBlocks(0n, head).charged);
    assert.deepEqual(scan.closed, inBlocks(0n, head).closed);
    const batchEntry = scan.charged.find((c) => c.batchId === 1n && c.amount === (1n << 128n) - 1n);
    assert.deepEqual(batchEntry && { escrowId: batchEntry.escrowId, cumulativeUnits: batchEntry.cumulativeUnits }, { escrowId: 201n, cumulativeUnits: (1n << 64n) - 1n });
    const queries = getLogsQueries();
    assert.equal(queries.length, Math.ceil(Number(head + 1n) / 200));
    queries.forEach(([from, to], i) => {
      assert.equal(from, BigInt(i) * 200n, "contiguous ranges");
      assert.ok(to - from + 1n <= 200n);
    });
    // The default range (2,000 blocks) takes it in one query; a context whose ABI has none of the events decodes the same.
    proxy.requests.length = 0;
    const bare = await readSettledSince({ ...ctx, marketplace: { address: MARKETPLACE, abi: [] } }, 0n, head);
    assert.equal(getLogsQueries().length, 1);
    assert.deepEqual(chargedKeys(bare.charged), chargedKeys(scan.charged));
    assert.deepEqual(bare.closed, scan.closed);
  });

  test("a backlog larger than a call's ranges is eaten over several calls, the cursor moving range by range", async () => {
    const seen: string[] = [];
    let cursor = 0n;
    let calls = 0;
    while (cursor <= head) {
      const scan = await readSettledSince(ctx, cursor, head, { maxRange: 100n, maxRanges: 3 });
      assert.equal(scan.scannedTo, cursor + 300n - 1n < head ? cursor + 300n - 1n : head);
      seen.push(...chargedKeys(scan.charged));
      cursor = scan.scannedTo + 1n;
      calls++;
    }
    assert.equal(calls, Math.ceil(Number(head + 1n) / 300));
    assert.deepEqual(seen, inBlocks(0n, head).charged);
  });

  test("an RPC outage mid-scan: the scan returns what it read and where it stopped; later scans resume there", async () => {
    const options = { maxRange: 100n, maxRanges: 100, retries: 2, backoffMs: 5 };
    proxy.requests.length = 0;
    let outage = false;
    proxy.rule = (method) => {
      if (outage) return "drop";
      if (method === "eth_getLogs" && getLogsQueries().length >= 4) outage = true; // the 5th range finds the RPC gone
      return outage ? "drop" : "pass";
    };
    const first = await readSettledSince(ctx, 0n, head, options);
    assert.equal(first.scannedTo, 399n, "four ranges read");
    assert.ok(first.error, "the failure is reported");
    assert.deepEqual(chargedKeys(first.charged), inBlocks(0n, 399n).charged);
    assert.deepEqual(first.closed, inBlocks(0n, 399n).closed);
    const dropped = proxy.requests.filter((r) => r.action === "drop").length;
    assert.equal(dropped, 3, "the range was tried 1 + 2 retries times");
    // Still down: no progress at all is an error, and the caller's cursor stays where it was.
    await assert.rejects(readSettledSince(ctx, first.scannedTo + 1n, head, options));
    // Back up: the rest, from exactly where the first scan stopped.
    outage = false;
    proxy.rule = () => "pass";
    proxy.requests.length = 0;
    const rest = await readSettledSince(ctx, first.scannedTo + 1n, head, options);
    assert.equal(rest.scannedTo, head);
    assert.equal(getLogsQueries()[0]![0], 400n);
    assert.deepEqual([...chargedKeys(first.charged), ...chargedKeys(rest.charged)], inBlocks(0n, head).charged, "nothing skipped, nothing twice");
    assert.deepEqual([...first.closed, ...rest.closed], inBlocks(0n, head).closed);
  });

  test("a transient failure is retried within the call; an RPC that refuses wide ranges gets narrower ones", async () => {
    let failures = 2;
    proxy.rule = (method) => (method === "eth_getLogs" && failures-- > 0 ? "drop" : "pass");
    const retried = await readSettledSince(ctx, 0n, head, { maxRange: 500n, maxRanges: 100, backoffMs: 5 });
    assert.equal(retried.scannedTo, head);
    assert.deepEqual(chargedKeys(retried.charged), inBlocks(0n, head).charged);

    // Like a hosted RPC with a block-range limit: more than 120 blocks per query is refused with an error.
    proxy.rule = (method, params) => {
      if (method !== "eth_getLogs") return "pass";
      const { fromBlock, toBlock } = params[0] as { fromBlock: string; toBlock: string };
      return BigInt(toBlock) - BigInt(fromBlock) + 1n > 120n ? { error: "block range is too wide (max 120)" } : "pass";
    };
    proxy.requests.length = 0;
    const narrowed = await readSettledSince(ctx, 0n, head, { maxRange: 400n, maxRanges: 100, backoffMs: 1 });
    proxy.rule = () => "pass";
    assert.equal(narrowed.scannedTo, head);
    assert.deepEqual(chargedKeys(narrowed.charged), inBlocks(0n, head).charged);
    assert.ok(getLogsQueries().every(([from, to]) => to - from + 1n <= 120n));
  });
});
