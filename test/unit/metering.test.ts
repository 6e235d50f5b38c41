/**
 * Fair metering's pure pieces, without processes: the units an answer shows (what the renter checks a report
 * against), renter receipts and the acknowledgement header, the gateway's report log (append, settle, compaction,
 * restart) and the usage book's acknowledgements.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { RenterClient, shownUnits } from "../../workers/renter/client";
import {
  formatAcknowledgementHeader,
  parseAcknowledgementHeader,
  recoverReceiptSigner,
  signReceipt,
} from "../../workers/shared/receipt";
import { ReportLog } from "../../workers/provider-gateway/report-log";
import { UsageBook } from "../../workers/provider-gateway/usage-book";
import { WorkerError } from "../../workers/shared/errors";
import type { UsageReport } from "../../workers/shared/usage-report";

const marketplaceDomain = { name: "PRSM Marketplace", version: "1", chainId: 31337, verifyingContract: "0x5FbDB2315678afecb367f032d93F642f64180aa3" as const };
const renter = privateKeyToAccount(generatePrivateKey());

function report(escrowId: bigint, cumulativeUnits: bigint, sequence: bigint): UsageReport {
  const sig = `0x${"11".repeat(65)}` as const;
  return {
    escrowId,
    cumulativeUnits,
    sequence,
    resultDigest: `0x${"22".repeat(32)}`,
    providerSignature: sig,
    authorization: { escrowId, maxCumulativeUnits: cumulativeUnits, requestDigest: `0x${"33".repeat(32)}`, deadline: 1_000n, signature: sig },
    responseDigest: `0x${"44".repeat(32)}`,
  };
}

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "prsm-metering-"));

describe("units an answer shows", () => {
  test("tokens from the answer's usage, one per request, seconds bounded by the wait", () => {
    assert.equal(shownUnits(0, { usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } }, 10), 15n);
    assert.equal(shownUnits(0, { usage: { prompt_tokens: 7, total_tokens: 7 } }, 10), 7n);
    assert.equal(shownUnits(0, { choices: [] }, 10), 0n, "no usage shown: nothing may be billed");
    assert.equal(shownUnits(0, { usage: { prompt_tokens: -3, completion_tokens: "9" } }, 10), 0n, "nonsense counts count as nothing");
    assert.equal(shownUnits(1, {}, 99_000), 1n);
    assert.equal(shownUnits(2, {}, 1_500), 3n);
  });

  test("a provider's own usage claim is capped by the bytes that went each way", () => {
    const request = { messages: [{ role: "user", content: "Shares rose 4% on Tuesday." }] }; // 26 bytes
    const answer = (usage: Record<string, number>, content = "Sentiment: positive") => ({ choices: [{ message: { content } }], usage });
    // An honest count passes as it is.
    assert.equal(shownUnits(0, answer({ prompt_tokens: 7, completion_tokens: 4, total_tokens: 11 }), 10, request), 11n);
    // A claim of a whole budget for a short answer is cut to what its bytes can hold: 26 + 2 * 8 prompt, 19 + 8 answer.
    assert.equal(shownUnits(0, answer({ prompt_tokens: 4_000, completion_tokens: 96, total_tokens: 4_096 }), 10, request), 69n);
    // max_tokens bounds the completion.
    assert.equal(shownUnits(0, answer({ prompt_tokens: 7, completion_tokens: 500 }, "x".repeat(500)), 10, { ...request, max_tokens: 16 }), 7n + 16n);
    // Embeddings: the inputs' bytes.
    assert.equal(shownUnits(0, { data: [], usage: { prompt_tokens: 9_999, total_tokens: 9_999 } }, 10, { input: ["ab", "cd"] }), 20n);
  });
});

describe("renter receipts", () => {
  test("a receipt recovers to its signer and survives the header round trip", async () => {
    const receipt = await signReceipt(renter, marketplaceDomain, { escrowId: 7n, cumulativeUnits: 123n, deadline: 99n });
    assert.equal(await recoverReceiptSigner(marketplaceDomain, receipt), renter.address);
    const [parsed] = parseAcknowledgementHeader(formatAcknowledgementHeader([receipt]));
    assert.deepEqual(parsed, receipt);
    const other = await recoverReceiptSigner({ ...marketplaceDomain, chainId: 137 }, receipt);
    assert.notEqual(other, renter.address, "a receipt is bound to the chain and contract");
  });

  test("malformed acknowledgements are a 400 naming the entry; none is fine", () => {
    assert.deepEqual(parseAcknowledgementHeader(undefined), []);
    assert.throws(() => parseAcknowledgementHeader("7:12:99:0x1234"), (e: unknown) => e instanceof WorkerError && e.status === 400 && e.code === "bad-acknowledgement");
    assert.throws(() => parseAcknowledgementHeader(Array(33).fill(`1:1:1:0x${"11".repeat(65)}`).join(",")), /at most 32/);
  });
});

describe("report log", () => {
  test("keeps every report until the chain accounts it, across restarts, and compacts", () => {
    const file = path.join(tmp(), "reports.jsonl");
    const log = new ReportLog(file);
    log.append(report(1n, 10n, 1n));
    log.append(report(1n, 25n, 2n));
    log.append(report(2n, 5n, 1n));
    assert.equal(log.size, 3);
    assert.deepEqual(log.latest().map((r) => [r.escrowId, r.cumulativeUnits]), [[1n, 25n], [2n, 5n]]);
    assert.equal(log.settle(1n, 10n), 1, "accounted units settle the reports they cover");

    const reopened = new ReportLog(file);
    assert.deepEqual(reopened.pendingFor(1n).map((r) => r.cumulativeUnits), [25n]);
    assert.equal(reopened.size, 2);
    assert.equal(fs.readFileSync(file, "utf8").trim().split("\n").length, 2, "compacted at start");
    reopened.settle(2n);
    assert.equal(reopened.pendingFor(2n).length, 0);
  });

  test("a torn last line (crash mid-write) is ignored", () => {
    const file = path.join(tmp(), "reports.jsonl");
    new ReportLog(file).append(report(3n, 4n, 1n));
    fs.appendFileSync(file, '{"escrowId":"3","cumul');
    assert.deepEqual(new ReportLog(file).pendingFor(3n).map((r) => r.cumulativeUnits), [4n]);
  });
});

describe("usage book acknowledgements", () => {
  test("only a higher acknowledgement replaces the held one, and it survives a restart", async () => {
    const file = path.join(tmp(), "usage.json");
    const book = new UsageBook(file);
    book.set(4n, { cumulativeUnits: 50n, sequence: 3n });
    const high = await signReceipt(renter, marketplaceDomain, { escrowId: 4n, cumulativeUnits: 40n, deadline: 9n });
    const low = await signReceipt(renter, marketplaceDomain, { escrowId: 4n, cumulativeUnits: 20n, deadline: 9n });
    assert.equal(book.acknowledge(high), true);
    assert.equal(book.acknowledge(low), false);
    const reopened = new UsageBook(file);
    assert.equal(reopened.get(4n)?.acknowledged?.cumulativeUnits, 40n);
    assert.equal(reopened.get(4n)?.sequence, 3n);
    reopened.forget(4n);
    assert.equal(new UsageBook(file).get(4n), undefined);
  });
});

describe("the renter's starting point", () => {
  test("usage the chain accounted beyond the renter's acknowledgements is accepted once, up to the allowance", async () => {
    const client = new RenterClient(renter, marketplaceDomain, "http://127.0.0.1:1", { marketplaceDomain });
    await client.acknowledge(9n, 100n);
    assert.equal(client.acceptChainUsage(9n, 80n, 500n), 0n, "the chain behind: nothing to accept");
    assert.equal(client.acceptChainUsage(9n, 400n, 500n), 300n);
    assert.equal(client.lastUsage(9n), 400n);
    assert.equal(client.acceptChainUsage(9n, 1_000n, 200n), undefined, "a gap beyond the allowance is refused");
    assert.equal(client.lastUsage(9n), 400n);
  });
});
