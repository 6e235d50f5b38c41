/**
 * Renters use the tools they already have: the official `openai` npm package, unmodified, against the renter proxy
 * (workers/renter/), with real processes behind it: a Hardhat node, four consensus nodes, a provider gateway running
 * the demo model (streaming in pieces), the orchestrator, the indexer and the GraphQL API.
 *
 * Covered: a chat completion, a streamed chat completion whose chunks arrive incrementally (first chunk well before
 * the end), usage and PRSM's charge in the final streamed chunk, embeddings, an exhausted budget surfaced as an
 * OpenAI-style error, the charges settled on chain and shown by the GraphQL API; a stream cut by the client after a
 * few chunks is charged only for what was delivered (never more than the query's budget); a renter's `model` field
 * never chooses the upstream model (a fake OpenAI upstream records what it was asked); the proxy's bearer token.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import path from "node:path";
import OpenAI from "openai";
import pino from "pino";
import { createApi, type Api } from "../../api/server";
import { loadApiConfig } from "../../api/config";
import { DEMO_MODEL, listingMetadata, priceInFtns } from "../../config/launch-models";
import { keccak256, toBytes } from "viem";
import { encryptKeystore } from "../../workers/renter/keystore";
import { deployment, privateKeyOf, readContract, ROOT, send, startConsensusNode, waitFor, walletFor, type Chain, type ConsensusNodeProcess } from "./harness";
import { startIndexedChain, type IndexedChain } from "./indexed";
import { PROVIDER, RENTER } from "./usage";
import fs from "node:fs";

const CHAIN_PORT = 8645;
const PG_PORT = 15333;
const PONDER_PORT = 16178;
const NODE_PORTS = [8781, 8782, 8783, 8784];
const ORCHESTRATOR_PORT = 8785;
const GATEWAY_PORT = 8786;
const UPSTREAM_GATEWAY_PORT = 8787;
const FAKE_UPSTREAM_PORT = 8788;
const PROXY_PORT = 8789;
const POOR_PROXY_PORT = 8790;
const API_KEY = "local-secret";
const E18 = 10n ** 18n;
const DEMO_LISTING = 9n;
const UPSTREAM_PROVIDER = 13;

let env: IndexedChain;
let chain: Chain;
let api: Api;
let nodes: ConsensusNodeProcess[] = [];
let fakeUpstream: http.Server;
const upstreamAsked: { model: unknown; stream: unknown; n: unknown }[] = [];
let upstreamListing = 0n;
const market = () => deployment("ModelMarketplace");
const token = () => deployment("FTNSToken");
const read = <T>(fn: string, args: unknown[] = []) => readContract<T>(chain, market(), fn, args);
const call = async (from: number, c: ReturnType<typeof market>, functionName: string, args: unknown[]) =>
  send(chain, await walletFor(chain, from).writeContract({ ...c, abi: c.abi as never, functionName, args } as never));

const TEXT = "Acme Corp reported record revenue on Monday. Investors were delighted and the stock rose 12%. Analysts said revenue growth came from strong cloud sales.";

function spawnWorker(name: string, file: string, vars: Record<string, string>, healthUrl: string) {
  const child = env.processes.spawn(name, process.execPath, ["--import", "tsx", path.join(ROOT, "workers", ...file.split("/"))], vars, path.join(chain.logDir, `${name}.log`));
  return waitFor(name, async () => {
    if (child.exitCode !== null) throw new Error(`${name} exited; see ${chain.logDir}/${name}.log`);
    return (await fetch(healthUrl)).ok ? child : undefined;
  }, 60_000, 100);
}

function startGateway(provider: number, listingId: bigint, port: number, extra: Record<string, string> = {}) {
  return spawnWorker(`gateway-${port}`, "provider-gateway/main.ts", {
    PROVIDER_KEY: privateKeyOf(provider),
    RPC_URL: chain.rpcUrl,
    NETWORK: "e2e",
    GATEWAY_LISTINGS: listingId.toString(),
    GATEWAY_PORT: String(port),
    GATEWAY_STATE_FILE: path.join(chain.logDir, `gateway-${port}`, "usage.json"),
    CONSENSUS_NODES: NODE_PORTS.map((p) => `http://127.0.0.1:${p}`).join(","),
    SETTLE_INTERVAL_MS: "500",
    REPORT_RESEND_MS: "2000",
    ...extra,
  }, `http://127.0.0.1:${port}/health`);
}

function startProxy(port: number, vars: Record<string, string>) {
  return spawnWorker(`renter-proxy-${port}`, "renter/main.ts", {
    RPC_URL: chain.rpcUrl,
    NETWORK: "e2e",
    ORCHESTRATOR_URL: `http://127.0.0.1:${ORCHESTRATOR_PORT}`,
    RENTER_PORT: String(port),
    RENTER_LEDGER_FILE: path.join(chain.logDir, `renter-${port}`, "ledger.json"),
    ...vars,
  }, `http://127.0.0.1:${port}/health`);
}

/** An OpenAI-compatible upstream that records what it was asked and answers (streamed or not) with its own usage. */
function startFakeUpstream(): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      upstreamAsked.push({ model: body.model, stream: body.stream, n: body.n });
      const text = "an upstream answer in a few words";
      if (body.stream) {
        res.writeHead(200, { "content-type": "text/event-stream" });
        for (const word of text.split(" ")) res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: `${word} ` }, finish_reason: null }] })}\n\n`);
        res.write(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 } })}\n\n`);
        res.end("data: [DONE]\n\n");
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ object: "chat.completion", model: body.model, choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }], usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 } }));
    });
  });
  return new Promise((resolve) => server.listen(FAKE_UPSTREAM_PORT, "127.0.0.1", () => resolve(server)));
}

