/**
 * The workers' pure logic, without processes: ranking with decaying observations, metering by billing unit, the demo
 * model's answers and token counts, the authorization header and digests, and request shape checks.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import {
  formatAuthorizationHeader,
  parseAuthorizationHeader,
  recoverRenter,
  requestDigest,
  responseDigest,
  signAuthorization,
  usageResultDigest,
} from "../../workers/shared/authorization";
import { ServiceStats } from "../../workers/orchestrator/ranking";
import { meter } from "../../workers/provider-gateway/gateway";
import { analyse, answer, countTokens, embed, EMBEDDING_DIMENSIONS } from "../../workers/provider-gateway/demo-model";
import { DemoBackend, parseRequest } from "../../workers/provider-gateway/backend";
import { WorkerError } from "../../workers/shared/errors";

const domain = { name: "FederationCommittee", version: "1", chainId: 31337, verifyingContract: "0x5FbDB2315678afecb367f032d93F642f64180aa3" as const };

describe("ranking", () => {
  test("cheaper first when nothing is known; failures push a listing down; observations decay", () => {
    let now = 0;
    const stats = new ServiceStats(60_000, () => now);
    const cheap = { listingId: 1n, pricePerUnit: 100n };
    const dear = { listingId: 2n, pricePerUnit: 300n };
    assert.deepEqual(stats.rank([dear, cheap]).map((c) => c.listingId), [1n, 2n]);
    for (let i = 0; i < 4; i++) stats.recordFailure(1n);
    stats.recordSuccess(2n, 20);
    assert.deepEqual(stats.rank([cheap, dear]).map((c) => c.listingId), [2n, 1n], "a failing provider loses its place");
    now += 10 * 60_000; // ten half-lives later the failures barely count
    assert.ok(stats.successProbability(1n) > 0.45);
    assert.deepEqual(stats.rank([dear, cheap]).map((c) => c.listingId), [1n, 2n]);
  });

  test("slower service costs rank at equal price; equal cost keeps the lower id first", () => {
    const stats = new ServiceStats();
    const a = { listingId: 5n, pricePerUnit: 100n };
    const b = { listingId: 3n, pricePerUnit: 100n };
    assert.deepEqual(stats.rank([a, b]).map((c) => c.listingId), [3n, 5n]);
    stats.recordSuccess(3n, 2_000);
    stats.recordSuccess(5n, 50);
    assert.deepEqual(stats.rank([a, b]).map((c) => c.listingId), [5n, 3n]);
  });
});

describe("metering", () => {
  const result = { response: {}, promptTokens: 12, completionTokens: 30 };
  test("tokens, requests and seconds", () => {
    assert.equal(meter(0, result, 10), 42n);
    assert.equal(meter(1, result, 10), 1n);
    assert.equal(meter(2, result, 10), 1n, "a started second counts");
    assert.equal(meter(2, result, 2_001), 3n);
  });
});

describe("demo model", () => {
  const text = "Acme reported record revenue on Monday. Investors were delighted and the stock rose 12%. Revenue grew again.";
  test("computes sentiment, entities, keywords and a summary, deterministically", () => {
    const a = analyse(text, { summarySentences: 1 });
    assert.ok(a.sentiment > 0);
    assert.deepEqual(a.entities.map((e) => e.type).sort(), ["DATE", "PERCENT"]);
    assert.equal(a.keywords[0], "revenue");
    assert.equal(a.sentences, 3);
    assert.equal(a.summary.length, 1);
    assert.equal(answer(text), answer(text));
    assert.match(analyse("This is a terrible, awful product.").sentiment.toString(), /^-/);
  });

  test("embeddings: fixed size, unit length, equal for equal text", () => {
    const v = embed("stocks rose sharply");
    assert.equal(v.length, EMBEDDING_DIMENSIONS);
    assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-4);
    assert.deepEqual(v, embed("stocks rose sharply"));
    assert.notDeepEqual(v, embed("rain in Paris"));
    assert.ok(embed("").every((x) => x === 0));
  });

  test("usage is the model's own token count, and max_tokens cuts whole lines", async () => {
    const backend = new DemoBackend();
    const full = await backend.run("/v1/chat/completions", { messages: [{ role: "user", content: text }] }, "id");
    assert.equal(full.promptTokens, countTokens(text));
    const content = (full.response.choices as { message: { content: string } }[])[0]!.message.content;
    assert.equal(full.completionTokens, countTokens(content));
    const cut = await backend.run("/v1/chat/completions", { messages: [{ role: "user", content: text }], max_tokens: 12 }, "id");
    assert.ok(cut.completionTokens <= 12);
    assert.equal((cut.response.choices as { finish_reason: string }[])[0]!.finish_reason, "length");
  });

  test("request shapes are checked with the field named", () => {
    assert.throws(() => parseRequest("/v1/chat/completions", { messages: [] }), /messages must be a non-empty array/);
    assert.throws(() => parseRequest("/v1/chat/completions", { messages: [{ role: "robot", content: "x" }] }), /messages\[0\]\.role/);
    assert.throws(() => parseRequest("/v1/embeddings", { input: [1] }), /input must be/);
    assert.throws(() => parseRequest("/v1/chat/completions", [1]), /JSON object/);
  });
});

describe("renter authorization", () => {
  test("round-trips through the header and recovers the renter", async () => {
    const renter = privateKeyToAccount(generatePrivateKey());
    const digest = requestDigest("/v1/chat/completions", '{"messages":[]}');
    const auth = await signAuthorization(renter, domain, { escrowId: 7n, maxCumulativeUnits: 500n, requestDigest: digest, deadline: 99n });
    const [parsed] = parseAuthorizationHeader(formatAuthorizationHeader([auth]), digest);
    assert.deepEqual(parsed, auth);
    assert.equal(await recoverRenter(domain, parsed!), renter.address);
    // Other bytes, other digest: the same signature recovers someone else.
    const [other] = parseAuthorizationHeader(formatAuthorizationHeader([auth]), requestDigest("/v1/chat/completions", '{"messages":[1]}'));
    assert.notEqual(await recoverRenter(domain, other!), renter.address);
    assert.notEqual(requestDigest("/v1/embeddings", "{}"), requestDigest("/v1/chat/completions", "{}"));
    assert.notEqual(usageResultDigest(domain, auth, responseDigest("a")), usageResultDigest(domain, auth, responseDigest("b")));
  });

  test("a missing or malformed header is a 401 naming the format", () => {
    const digest = requestDigest("/x", "");
    for (const bad of [undefined, "", "1:2:3", "a:2:3:0x00", `1:2:3:0x${"ab".repeat(65)}:extra`]) {
      assert.throws(() => parseAuthorizationHeader(bad, digest), (e: unknown) => e instanceof WorkerError && e.status === 401);
    }
    const many = Array.from({ length: 33 }, () => `1:2:3:0x${"ab".repeat(65)}`).join(",");
    assert.throws(() => parseAuthorizationHeader(many, digest), /at most 32/);
  });
});
