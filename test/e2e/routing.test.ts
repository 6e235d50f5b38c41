/**
 * OpenRouter-style routing and provider identity with real processes: a Hardhat node with the protocol deployed,
 * three provider gateways of three providers running the demo model (the demo provider's listing 9, a cheaper
 * listing of account 13, the cheapest of account 12), a gateway posing as the demo provider, and the orchestrator.
 * The renter client signs each request's exact bytes, `provider` and `models` fields included.
 *
 * Covered: the poser (its /v1/info claims the demo provider's and account 13's listings, and it can only sign the
 * identity challenge with a key that owns neither) is refused and receives no request, and the genuine listings
 * stay routable; `provider.only` / `ignore` / `order`; `allow_fallbacks: false` with the preferred provider down
 * (an error, not another provider); the `models` fallback; invalid preferences (400 naming the field); /v1/models.
 * No consensus nodes: nothing here depends on settlement (rental.test.ts covers it).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import path from "node:path";
import type { ChildProcess } from "node:child_process";
import { keccak256, toBytes, type Address, type TypedDataDomain } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { DEMO_MODEL, listingMetadata, priceInFtns } from "../../config/launch-models";
import { RenterClient, type QueryResult } from "../../workers/renter/client";
import { IdentityResponder } from "../../workers/provider-gateway/identity";
import { account, deployment, domainOf, privateKeyOf, Processes, readContract, ROOT, send, startChain, waitFor, walletFor, type Chain } from "./harness";
import { committeeDomain, PROVIDER, RENTER } from "./usage";

const CHAIN_PORT = 8645;
const ORCHESTRATOR_PORT = 8770;
const GATEWAY_A_PORT = 8771; // the demo provider (account 18), listing 9
const GATEWAY_B_PORT = 8772; // account 13, a cheaper listing of the same model
const GATEWAY_C_PORT = 8773; // account 12, the cheapest
const POSER_PORT = 8774; // claims listings of the demo provider and of account 13
const NO_NODE = "http://127.0.0.1:8779"; // gateways and orchestrator need a consensus URL; nothing listens there
const PROVIDER_B = 13;
const PROVIDER_C = 12;
const E18 = 10n ** 18n;
const ORCHESTRATOR = `http://127.0.0.1:${ORCHESTRATOR_PORT}`;

const processes = new Processes();
let chain: Chain;
let renter: RenterClient;
let poser: http.Server;
let gatewayB: ChildProcess;
const poserSeen = { challenges: 0, queries: 0 };
const listings = { a: 9n, b: 0n, c: 0n };
const escrows = { a: 0n, b: 0n, c: 0n };
const market = () => deployment("ModelMarketplace");
const token = () => deployment("FTNSToken");
const call = async (from: number, c: ReturnType<typeof market>, functionName: string, args: unknown[]) =>
  send(chain, await walletFor(chain, from).writeContract({ ...c, abi: c.abi as never, functionName, args } as never));

async function listModel(provider: number, price: bigint, tag: string): Promise<bigint> {
  const { uri } = listingMetadata({ ...DEMO_MODEL, name: `${DEMO_MODEL.name} ${tag}` });
  await call(provider, token(), "approve", [market().address, 100n * E18]);
  await call(provider, market(), "list", [keccak256(toBytes(uri)), uri, 0, 0, price, "0x0000000000000000000000000000000000000000", 0, 100n * E18]);
  return readContract<bigint>(chain, market(), "listingCount");
}

async function openEscrow(listingId: bigint): Promise<bigint> {
  const deposit = 10n * E18;
  await call(RENTER, token(), "approve", [market().address, deposit]);
  const now = (await chain.publicClient.getBlock()).timestamp;
  const { pricePerUnit } = await readContract<{ pricePerUnit: bigint }>(chain, market(), "getListing", [listingId]);
  await call(RENTER, market(), "openEscrow", [listingId, deposit, deposit, now + 7_200n, pricePerUnit]);
  return readContract<bigint>(chain, market(), "escrowCount");
}

function startGateway(provider: number, listingId: bigint, port: number): Promise<ChildProcess> {
  const child = processes.spawn(
    `gateway-${port}`,
    process.execPath,
    ["--import", "tsx", path.join(ROOT, "workers", "provider-gateway", "main.ts")],
    {
      PROVIDER_KEY: privateKeyOf(provider),
      RPC_URL: chain.rpcUrl,
      NETWORK: "e2e",
      GATEWAY_LISTINGS: listingId.toString(),
      GATEWAY_PORT: String(port),
      GATEWAY_STATE_FILE: path.join(chain.logDir, `gateway-${port}`, "usage.json"),
      CONSENSUS_NODES: NO_NODE,
      SETTLE_INTERVAL_MS: "5000",
    },
    path.join(chain.logDir, `gateway-${port}.log`),
  );
  return waitFor(`gateway on ${port}`, async () => {
    if (child.exitCode !== null) throw new Error(`gateway exited; see ${chain.logDir}`);
    return (await fetch(`http://127.0.0.1:${port}/health`)).ok ? child : undefined;
  }, 60_000, 100);
}

/**
 * A gateway posing as the demo provider: its /v1/info declares the demo provider's address and claims listing 9 and
 * account 13's listing. It answers the identity challenge as well as it can, with a key of its own (which owns no
 * listing), and would answer any query it got with a forged completion (counted: none must arrive).
 */