const client = (port = PROXY_PORT, apiKey = API_KEY) => new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey, maxRetries: 0, timeout: 60_000 });

async function ledger(port = PROXY_PORT) {
  return (await (await fetch(`http://127.0.0.1:${port}/v1/ledger`, { headers: { authorization: `Bearer ${API_KEY}` } })).json()) as {
    escrows: { escrowId: string; listingId: string; acknowledgedUnits: string; spent: string; queries: number }[];
  };
}

async function settled(escrowId: bigint, units: bigint, timeoutMs = 90_000) {
  return waitFor(`escrow ${escrowId} to settle ${units} units`, async () => {
    const e = await read<{ units: bigint; charged: bigint; pricePerUnit: bigint }>("getEscrow", [escrowId]);
    return e.units >= units ? e : undefined;
  }, timeoutMs, 200);
}

describe("any OpenAI client through the renter proxy", { timeout: 900_000 }, () => {
  before(async () => {
    env = await startIndexedChain({ chainPort: CHAIN_PORT, pgPort: PG_PORT });
    chain = env.chain;
    // A second provider lists the demo model behind an "upstream" OpenAI server (the fake above).
    const { uri } = listingMetadata({ ...DEMO_MODEL, name: `${DEMO_MODEL.name} (upstream)` });
    await call(UPSTREAM_PROVIDER, token(), "approve", [market().address, 100n * E18]);
    await call(UPSTREAM_PROVIDER, market(), "list", [keccak256(toBytes(uri)), uri, 0, 0, priceInFtns(DEMO_MODEL), "0x0000000000000000000000000000000000000000", 0, 100n * E18]);
    upstreamListing = await read<bigint>("listingCount");
    fakeUpstream = await startFakeUpstream();
    const nodeUrls = NODE_PORTS.map((p) => `http://127.0.0.1:${p}`);
    nodes = await Promise.all(
      [14, 15, 16, 17].map((index, i) => startConsensusNode(env.processes, chain, { index, port: NODE_PORTS[i]!, peers: nodeUrls.filter((_, j) => j !== i), stateDir: path.join(chain.logDir, `node-${index}`) })),
    );
    await startGateway(PROVIDER, DEMO_LISTING, GATEWAY_PORT, { DEMO_STREAM_DELAY_MS: "40" });
    await startGateway(UPSTREAM_PROVIDER, upstreamListing, UPSTREAM_GATEWAY_PORT, { UPSTREAM_URL: `http://127.0.0.1:${FAKE_UPSTREAM_PORT}`, UPSTREAM_MODEL: "the-listed-model" });
    await spawnWorker("orchestrator", "orchestrator/main.ts", {
      RPC_URL: chain.rpcUrl,
      NETWORK: "e2e",
      PROVIDER_GATEWAYS: [GATEWAY_PORT, UPSTREAM_GATEWAY_PORT].map((p) => `http://127.0.0.1:${p}`).join(","),
      CONSENSUS_NODES: nodeUrls.join(","),
      ORCHESTRATOR_PORT: String(ORCHESTRATOR_PORT),
    }, `http://127.0.0.1:${ORCHESTRATOR_PORT}/health`);
    await waitFor("both listings routable", async () => {
      const res = await fetch(`http://127.0.0.1:${ORCHESTRATOR_PORT}/health`);
      return res.ok && ((await res.json()) as { listings: number }).listings >= 2 ? true : undefined;
    }, 60_000, 200);
    // The renter's key from a V3 keystore; the proxy opens its own escrows (with permit) within a 30 FTNS budget.
    const keystore = path.join(chain.logDir, "renter-keystore.json");
    fs.writeFileSync(keystore, encryptKeystore(privateKeyOf(RENTER), "correct horse", 1 << 12));
    await startProxy(PROXY_PORT, {
      RENTER_KEYSTORE: keystore,
      RENTER_KEYSTORE_PASSWORD: "correct horse",
      RENTER_API_KEY: API_KEY,
      RENTER_BUDGET_FTNS: "30",
      RENTER_ESCROW_DEPOSIT_FTNS: "10",
      RENTER_QUERY_BUDGET_UNITS: "600",
    });
    env.startIndexer("renter_proxy", "prsm_renter_proxy", PONDER_PORT);
  });

  after(async () => {
    await api?.close().catch(() => undefined);
    await new Promise((r) => (fakeUpstream ? fakeUpstream.close(r) : r(undefined)));
    await env?.stop();
  });

  test("the proxy needs its bearer token", async () => {
    await assert.rejects(client(PROXY_PORT, "wrong").chat.completions.create({ model: "auto", messages: [{ role: "user", content: "hi" }] }), (e: unknown) => {
      assert.ok(e instanceof OpenAI.AuthenticationError, String(e));
      return true;
    });
  });

  test("chat, streamed chat and embeddings with the official client; charges settle and show in GraphQL", async () => {
    const openai = client();
    const models = await openai.models.list();
    assert.ok(models.data.some((m) => m.id === `listing-${DEMO_LISTING}`), JSON.stringify(models.data.map((m) => m.id)));

    const completion = await openai.chat.completions.create({ model: `listing-${DEMO_LISTING}`, messages: [{ role: "user", content: TEXT }] });
    assert.match(completion.choices[0]!.message.content ?? "", /Sentiment: positive/);
    assert.ok(completion.usage && completion.usage.total_tokens > 0);

    const t0 = performance.now();
    let firstAt = 0;
    let text = "";
    let chunks = 0;
    let final: OpenAI.Chat.Completions.ChatCompletionChunk | undefined;
    const stream = await openai.chat.completions.create({ model: `listing-${DEMO_LISTING}`, messages: [{ role: "user", content: TEXT }], stream: true, stream_options: { include_usage: true } });
    const arrivals: number[] = [];
    for await (const chunk of stream) {
      if (!firstAt) firstAt = performance.now() - t0;
      arrivals.push(performance.now());
      chunks++;
      text += chunk.choices[0]?.delta?.content ?? "";
      if (chunk.usage) final = chunk;
    }
    const total = performance.now() - t0;
    assert.equal(text, completion.choices[0]!.message.content, "the streamed answer is the same answer");
    assert.ok(chunks >= 5, `only ${chunks} chunks`);
    // Incremental, not buffered: the demo model pauses between pieces (DEMO_STREAM_DELAY_MS, 15 ms), so chunks that
    // pass through unbuffered arrive with gaps; a buffering hop would deliver them in one burst. (A ratio of first
    // chunk to total time flaked under load: a busy machine delays the first chunk, never closes the gaps.)
    const gaps = arrivals.slice(1).map((t, i) => t - arrivals[i]);
    assert.ok(gaps.filter((g) => g >= 5).length >= 2, `chunks arrived in a burst (first after ${firstAt.toFixed(0)} ms of ${total.toFixed(0)} ms; gaps ${gaps.map((g) => g.toFixed(1)).join(", ")} ms): not incremental`);
    assert.ok(final?.usage && final.usage.total_tokens === completion.usage!.total_tokens, JSON.stringify(final));
    const prsm = (final as unknown as { prsm: { escrowId: string; units: string; costWei: string }; usage: { cost: number } });
    assert.equal(BigInt(prsm.prsm.units), BigInt(final!.usage!.total_tokens));
    assert.ok(prsm.usage.cost > 0);

    // The SDK asks for base64 by default and decodes it; floats when asked.
    const embeddings = await openai.embeddings.create({ model: `listing-${DEMO_LISTING}`, input: ["stock rose", "rain in Paris"] });
    assert.equal(embeddings.data.length, 2);
    assert.equal(embeddings.data[0]!.embedding.length, 256);
    const floats = await openai.embeddings.create({ model: `listing-${DEMO_LISTING}`, input: "stock rose", encoding_format: "float" });
    assert.deepEqual(floats.data[0]!.embedding.map((x) => Math.round(x * 1e4)), embeddings.data[0]!.embedding.map((x) => Math.round(x * 1e4)));

    // The ledger holds the escrow the proxy opened, and what it acknowledged; the committee settles all of it.
    const entry = (await ledger()).escrows.find((e) => e.listingId === DEMO_LISTING.toString())!;
    assert.ok(entry && entry.queries === 4, JSON.stringify(await ledger()));
    const escrowId = BigInt(entry.escrowId);
    const onChain = await settled(escrowId, BigInt(entry.acknowledgedUnits));
    assert.equal(onChain.units, BigInt(entry.acknowledgedUnits), "settled exactly what the renter acknowledged");
    assert.equal(onChain.charged, BigInt(entry.spent));

    await env.indexedToHead(PONDER_PORT);
    api = createApi(loadApiConfig({ DATABASE_URL: env.databaseUrl, API_VIEWS_SCHEMA: "prsm_renter_proxy", API_HEAD_POLL_MS: "100" }), pino({ level: "silent" }));
    await api.start();
    const res = await api.yoga.fetch("http://api/graphql", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: `{ escrow(id: "${escrowId}") { charged units charges(limit: 100) { amount } } }` }),
    });
    const gql = (await res.json()) as { data: { escrow: { charged: string; units: string; charges: { amount: string }[] } } };
    assert.equal(gql.data.escrow.charged, entry.spent);
    assert.ok(gql.data.escrow.charges.length >= 1);
  });

  test("a stream the client cuts after a few chunks is charged only for what was delivered", async () => {
    const openai = client();
    const entryBefore = (await ledger()).escrows.find((e) => e.listingId === DEMO_LISTING.toString())!;
    const escrowId = BigInt(entryBefore.escrowId);
    const before = await read<{ units: bigint }>("getEscrow", [escrowId]);
    const full = await openai.chat.completions.create({ model: `listing-${DEMO_LISTING}`, messages: [{ role: "user", content: TEXT }] });
    const fullUnits = BigInt(full.usage!.total_tokens);
    const afterFull = await settled(escrowId, before.units + fullUnits);
    const controller = new AbortController();
    const stream = await openai.chat.completions.create({ model: `listing-${DEMO_LISTING}`, messages: [{ role: "user", content: TEXT }], stream: true }, { signal: controller.signal });
    let seen = 0;
    // Leaving the loop ends the SDK's stream (it aborts the request); the abort makes sure the connection goes.
    for await (const _ of stream) {
      if (++seen === 3) break;
    }
    controller.abort();
    assert.equal(seen, 3);
    // The gateway reports (and the committee settles) what it wrote before the client left: more than the prompt,
    // less than the full answer, within the query's budget.
    const cut = await waitFor("the cut stream's usage to settle", async () => {
      const e = await read<{ units: bigint }>("getEscrow", [escrowId]);
      return e.units > afterFull.units ? e : undefined;
    }, 90_000, 200);
    const charged = cut.units - afterFull.units;
    const prompt = BigInt(full.usage!.prompt_tokens);
    assert.ok(charged > prompt && charged < fullUnits, `cut stream charged ${charged} units; prompt ${prompt}, full answer ${fullUnits}`);
    assert.ok(charged <= 600n, "never beyond the query's budget");
  });

  test("the renter's model field never picks the upstream model; other fields are not passed", async () => {
    const openai = client();
    upstreamAsked.length = 0;
    const plain = await openai.chat.completions.create({ model: `listing-${upstreamListing}`, messages: [{ role: "user", content: "hello there" }], n: 3 } as never);
    assert.equal((plain as OpenAI.Chat.Completions.ChatCompletion).choices[0]!.message.content, "an upstream answer in a few words");
    let streamed = "";
    for await (const c of await openai.chat.completions.create({ model: `listing-${upstreamListing}`, messages: [{ role: "user", content: "hello there" }], stream: true })) streamed += c.choices[0]?.delta?.content ?? "";
    assert.match(streamed, /an upstream answer/);
    assert.equal(upstreamAsked.length, 2);
    for (const asked of upstreamAsked) {
      assert.equal(asked.model, "the-listed-model", "the listing's model, not the renter's");
      assert.equal(asked.n, undefined, "n is not passed upstream");
    }
  });

  test("an exhausted budget is an OpenAI-style error", async () => {
    // A second proxy for the same renter with a budget too small for any escrow (below the minimum deposit).
    await startProxy(POOR_PROXY_PORT, { RENTER_KEY: privateKeyOf(RENTER), RENTER_BUDGET_FTNS: "0.000001" });
    const poor = client(POOR_PROXY_PORT, "unused");
    await assert.rejects(poor.chat.completions.create({ model: "auto", messages: [{ role: "user", content: "hi" }] }), (e: unknown) => {
      assert.ok(e instanceof OpenAI.APIError, String(e));
      assert.equal(e.status, 402);
      assert.equal((e.error as { type?: string; code?: string }).code, "budget-exhausted");
      assert.match(e.message, /budget/);
      return true;
    });
  });
});
