/**
 * The user-facing loop with real processes: a Hardhat node, four consensus nodes, two provider gateways running the
 * wink-nlp demo model, the orchestrator, the indexer (Ponder on an embedded Postgres) and the GraphQL API.
 * A renter opens escrows, sends queries through the orchestrator with its own signatures, gets computed answers,
 * the committee settles the usage, the provider withdraws, the fee reaches the treasury and the API shows the
 * charges. Failures: the first-ranked provider down, a provider answering garbage or over-reporting, an escrow
 * running out (402), a bad signature (401) and malformed JSON (400).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import path from "node:path";
import type { ChildProcess } from "node:child_process";
import pino from "pino";
import { keccak256, toBytes, type Address, type TypedDataDomain } from "viem";
import { createApi, type Api } from "../../api/server";
import { loadApiConfig } from "../../api/config";
import { DEMO_MODEL, listingMetadata, priceInFtns } from "../../config/launch-models";
import {
  AUTHORIZATION_HEADER,
  formatAuthorizationHeader,
  parseAuthorizationHeader,
  RECEIPT_HEADER,
  requestDigest,
  responseDigest,
  signAuthorization,
  usageResultDigest,
} from "../../workers/shared/authorization";
import { reportToJson, signProviderReport } from "../../workers/shared/usage-report";
import { RenterClient } from "../../workers/renter/client";
import { account, deployment, privateKeyOf, readContract, ROOT, send, startConsensusNode, waitFor, walletFor, type Chain } from "./harness";
import { startIndexedChain, type IndexedChain } from "./indexed";
import { committeeDomain, postJson, PROVIDER, RENTER } from "./usage";

const CHAIN_PORT = 8645;
const PG_PORT = 54332;
const PONDER_PORT = 42173;
const NODE_PORTS = [8741, 8742, 8743, 8744];
const ORCHESTRATOR_PORT = 8750;
const GATEWAY_A_PORT = 8751; // the demo provider (account 18), listing 9
const GATEWAY_B_PORT = 8752; // a second provider (account 13), a cheaper listing of the same model
const FAKE_PORT = 8753; // a dishonest provider (account 12), cheapest of all
const SECOND_PROVIDER = 13;
const DISHONEST_PROVIDER = 12;
const E18 = 10n ** 18n;
const ORCHESTRATOR = `http://127.0.0.1:${ORCHESTRATOR_PORT}`;

let env: IndexedChain;
let chain: Chain;
let domain: TypedDataDomain;
let api: Api;
let renter: RenterClient;
let gatewayB: ChildProcess;
let fake: http.Server;
let fakeMode: "garbage" | "over-report" = "garbage";
const listings = { a: 9n, b: 0n, fake: 0n };
const market = () => deployment("ModelMarketplace");
const token = () => deployment("FTNSToken");
const read = <T>(c: ReturnType<typeof market>, fn: string, args: unknown[] = []) => readContract<T>(chain, c, fn, args);
const call = async (from: number, c: ReturnType<typeof market>, functionName: string, args: unknown[]) =>
  send(chain, await walletFor(chain, from).writeContract({ ...c, abi: c.abi as never, functionName, args } as never));

interface EscrowState {
  charged: bigint;
  sequence: bigint;
  pricePerUnit: bigint;
  spendCap: bigint;
}

async function listModel(provider: number, price: bigint, tag: string): Promise<bigint> {
  const { uri } = listingMetadata({ ...DEMO_MODEL, name: `${DEMO_MODEL.name} ${tag}` });
  await call(provider, token(), "approve", [market().address, 100n * E18]);
  await call(provider, market(), "list", [keccak256(toBytes(uri)), uri, 0, 0, price, "0x0000000000000000000000000000000000000000", 0, 100n * E18]);
  return read<bigint>(market(), "listingCount");
}

async function openEscrow(listingId: bigint, deposit: bigint, cap = deposit): Promise<bigint> {
  await call(RENTER, token(), "approve", [market().address, deposit]);
  const now = (await chain.publicClient.getBlock()).timestamp;
  await call(RENTER, market(), "openEscrow", [listingId, deposit, cap, now + 7_200n]);
  return read<bigint>(market(), "escrowCount");
}

const escrowOf = (id: bigint) => read<EscrowState>(market(), "getEscrow", [id]);

function startGateway(provider: number, listingId: bigint, port: number): Promise<ChildProcess> {
  const child = env.processes.spawn(
    `gateway-${port}`,
    process.execPath,
    ["--import", "tsx", path.join(ROOT, "workers", "provider-gateway", "main.ts")],
    {
      PROVIDER_KEY: privateKeyOf(provider),
      RPC_URL: chain.rpcUrl,
      NETWORK: "e2e",
      GATEWAY_LISTINGS: listingId.toString(),
      GATEWAY_PORT: String(port),
      GATEWAY_STATE_FILE: path.join(chain.logDir, `gateway-${port}.json`),
    },
    path.join(chain.logDir, `gateway-${port}.log`),
  );
  return waitFor(`gateway on ${port}`, async () => {
    if (child.exitCode !== null) throw new Error(`gateway exited; see ${chain.logDir}`);
    return (await fetch(`http://127.0.0.1:${port}/health`)).ok ? child : undefined;
  }, 60_000, 100);
}

/** A provider that answers badly on purpose: garbage bytes, or a well-signed report claiming more than authorized. */
function startFakeProvider(): Promise<http.Server> {
  const server = http.createServer(async (req, res) => {
    if (req.method === "GET") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ provider: account(DISHONEST_PROVIDER).address, chainId: 31337, model: "fake", listings: [{ listingId: listings.fake.toString() }] }));
      return;
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (fakeMode === "garbage") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end("\u0000\u0013 not json at all");
      return;
    }
    const [auth] = parseAuthorizationHeader(req.headers[AUTHORIZATION_HEADER], requestDigest(req.url!, Buffer.concat(chunks)));
    const body = JSON.stringify({ object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content: "fine" }, finish_reason: "stop" }] });
    const response = responseDigest(body);
    const fields = { escrowId: auth!.escrowId, cumulativeUnits: auth!.maxCumulativeUnits + 1_000n, sequence: 1n, resultDigest: usageResultDigest(domain, auth!, response) };
    const report = { ...fields, providerSignature: await signProviderReport(account(DISHONEST_PROVIDER), domain, fields), authorization: auth!, responseDigest: response };
    lastFakeReport = reportToJson(report);
    res.writeHead(200, { "content-type": "application/json", [RECEIPT_HEADER]: Buffer.from(JSON.stringify(lastFakeReport)).toString("base64url") });
    res.end(body);
  });
  return new Promise((resolve) => server.listen(FAKE_PORT, "127.0.0.1", () => resolve(server)));
}
let lastFakeReport: ReturnType<typeof reportToJson> | undefined;