function startPoser(): Promise<http.Server> {
  const key = privateKeyToAccount(generatePrivateKey());
  const identity = new IdentityResponder(key, 31337, market().address, `http://127.0.0.1:${POSER_PORT}`);
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.method === "GET" && req.url === "/v1/info") {
      return reply(200, { provider: account(PROVIDER).address, chainId: 31337, model: "prsm-demo-nlp", listings: [{ listingId: listings.a.toString() }, { listingId: listings.b.toString() }] });
    }
    if (req.method === "POST" && req.url === "/v1/identity") {
      poserSeen.challenges += 1;
      return reply(200, await identity.answer(JSON.parse(Buffer.concat(chunks).toString("utf8"))));
    }
    if (req.method === "POST") poserSeen.queries += 1;
    return reply(200, { object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content: "forged" }, finish_reason: "stop" }] });
  });
  return new Promise((resolve) => server.listen(POSER_PORT, "127.0.0.1", () => resolve(server)));
}

const TEXT = "Acme Corp reported record revenue on Monday. Investors were delighted and the stock rose 12%.";

/** A chat query offering all three escrows; `extra` goes into the signed body (provider, models, model). */
const chat = (extra: Record<string, unknown> = {}, hints: { listingId?: bigint } = {}): Promise<QueryResult> =>
  renter.query("/v1/chat/completions", { messages: [{ role: "user", content: TEXT }], ...extra }, { escrowIds: [escrows.a, escrows.b, escrows.c], budgetUnits: 400n, ...hints });

const servedBy = (r: QueryResult) => {
  assert.equal(r.status, 200, r.body);
  assert.match(r.json.choices[0].message.content, /Sentiment: positive/, "the demo model answered");
  return r.listingId;
};
const tried = (r: QueryResult) => r.attempts.map((a) => [a.listingId, a.outcome]);

