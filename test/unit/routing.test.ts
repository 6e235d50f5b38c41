/**
 * OpenRouter-style routing without processes: parsing `provider` / `models` (each option and the 400s naming the
 * field), applying them to candidates (order, only, ignore, allow_fallbacks false, sort by price / latency /
 * throughput, max_price per unit, models fallback), the /v1/models list, and provider identity: the gateway's
 * challenge answer, and the registry refusing a gateway that poses as another provider while keeping the genuine
 * one's listing.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { hardhat } from "viem/chains";
import type { Address, Hex } from "viem";
import { ServiceStats } from "../../workers/orchestrator/ranking";
import { applyRouting, modelList, parseRouting, type RoutableCandidate } from "../../workers/orchestrator/routing";
import { ProviderRegistry, type ServedListing } from "../../workers/orchestrator/registry";
import { IdentityResponder, identityMessage, recoverIdentity } from "../../workers/provider-gateway/identity";
import { WorkerError } from "../../workers/shared/errors";
import type { ChainReader, Listing } from "../../workers/shared/chain";
import { createLogger } from "../../workers/shared/logger";

const A = "0x00000000000000000000000000000000000000aa";
const B = "0x00000000000000000000000000000000000000bb";
const C = "0x00000000000000000000000000000000000000cc";

interface TestCandidate extends RoutableCandidate {
  name: string;
}

function candidate(name: string, listingId: bigint, provider: string, price: bigint, extra: { category?: number; unit?: number; model?: string } = {}): TestCandidate {
  return { name, listingId, pricePerUnit: price, served: { listing: { provider, category: extra.category ?? 0, unit: extra.unit ?? 0 }, model: extra.model ?? "prsm-demo-nlp" } };
}

// Three language listings of three providers, cheapest last; one code listing of A.
const cheap = candidate("cheap", 3n, C, 100n);
const mid = candidate("mid", 2n, B, 200n);
const dear = candidate("dear", 1n, A, 300n);
const coder = candidate("coder", 4n, A, 150n, { category: 2, model: "code-llama" });
const all = [dear, mid, cheap, coder];

const route = (body: Record<string, unknown>, candidates: TestCandidate[] = all, stats = new ServiceStats(60_000, () => 0)) =>
  applyRouting(candidates, parseRouting({ messages: [], ...body }), stats).map((c) => c.name);

const bad = (body: Record<string, unknown>, field: RegExp) =>
  assert.throws(() => parseRouting(body), (e: unknown) => e instanceof WorkerError && e.status === 400 && field.test(e.message), `expected a 400 naming ${field}`);

function noCandidate(fn: () => unknown): Record<string, unknown> {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof WorkerError && e.status === 422 && e.code === "no-candidate", String(e));
    return e.details;
  }
  assert.fail("expected 422 no-candidate");
}

describe("routing preferences: parsing", () => {
  test("no preferences: today's ranking (cost of price x latency / success)", () => {
    assert.deepEqual(parseRouting({ messages: [] }), { order: [], ignore: [], allowFallbacks: true, models: [] });
    assert.deepEqual(route({}), ["cheap", "coder", "mid", "dear"]);
  });

  test("provider identifiers: addresses in any case, listing ids as number, string or listing-<id>", () => {
    const p = parseRouting({ provider: { order: [A.toUpperCase().replace("0X", "0x"), 7, "8", "listing-9"], only: [B], ignore: ["listing-3"] } });
    assert.deepEqual(p.order, [
      { kind: "address", address: A },
      { kind: "listing", listingId: 7n },
      { kind: "listing", listingId: 8n },
      { kind: "listing", listingId: 9n },
    ]);
    assert.deepEqual(p.only, [{ kind: "address", address: B }]);
    assert.deepEqual(p.ignore, [{ kind: "listing", listingId: 3n }]);
  });

  test("model ids: listing-<id>, category names, gateway model names; `model` is lenient only as a plain name", () => {
    const p = parseRouting({ model: "gpt-4o", models: ["listing-4", "code", "prsm-demo-nlp"] });
    assert.deepEqual(p.models, [
      { ref: { kind: "name", name: "gpt-4o" }, lenient: true },
      { ref: { kind: "listing", listingId: 4n }, lenient: false },
      { ref: { kind: "category", category: 2 }, lenient: false },
      { ref: { kind: "name", name: "prsm-demo-nlp" }, lenient: false },
    ]);
    assert.deepEqual(parseRouting({ model: "listing-2" }).models, [{ ref: { kind: "listing", listingId: 2n }, lenient: false }]);
  });

  test("max_price: one integer for every unit, or per kind; prompt and completion both bound token listings", () => {
    assert.deepEqual(parseRouting({ provider: { max_price: 250 } }).maxPrice, { 0: 250n, 1: 250n, 2: 250n });
    assert.deepEqual(parseRouting({ provider: { max_price: "123456789012345678901234" } }).maxPrice?.[1], 123456789012345678901234n);
    assert.deepEqual(parseRouting({ provider: { max_price: { prompt: 300, completion: "200", request: 9 } } }).maxPrice, { 0: 200n, 1: 9n });
    assert.deepEqual(parseRouting({ provider: { max_price: { second: 5 } } }).maxPrice, { 2: 5n });
  });

  test("JSON null means unset", () => {
    assert.deepEqual(parseRouting({ provider: { order: null, only: null, sort: null, allow_fallbacks: null, max_price: null } }), {
      order: [],
      ignore: [],
      allowFallbacks: true,
      models: [],
    });
  });

  test("invalid preferences are 400s naming the field", () => {
    bad({ provider: "fast" }, /^provider must be an object/);
    bad({ provider: [] }, /^provider must be an object/);
    bad({ provider: { order: A } }, /^provider\.order must be an array/);
    bad({ provider: { order: [A, "not-a-provider"] } }, /^provider\.order\[1\] must be/);
    bad({ provider: { only: [0] } }, /^provider\.only\[0\] must be/);
    bad({ provider: { ignore: ["0x1234"] } }, /^provider\.ignore\[0\] must be/);
    bad({ provider: { allow_fallbacks: "no" } }, /^provider\.allow_fallbacks must be true or false/);
    bad({ provider: { sort: "cheapest" } }, /^provider\.sort must be one of price, latency, throughput/);
    bad({ provider: { max_price: 0.5 } }, /^provider\.max_price must be a price per unit in FTNS wei/);
    bad({ provider: { max_price: -1 } }, /^provider\.max_price must be/);
    bad({ provider: { max_price: [1] } }, /^provider\.max_price must be a price per unit or an object/);
    bad({ provider: { max_price: { prompt: "1.5" } } }, /^provider\.max_price\.prompt must be/);
    bad({ provider: { max_price: { image: 1 } } }, /^provider\.max_price\.image is not supported/);
    bad({ provider: { data_collection: "deny" } }, /^provider\.data_collection is not supported/);
    bad({ models: "listing-1" }, /^models must be an array/);
    bad({ models: ["listing-1", 5] }, /^models\[1\] must be a non-empty model id/);
    bad({ models: [""] }, /^models\[0\] must be/);
    bad({ models: ["listing-0"] }, /^models\[0\] must be listing-<id>/);
    bad({ models: Array.from({ length: 33 }, (_, i) => `listing-${i + 1}`) }, /^models has more than 32/);
    bad({ model: "listing-x" }, /^model must be listing-<id>/);
  });
});

describe("routing preferences: applied", () => {
  test("order: the named providers first, in that order, then the rest ranked", () => {
    assert.deepEqual(route({ provider: { order: [B, "1"] } }), ["mid", "dear", "cheap", "coder"]);
    // An address names every listing of that provider; its listings keep the default ranking among themselves.
    assert.deepEqual(route({ provider: { order: [A] } }), ["coder", "dear", "cheap", "mid"]);
  });

  test("only: an allowlist; ignore: a denylist; the reasons are named when nothing is left", () => {
    assert.deepEqual(route({ provider: { only: [A] } }), ["coder", "dear"]);
    assert.deepEqual(route({ provider: { only: ["listing-2", C] } }), ["cheap", "mid"]);
    assert.deepEqual(route({ provider: { ignore: [A, "3"] } }), ["mid"]);
    const details = noCandidate(() => route({ provider: { only: [A], ignore: ["listing-1", "listing-4"] } }));
    assert.deepEqual(details.excluded, [
      { listingId: "1", reason: "provider-ignored" },
      { listingId: "2", reason: "provider-not-allowed" },
      { listingId: "3", reason: "provider-not-allowed" },
      { listingId: "4", reason: "provider-ignored" },
    ]);
  });

  test("allow_fallbacks false: only the `order` providers, or only the first-ranked one", () => {
    assert.deepEqual(route({ provider: { order: [B, "1"], allow_fallbacks: false } }), ["mid", "dear"]);
    assert.deepEqual(route({ provider: { allow_fallbacks: false } }), ["cheap"]);
    const details = noCandidate(() => route({ provider: { order: ["listing-99"], allow_fallbacks: false } }));
    assert.deepEqual((details.excluded as { reason: string }[]).map((e) => e.reason), ["not-in-order", "not-in-order", "not-in-order", "not-in-order"]);
  });

  test("sort by price, latency and throughput; unmeasured listings count the default latency", () => {
    let now = 0;
    const stats = new ServiceStats(60_000, () => now);
    stats.recordSuccess(1n, 40); // dear: fast and reliable
    stats.recordSuccess(1n, 40);
    stats.recordSuccess(2n, 20); // mid: fastest, but fails half the time
    stats.recordFailure(2n);
    stats.recordFailure(2n);
    stats.recordSuccess(3n, 900); // cheap: slow
    const langs = [dear, mid, cheap];
    assert.deepEqual(route({ provider: { sort: "price" } }, langs, stats), ["cheap", "mid", "dear"]);
    assert.deepEqual(route({ provider: { sort: "latency" } }, langs, stats), ["mid", "dear", "cheap"]);
    // throughput = success probability / latency: mid 0.4/20ms, dear 0.75/40ms, cheap 0.67/900ms
    assert.deepEqual(route({ provider: { sort: "throughput" } }, langs, stats), ["mid", "dear", "cheap"]);
    stats.recordFailure(2n);
    stats.recordFailure(2n);
    stats.recordFailure(2n);
    assert.deepEqual(route({ provider: { sort: "throughput" } }, langs, stats), ["dear", "mid", "cheap"], "failures cost throughput, not latency");
    assert.deepEqual(route({ provider: { sort: "latency" } }, langs, stats), ["mid", "dear", "cheap"]);
    // Sort and order compose: order first, sort among the rest.
    assert.deepEqual(route({ provider: { sort: "price", order: [A] } }, langs, stats), ["dear", "cheap", "mid"]);
    // Measurements decay: an hour later the failures no longer decide, latency still orders.
    now += 60 * 60_000;
    assert.deepEqual(route({ provider: { sort: "throughput" } }, langs, stats), ["mid", "dear", "cheap"]);
  });

  test("max_price: per unit in FTNS wei, by the listing's billing unit", () => {
    assert.deepEqual(route({ provider: { max_price: 200 } }), ["cheap", "coder", "mid"]);
    assert.deepEqual(route({ provider: { max_price: { prompt: 500, completion: 150 } } }), ["cheap", "coder"]);
    const perRequest = candidate("per-request", 5n, B, 1_000n, { unit: 1 });
    assert.deepEqual(route({ provider: { max_price: { prompt: 100 } } }, [cheap, mid, perRequest]), ["cheap", "per-request"], "requests are not bounded by a token price");
    assert.deepEqual(route({ provider: { max_price: { prompt: 100, request: 999 } } }, [cheap, mid, perRequest]), ["cheap"]);
    const details = noCandidate(() => route({ provider: { max_price: "99" } }));
    assert.ok((details.excluded as { reason: string }[]).every((e) => e.reason === "over-max-price"));
  });

  test("models: tried in order as groups; entries nothing matches are passed over; the rest are not tried", () => {
    assert.deepEqual(route({ models: ["code", "listing-1"] }), ["coder", "dear"]);
    assert.deepEqual(route({ models: ["listing-77", "code-llama", "language"] }), ["coder", "cheap", "mid", "dear"]);
    // A listing matching two entries is tried once, in the first group.
    assert.deepEqual(route({ models: ["listing-4", "code"] }), ["coder"]);
    // Provider preferences apply within each group: allow_fallbacks false keeps one per model.
    assert.deepEqual(route({ models: ["language", "code"], provider: { allow_fallbacks: false } }), ["cheap", "coder"]);
    assert.deepEqual(route({ models: ["language"], provider: { order: [A], allow_fallbacks: false } }), ["dear"]);
    const details = noCandidate(() => route({ models: ["image", "listing-50"] }));
    assert.ok((details.excluded as { reason: string }[]).every((e) => e.reason === "model-not-requested"));
  });

  test("the request's `model`: a plain name nobody serves is ignored; a served name, a listing or a category applies", () => {
    assert.deepEqual(route({ model: "gpt-4o" }), ["cheap", "coder", "mid", "dear"]);
    assert.deepEqual(route({ model: "code-llama" }), ["coder"]);
    assert.deepEqual(route({ model: "code-llama", models: ["listing-2"] }), ["coder", "mid"]);
    assert.deepEqual(route({ model: "listing-2" }), ["mid"]);
    noCandidate(() => route({ model: "image" }));
    noCandidate(() => route({ model: "gpt-4o", models: ["listing-50"] }));
  });
});

describe("/v1/models", () => {
  test("active listings only, in OpenAI list format with price, unit, category, provider and measurements", () => {
    const stats = new ServiceStats(60_000, () => 0);
    stats.recordSuccess(9n, 42.4);
    const listing = (status: number, unit: number, category: number): Listing => ({ provider: A as Address, pricePerUnit: 10n ** 20n, status, category, unit, metadataURI: "" });
    const served: ServedListing[] = [
      { listingId: 10n, gateway: "http://g2", listing: listing(1, 1, 1), model: "sdxl", since: 5 },
      { listingId: 9n, gateway: "http://g1", listing: listing(1, 0, 0), model: "prsm-demo-nlp", since: 7 },
      { listingId: 11n, gateway: "http://g1", listing: listing(2, 0, 0), model: "paused", since: 7 },
    ];
    const list = modelList(served, stats);
    assert.equal(list.object, "list");
    assert.deepEqual(list.data, [
      {
        id: "listing-9",
        object: "model",
        created: 7,
        owned_by: A,
        name: "prsm-demo-nlp",
        listingId: "9",
        provider: A,
        category: "language",
        unit: "token",
        pricePerUnit: "100000000000000000000",
        pricing: { prompt: "100000000000000000000", completion: "100000000000000000000" },
        successRate: 0.667,
        latencyMs: 42,
      },
      {
        id: "listing-10",
        object: "model",
        created: 5,
        owned_by: A,
        name: "sdxl",
        listingId: "10",
        provider: A,
        category: "image",
        unit: "request",
        pricePerUnit: "100000000000000000000",
        pricing: { request: "100000000000000000000" },
        successRate: 0.5,
        latencyMs: null,
      },
    ]);
  });
});

const MARKETPLACE = "0x5FbDB2315678afecb367f032d93F642f64180aa3" as Address;
const nonce = `0x${"ab".repeat(32)}` as Hex;

describe("provider identity", () => {
  test("the gateway signs the nonce for its own URL, chain and marketplace; the orchestrator recovers its key", async () => {
    const account = privateKeyToAccount(generatePrivateKey());
    const responder = new IdentityResponder(account, 31337, MARKETPLACE, "http://127.0.0.1:8801/");
    const proof = await responder.answer({ nonce });
    assert.equal(proof.gateway, "http://127.0.0.1:8801");
    const binding = { chainId: 31337, marketplace: MARKETPLACE, gateway: "http://127.0.0.1:8801", nonce };
    assert.equal(recoverIdentity(binding, proof.signature), account.address);
    // Any other nonce, URL (a relayed challenge), chain or deployment recovers another key.
    for (const other of [
      { ...binding, nonce: `0x${"cd".repeat(32)}` as Hex },
      { ...binding, gateway: "http://127.0.0.1:9999" },
      { ...binding, chainId: 137 },
      { ...binding, marketplace: "0x0000000000000000000000000000000000000001" as Address },
    ]) {
      assert.notEqual(recoverIdentity(other, proof.signature), account.address, identityMessage(other));
    }
    assert.match(identityMessage(binding), /^PRSM provider gateway identity\nchain: 31337\nmarketplace: 0x5fbdb2315678afecb367f032d93f642f64180aa3\ngateway: http:\/\/127\.0\.0\.1:8801\nnonce: 0xabab/);
    await assert.rejects(responder.answer({ nonce: "0x1234" }), (e: unknown) => e instanceof WorkerError && e.status === 400 && /nonce/.test(e.message));
    await assert.rejects(responder.answer(null), (e: unknown) => e instanceof WorkerError && e.status === 400);
  });

  test("the registry routes a listing only to a gateway proving its provider key; a poser evicts nothing", async () => {
    const genuine = privateKeyToAccount(generatePrivateKey());
    const poser = privateKeyToAccount(generatePrivateKey());
    const listings: Record<string, Listing> = {
      "1": { provider: genuine.address, pricePerUnit: 100n, status: 1, category: 0, unit: 0, metadataURI: "" },
      "2": { provider: poser.address, pricePerUnit: 50n, status: 1, category: 0, unit: 0, metadataURI: "" },
    };
    const ctx = {
      chain: hardhat,
      marketplace: { address: MARKETPLACE, abi: [] },
      publicClient: { readContract: async ({ args }: { args: [bigint] }) => listings[args[0].toString()] },
    } as unknown as ChainReader;
    // mode "relay": the poser passes the challenge on to the genuine gateway and returns its answer.
    let poserMode: "own-key" | "claims-only" | "relay" | "relay-unlabelled" | "fails" = "own-key";
    let genuineUrl = "";
    const serve = (handler: (path: string, body: any, url: string) => Promise<unknown>) =>
      new Promise<{ server: http.Server; url: string }>((resolve) => {
        const server = http.createServer(async (req, res) => {
          const chunks: Buffer[] = [];
          for await (const c of req) chunks.push(c as Buffer);
          const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
          const out = await handler(req.url!, chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : undefined, url).catch(() => undefined);
          res.writeHead(out === undefined ? 500 : 200, { "content-type": "application/json" });
          res.end(JSON.stringify(out ?? { error: "no" }));
        });
        server.listen(0, "127.0.0.1", () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
      });
    // "down": the genuine gateway answers /v1/info, then fails the challenge's request (killed or restarting).
    let genuineMode: "ok" | "down" = "ok";
    const g = await serve(async (path, body, url) =>
      path === "/v1/info"
        ? { provider: genuine.address, chainId: 31337, model: "demo", listings: [{ listingId: "1" }] }
        : genuineMode === "down"
          ? undefined
          : new IdentityResponder(genuine, 31337, MARKETPLACE, url).answer(body),
    );
    genuineUrl = g.url;
    const p = await serve(async (path, body, url) => {
      // It claims the genuine provider's listing 1 (and its own listing 2) and declares the genuine address.
      if (path === "/v1/info") return { provider: genuine.address, chainId: 31337, model: "demo", listings: [{ listingId: "1" }, { listingId: "2" }] };
      if (poserMode === "own-key") return new IdentityResponder(poser, 31337, MARKETPLACE, url).answer(body);
      if (poserMode.startsWith("relay")) {
        const proof = (await (await fetch(`${genuineUrl}/v1/identity`, { method: "POST", body: JSON.stringify(body) })).json()) as Record<string, unknown>;
        // Without the label that names the genuine URL, the signature still binds it: it recovers to no one's key.
        if (poserMode === "relay-unlabelled") delete proof.gateway;
        return proof;
      }
      if (poserMode === "claims-only") return { signature: `0x${"11".repeat(65)}` };
      return undefined;
    });
    try {
      // The poser is configured first: under the old registry its claim would have replaced (or deleted) listing 1.
      const registry = new ProviderRegistry(ctx, [p.url, g.url], createLogger("test"));
      await registry.refresh();
      assert.equal(registry.get(1n)?.gateway, g.url, "the genuine gateway keeps its listing");
      assert.equal(registry.get(2n)?.gateway, p.url, "a gateway proving its own key serves its own listing");
      assert.equal(registry.verification()[0]!.provider, poser.address);

      for (const mode of ["relay", "relay-unlabelled", "claims-only", "fails"] as const) {
        poserMode = mode;
        await registry.refresh();
        assert.equal(registry.get(1n)?.gateway, g.url, mode);
        assert.equal(registry.get(2n), undefined, `${mode}: a gateway failing the challenge gets nothing`);
        if (mode !== "relay-unlabelled") assert.equal(registry.verification()[0]!.provider, undefined, mode);
        else assert.notEqual(registry.verification()[0]!.provider, genuine.address, "a relayed proof never proves the genuine key");
      }
      assert.deepEqual(registry.all().map((s) => s.listingId), [1n]);

      // Re-verified at every refresh: once it proves its key again, its own listing comes back.
      poserMode = "own-key";
      await registry.refresh();
      assert.equal(registry.get(2n)?.gateway, p.url);

      // A gateway that proved its key and then cannot be asked (5xx, reset) is unreachable, not an impostor: it keeps
      // its listings, as when /v1/info fails (requests to it fail over meanwhile).
      genuineMode = "down";
      await registry.refresh();
      assert.equal(registry.get(1n)?.gateway, g.url, "unreachable during the challenge: its last verified listings stay");
      genuineMode = "ok";

      // A listing changing hands on chain leaves the gateway whose key no longer owns it.
      listings["1"] = { ...listings["1"]!, provider: poser.address };
      await registry.refresh();
      assert.equal(registry.get(1n)?.gateway, p.url, "now the poser's key is the listing's provider");
    } finally {
      g.server.close();
      p.server.close();
    }
  });
});