const TEXT = "Acme Corp reported record revenue on Monday. Investors were delighted and the stock rose 12%. "
  + "Analysts said revenue growth came from strong cloud sales. The weather in Boston was grey.";

const chat = (text: string, escrowIds: bigint[], extra: Record<string, unknown> = {}) =>
  renter.query("/v1/chat/completions", { messages: [{ role: "user", content: text }] }, { escrowIds, ...extra });

async function settled(escrowId: bigint, sequence: bigint): Promise<EscrowState> {
  return waitFor(`escrow ${escrowId} to settle report ${sequence}`, async () => {
    const e = await escrowOf(escrowId);
    return e.sequence >= sequence ? e : undefined;
  }, 60_000, 100);
}

describe("rented queries end to end", { timeout: 900_000 }, () => {
  before(async () => {
    env = await startIndexedChain({ chainPort: CHAIN_PORT, pgPort: PG_PORT });
    chain = env.chain;
    domain = await committeeDomain(chain);
    const demoPrice = priceInFtns(DEMO_MODEL);
    assert.equal((await read<{ provider: Address; pricePerUnit: bigint }>(market(), "getListing", [listings.a])).pricePerUnit, demoPrice);
    listings.b = await listModel(SECOND_PROVIDER, demoPrice / 4n, "(second provider)");
    listings.fake = await listModel(DISHONEST_PROVIDER, demoPrice / 10n, "(dishonest)");

    const nodeUrls = NODE_PORTS.map((p) => `http://127.0.0.1:${p}`);
    await Promise.all(
      [14, 15, 16, 17].map((index, i) =>
        startConsensusNode(env.processes, chain, { index, port: NODE_PORTS[i]!, peers: nodeUrls.filter((_, j) => j !== i), stateDir: path.join(chain.logDir, `node-${index}`) }),
      ),
    );
    await startGateway(PROVIDER, listings.a, GATEWAY_A_PORT);
    gatewayB = await startGateway(SECOND_PROVIDER, listings.b, GATEWAY_B_PORT);
    fake = await startFakeProvider();
    const orchestrator = env.processes.spawn(
      "orchestrator",
      process.execPath,
      ["--import", "tsx", path.join(ROOT, "workers", "orchestrator", "main.ts")],
      {
        RPC_URL: chain.rpcUrl,
        NETWORK: "e2e",
        PROVIDER_GATEWAYS: [GATEWAY_A_PORT, GATEWAY_B_PORT, FAKE_PORT].map((p) => `http://127.0.0.1:${p}`).join(","),
        CONSENSUS_NODES: nodeUrls.join(","),
        ORCHESTRATOR_PORT: String(ORCHESTRATOR_PORT),
        ORCHESTRATOR_PROVIDER_TIMEOUT_MS: "5000",
      },
      path.join(chain.logDir, "orchestrator.log"),
    );
    await waitFor("the orchestrator", async () => {
      if (orchestrator.exitCode !== null) throw new Error(`orchestrator exited; see ${chain.logDir}`);
      const res = await fetch(`${ORCHESTRATOR}/health`);
      return res.ok && ((await res.json()) as { listings: number }).listings === 3 ? true : undefined;
    }, 60_000, 100);
    renter = new RenterClient(account(RENTER), domain, ORCHESTRATOR, {
      budgetUnits: 500n,
      chainNow: async () => (await chain.publicClient.getBlock({ blockTag: "latest" })).timestamp,
    });
    env.startIndexer("rental", "prsm_rental", PONDER_PORT);
  });

  after(async () => {
    await api?.close().catch(() => undefined);
    await new Promise((r) => (fake ? fake.close(r) : r(undefined)));
    await env?.stop();
  });

  test("queries are answered by the demo model, settled by the committee, paid out, and shown by the API", async () => {
    const escrowId = await openEscrow(listings.a, 10n * E18);
    const texts = [TEXT, "The service was terrible and slow. Customers were angry on Friday.", "Rain is expected in Paris tomorrow."];
    const results = [];
    for (const text of texts) results.push(await chat(text, [escrowId]));
    for (const r of results) assert.equal(r.status, 200, r.body);
    const [first, second] = results;
    const answer = first!.json.choices[0].message.content as string;
    assert.match(answer, /Sentiment: positive/);
    assert.match(answer, /Keywords: revenue/);
    assert.match(answer, /Monday \[DATE\]/);
    assert.match(answer, /12% \[PERCENT\]/);
    assert.match(second!.json.choices[0].message.content, /Sentiment: negative/);
    // Deterministic: the same text gives the same answer; usage is the model's own token count.
    const again = await chat(TEXT, [escrowId]);
    assert.equal(again.json.choices[0].message.content, answer);
    assert.equal(BigInt(first!.json.usage.total_tokens), first!.units);
    const embedding = await renter.query("/v1/embeddings", { input: ["stock rose", "stock rose", "rain in Paris"] }, { escrowIds: [escrowId] });
    assert.equal(embedding.status, 200, embedding.body);
    const [e1, e2, e3] = embedding.json.data.map((d: { embedding: number[] }) => d.embedding);
    assert.equal(e1.length, 256);
    assert.deepEqual(e1, e2);
    assert.notDeepEqual(e1, e3);

    const last = embedding.report!;
    assert.equal(last.sequence, 5n);
    const escrow = await settled(escrowId, last.sequence);
    assert.equal(escrow.charged, last.cumulativeUnits * escrow.pricePerUnit, "the chain charged exactly the units reported");
    const totalUnits = [...results, again, embedding].reduce((sum, r) => sum + r.units!, 0n);
    assert.equal(last.cumulativeUnits, totalUnits);

    // The dispute window passes; the charges are released, the provider withdraws and the treasury's fee is due.
    const chargeCount = await read<bigint>(market(), "chargeCount");
    const charges = [];
    for (let id = 1n; id <= chargeCount; id++) {
      const c = await read<{ escrowId: bigint; amount: bigint; status: number }>(market(), "getCharge", [id]);
      if (c.escrowId === escrowId) charges.push({ id, ...c });
    }
    assert.ok(charges.length >= 1);
    assert.equal(charges.reduce((s, c) => s + c.amount, 0n), escrow.charged);
    await chain.publicClient.request({ method: "evm_increaseTime" as never, params: [301] as never });
    await chain.publicClient.request({ method: "evm_mine" as never, params: [] as never });
    const treasury = await read<Address>(market(), "treasury");
    const treasuryBefore = await read<bigint>(market(), "payoutOf", [treasury]);
    const providerBefore = await read<bigint>(token(), "balanceOf", [account(PROVIDER).address]);
    for (const c of charges) await call(RENTER, market(), "releaseCharge", [c.id]);
    const fee = charges.reduce((s, c) => s + (c.amount * 250n) / 10_000n, 0n);
    assert.equal((await read<bigint>(market(), "payoutOf", [treasury])) - treasuryBefore, fee);
    const due = await read<bigint>(market(), "payoutOf", [account(PROVIDER).address]);
    await call(PROVIDER, market(), "withdraw", []);
    assert.equal((await read<bigint>(token(), "balanceOf", [account(PROVIDER).address])) - providerBefore, due);
    assert.ok(due >= escrow.charged - fee, "the provider received its share of these charges");

    // The indexer and API show the charges.
    await env.indexedToHead(PONDER_PORT);
    api = createApi({ ...loadApiConfig({ DATABASE_URL: env.databaseUrl, API_VIEWS_SCHEMA: "prsm_rental", API_HEAD_POLL_MS: "100" }) }, pino({ level: "silent" }));
    await api.start();
    const res = await api.yoga.fetch("http://api/graphql", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: `{ escrow(id: "${escrowId}") { charged sequence charges { amount status attested } } }` }),
    });
    const gql = (await res.json()) as { data: { escrow: { charged: string; sequence: string; charges: { amount: string; status: string; attested: boolean }[] } } };
    assert.equal(gql.data.escrow.charged, escrow.charged.toString());
    assert.equal(gql.data.escrow.charges.length, charges.length);
    assert.ok(gql.data.escrow.charges.every((c) => c.attested && c.status === "settled"), JSON.stringify(gql.data.escrow.charges));
  });

  test("the first-ranked provider is down: the query is served by the next", async () => {
    const onA = await openEscrow(listings.a, 5n * E18);
    const onB = await openEscrow(listings.b, 5n * E18);
    const cheap = await chat(TEXT, [onA, onB]);
    assert.equal(cheap.status, 200, cheap.body);
    assert.equal(cheap.listingId, listings.b, "the cheaper listing ranks first");
    await env.processes.stop(gatewayB, "SIGKILL");
    const failover = await chat(TEXT, [onA, onB]);
    assert.equal(failover.status, 200, failover.body);
    assert.equal(failover.listingId, listings.a);
    assert.equal(failover.json.choices[0].message.content, cheap.json.choices[0].message.content);
    await settled(onA, failover.report!.sequence);
    await settled(onB, cheap.report!.sequence);
  });

  test("a provider answering garbage or over-reporting is passed over and never paid", async () => {
    const onFake = await openEscrow(listings.fake, 5n * E18);
    const onA = await openEscrow(listings.a, 5n * E18);
    fakeMode = "garbage";
    const garbage = await chat(TEXT, [onFake, onA]);
    assert.equal(garbage.status, 200, garbage.body);
    assert.equal(garbage.listingId, listings.a);
    assert.deepEqual(garbage.attempts.map((a) => [a.listingId, a.outcome]), [[listings.fake.toString(), "garbage"], [listings.a.toString(), "served"]]);

    fakeMode = "over-report";
    const over = await chat(TEXT, [onFake, onA]);
    assert.equal(over.status, 200, over.body);
    assert.deepEqual(over.attempts.map((a) => [a.listingId, a.outcome]), [[listings.fake.toString(), "over-reported"], [listings.a.toString(), "served"]]);
    const only = await chat(TEXT, [onFake]);
    assert.equal(only.status, 502);
    assert.equal(only.json.error.code, "providers-failed");
    // Handed straight to a node, the over-reported report is refused: it exceeds what the renter signed for.
    const direct = await postJson(`http://127.0.0.1:${NODE_PORTS[0]}`, "/reports", { report: lastFakeReport });
    assert.equal(direct.status, 422);
    assert.equal(direct.json.error.code, "over-authorized");
    assert.equal((await escrowOf(onFake)).charged, 0n);
  });

  test("an escrow that runs out gets a 402 and is never charged beyond its cap", async () => {
    const price = priceInFtns(DEMO_MODEL);
    const cap = price * 200n; // room for about two queries
    const escrowId = await openEscrow(listings.a, cap);
    let refused;
    const served = [];
    for (let i = 0; i < 10 && !refused; i++) {
      const r = await chat(TEXT, [escrowId]);
      if (r.status === 200) served.push(r);
      else refused = r;
    }
    assert.ok(served.length >= 1, "the escrow paid for at least one query");
    assert.equal(refused?.status, 402, refused?.body);
    assert.equal(refused!.json.error.code, "escrow-exhausted");
    const last = served.at(-1)!.report!;
    const escrow = await settled(escrowId, last.sequence);
    assert.equal(escrow.charged, last.cumulativeUnits * price);
    assert.ok(escrow.charged <= cap);
  });

  test("bad signatures get 401 and malformed JSON gets 400, before any provider is paid", async () => {
    const escrowId = await openEscrow(listings.a, E18);
    const body = JSON.stringify({ messages: [{ role: "user", content: TEXT }] });
    const path = "/v1/chat/completions";
    const now = (await chain.publicClient.getBlock()).timestamp;
    const post = (raw: string, headers: Record<string, string>) =>
      fetch(`${ORCHESTRATOR}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: raw }).then(async (r) => ({ status: r.status, json: (await r.json()) as any }));
    const authorize = (signer: number, forBody: string) =>
      signAuthorization(account(signer), domain, { escrowId, maxCumulativeUnits: 1_000n, requestDigest: requestDigest(path, forBody), deadline: now + 600n });

    const malformed = await post("{ not json", { [AUTHORIZATION_HEADER]: formatAuthorizationHeader([await authorize(RENTER, "{ not json")]) });
    assert.equal(malformed.status, 400);
    assert.equal(malformed.json.error.code, "bad-request");
    const missing = await post(body, {});
    assert.equal(missing.status, 401);
    const stranger = await post(body, { [AUTHORIZATION_HEADER]: formatAuthorizationHeader([await authorize(2, body)]) });
    assert.equal(stranger.status, 401);
    assert.equal(stranger.json.error.code, "unauthorized");
    // Signed for other bytes: the signature recovers to someone else.
    const tampered = await post(body.replace("Acme", "Evil"), { [AUTHORIZATION_HEADER]: formatAuthorizationHeader([await authorize(RENTER, body)]) });
    assert.equal(tampered.status, 401);
    const shape = await post(JSON.stringify({ messages: "hi" }), { [AUTHORIZATION_HEADER]: formatAuthorizationHeader([await authorize(RENTER, body)]) });
    assert.equal(shape.status, 400);
    assert.match(shape.json.error.message, /messages/);
    assert.equal((await escrowOf(escrowId)).sequence, 0n);
  });
});