describe("OpenRouter-style routing and provider identity", { timeout: 600_000 }, () => {
  before(async () => {
    chain = await startChain(processes, CHAIN_PORT);
    const domain: TypedDataDomain = await committeeDomain(chain);
    const demoPrice = priceInFtns(DEMO_MODEL);
    listings.b = await listModel(PROVIDER_B, demoPrice / 4n, "(routing B)");
    listings.c = await listModel(PROVIDER_C, demoPrice / 10n, "(routing C)");
    escrows.a = await openEscrow(listings.a);
    escrows.b = await openEscrow(listings.b);
    escrows.c = await openEscrow(listings.c);
    poser = await startPoser();
    await startGateway(PROVIDER, listings.a, GATEWAY_A_PORT);
    gatewayB = await startGateway(PROVIDER_B, listings.b, GATEWAY_B_PORT);
    await startGateway(PROVIDER_C, listings.c, GATEWAY_C_PORT);
    const orchestrator = processes.spawn(
      "orchestrator",
      process.execPath,
      ["--import", "tsx", path.join(ROOT, "workers", "orchestrator", "main.ts")],
      {
        RPC_URL: chain.rpcUrl,
        NETWORK: "e2e",
        // The poser first: with the old registry its claim replaced the demo provider's listing 9.
        PROVIDER_GATEWAYS: [POSER_PORT, GATEWAY_A_PORT, GATEWAY_B_PORT, GATEWAY_C_PORT].map((p) => `http://127.0.0.1:${p}`).join(","),
        CONSENSUS_NODES: NO_NODE,
        ORCHESTRATOR_PORT: String(ORCHESTRATOR_PORT),
        ORCHESTRATOR_PROVIDER_TIMEOUT_MS: "5000",
        ORCHESTRATOR_REFRESH_MS: "1000",
      },
      path.join(chain.logDir, "orchestrator.log"),
    );
    await waitFor("the orchestrator", async () => {
      if (orchestrator.exitCode !== null) throw new Error(`orchestrator exited; see ${chain.logDir}`);
      const res = await fetch(`${ORCHESTRATOR}/health`);
      return res.ok && ((await res.json()) as { listings: number }).listings === 3 ? true : undefined;
    }, 60_000, 100);
    renter = new RenterClient(account(RENTER), domain, ORCHESTRATOR, {
      chainNow: async () => (await chain.publicClient.getBlock({ blockTag: "latest" })).timestamp,
      marketplaceDomain: await domainOf(chain, "ModelMarketplace"),
      unitOf: async () => 0,
    });
  });

  after(async () => {
    await new Promise((r) => (poser ? poser.close(r) : r(undefined)));
    await processes.stopAll();
  });

  test("default ranking: the cheapest listing; the X-PRSM-Listing header still narrows", async () => {
    assert.equal(servedBy(await chat()), listings.c);
    assert.equal(servedBy(await chat({}, { listingId: listings.a })), listings.a);
  });

  test("a gateway posing as another provider is refused, gets nothing, and the genuine listing stays routable", async () => {
    assert.ok(poserSeen.challenges >= 1, "the orchestrator challenged the poser");
    // Re-verified at every refresh (1 s here).
    const before = poserSeen.challenges;
    await waitFor("another identity challenge", async () => (poserSeen.challenges > before ? true : undefined), 10_000, 100);
    const a = await chat({ provider: { only: [account(PROVIDER).address] } });
    assert.equal(servedBy(a), listings.a);
    assert.equal(a.report!.escrowId, escrows.a);
    assert.equal(servedBy(await chat({ provider: { order: [listings.b.toString()] } })), listings.b);
    const models = (await (await fetch(`${ORCHESTRATOR}/v1/models`)).json()) as { data: { listingId: string; provider: string }[] };
    assert.equal(models.data.find((m) => m.listingId === listings.a.toString())?.provider, account(PROVIDER).address);
    assert.equal(poserSeen.queries, 0, "no renter request reached the poser");
  });

  test("provider.only, provider.ignore and provider.order", async () => {
    assert.equal(servedBy(await chat({ provider: { only: [account(PROVIDER_B).address.toLowerCase()] } })), listings.b);
    assert.equal(servedBy(await chat({ provider: { ignore: [`listing-${listings.c}`, account(PROVIDER).address] } })), listings.b);
    assert.equal(servedBy(await chat({ provider: { order: [Number(listings.a), listings.b.toString()] } })), listings.a);
    assert.equal(servedBy(await chat({ provider: { order: [account(PROVIDER_B).address] } })), listings.b);
    assert.equal(servedBy(await chat({ provider: { sort: "price" } })), listings.c);
    // max_price per unit in FTNS wei: the cheapest is over a bound of 0; the renter learns why each was left out.
    const none = await chat({ provider: { max_price: { prompt: 0, completion: 0 } } });
    assert.equal(none.status, 422, none.body);
    assert.equal(none.json.error.code, "no-candidate");
    assert.deepEqual(none.json.error.details.excluded.map((e: { reason: string }) => e.reason), ["over-max-price", "over-max-price", "over-max-price"]);
    const price = (await readContract<{ pricePerUnit: bigint }>(chain, market(), "getListing", [listings.b])).pricePerUnit;
    assert.equal(servedBy(await chat({ provider: { max_price: price.toString(), ignore: [`${listings.c}`] } })), listings.b);
  });

  test("invalid preferences are refused with a 400 naming the field, before any provider is called", async () => {
    for (const [extra, field] of [
      [{ provider: { sort: "cheapest" } }, /provider\.sort/],
      [{ provider: { order: ["nobody"] } }, /provider\.order\[0\]/],
      [{ provider: { max_price: 1.5 } }, /provider\.max_price/],
      [{ models: "listing-9" }, /^models must be an array/],
    ] as const) {
      const r = await chat(extra);
      assert.equal(r.status, 400, r.body);
      assert.match(r.json.error.message, field);
      assert.deepEqual(r.attempts, []);
    }
  });

  test("models: a fallback list of model ids tried in order", async () => {
    // The first has no candidate among the renter's escrows (no image listing), the second is listing B.
    assert.equal(servedBy(await chat({ models: ["image", `listing-${listings.b}`, "language"] })), listings.b);
    // The request's own model first; a category matches any listing of it (ranked: the cheapest).
    assert.equal(servedBy(await chat({ model: `listing-${listings.a}`, models: ["language"] })), listings.a);
    assert.equal(servedBy(await chat({ model: "language" })), listings.c);
    // A gateway's model name is a model id too; an unknown plain `model` (an OpenAI client's default) is ignored.
    assert.equal(servedBy(await chat({ model: "gpt-4o" })), listings.c);
    assert.equal(servedBy(await chat({ models: ["prsm-demo-nlp"], provider: { order: [`${listings.b}`] } })), listings.b);
    const none = await chat({ models: ["listing-9999"] });
    assert.equal(none.status, 422, none.body);
  });

  test("/v1/models lists every rentable listing with price, unit, category, provider and measurements", async () => {
    const res = await fetch(`${ORCHESTRATOR}/v1/models`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { object: string; data: Record<string, any>[] };
    assert.equal(body.object, "list");
    assert.deepEqual(body.data.map((m) => m.id), [`listing-${listings.a}`, `listing-${listings.b}`, `listing-${listings.c}`]);
    const providers = [PROVIDER, PROVIDER_B, PROVIDER_C].map((i) => account(i).address as Address);
    for (const [i, m] of body.data.entries()) {
      const id = [listings.a, listings.b, listings.c][i]!;
      const onChain = await readContract<{ pricePerUnit: bigint; provider: Address }>(chain, market(), "getListing", [id]);
      assert.equal(m.object, "model");
      assert.equal(m.owned_by, providers[i]);
      assert.equal(m.provider, onChain.provider);
      assert.equal(m.listingId, id.toString());
      assert.equal(m.name, "prsm-demo-nlp");
      assert.equal(m.category, "language");
      assert.equal(m.unit, "token");
      assert.equal(m.pricePerUnit, onChain.pricePerUnit.toString());
      assert.deepEqual(m.pricing, { prompt: m.pricePerUnit, completion: m.pricePerUnit });
      assert.equal(typeof m.created, "number");
      // Every listing has answered queries by now: measured latency and a success rate above the prior's 0.5.
      assert.ok(typeof m.latencyMs === "number" && m.latencyMs >= 0, JSON.stringify(m));
      assert.ok(m.successRate > 0.5 && m.successRate <= 1, JSON.stringify(m));
    }
  });

  test("allow_fallbacks false with the preferred provider down: an error, not another provider", async () => {
    await processes.stop(gatewayB, "SIGKILL");
    const strict = await chat({ provider: { order: [account(PROVIDER_B).address], allow_fallbacks: false } });
    assert.equal(strict.status, 502, strict.body);
    assert.equal(strict.json.error.code, "providers-failed");
    assert.deepEqual(tried(strict), [[listings.b.toString(), "unreachable"]]);
    // With fallbacks (the default) the next provider serves.
    const fallback = await chat({ provider: { order: [account(PROVIDER_B).address] } });
    assert.equal(servedBy(fallback), listings.c);
    assert.deepEqual(tried(fallback), [[listings.b.toString(), "unreachable"], [listings.c.toString(), "served"]]);
    // The models list falls back past a model whose every candidate failed.
    const models = await chat({ models: [`listing-${listings.b}`, `listing-${listings.a}`], provider: { allow_fallbacks: false } });
    assert.equal(servedBy(models), listings.a);
    assert.deepEqual(tried(models), [[listings.b.toString(), "unreachable"], [listings.a.toString(), "served"]]);
    assert.equal(poserSeen.queries, 0, "no renter request reached the poser");
  });
});
