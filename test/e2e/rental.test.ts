/**
 * The user-facing loop with real processes: a Hardhat node, four consensus nodes, two provider gateways running the
 * wink-nlp demo model, the orchestrator, the indexer (Ponder on an embedded Postgres) and the GraphQL API.
 * A renter opens escrows, sends queries through the orchestrator with its own signatures, gets computed answers,
 * the committee settles the usage, the provider withdraws, the fee reaches the treasury and the API shows the
 * charges. Failures: the first-ranked provider down, a provider answering garbage or over-reporting, an escrow
 * running out (402), a bad signature (401) and malformed JSON (400).
 *
 * Fair metering, each cheater played through the real processes with the loss it measured checked against the
 * bound in docs/ARCHITECTURE.md: a renter who calls the gateway directly (still pays), stops acknowledging (cut off
 * at the credit window, everything served settles), reuses an authorization on another provider (refused), or
 * submits its own low receipt (cannot void the provider's usage); a provider who over-bills an answer, bills and
 * then fails (at most one query's budget per escrow, once), or replays an old report (refused); and the committee
 * down (acknowledged usage is paid by the renter's receipt).
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
import { ACKNOWLEDGEMENT_HEADER, formatAcknowledgementHeader, signReceipt } from "../../workers/shared/receipt";
import { parseReport, reportToJson, signProviderReport } from "../../workers/shared/usage-report";
import { MeteringMismatch, RenterClient } from "../../workers/renter/client";
import { IdentityResponder } from "../../workers/provider-gateway/identity";
import { account, deployment, domainOf, privateKeyOf, readContract, ROOT, send, startConsensusNode, waitFor, walletFor, type Chain, type ConsensusNodeProcess } from "./harness";
import { startIndexedChain, type IndexedChain } from "./indexed";
import { committeeDomain, postJson, PROVIDER, RENTER } from "./usage";

const CHAIN_PORT = 8645;
const PG_PORT = 15332;
const PONDER_PORT = 16173;
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
let fakeMode: "garbage" | "over-report" | "over-bill" | "inflated-usage" | "bill-then-fail" = "garbage";
let marketplaceDomain: TypedDataDomain;
let nodes: ConsensusNodeProcess[] = [];
const BUDGET = 500n;
const CREDIT_WINDOW = 600n;
const listings = { a: 9n, b: 0n, fake: 0n };
const market = () => deployment("ModelMarketplace");
const token = () => deployment("FTNSToken");
const read = <T>(c: ReturnType<typeof market>, fn: string, args: unknown[] = []) => readContract<T>(chain, c, fn, args);
const call = async (from: number, c: ReturnType<typeof market>, functionName: string, args: unknown[]) =>
  send(chain, await walletFor(chain, from).writeContract({ ...c, abi: c.abi as never, functionName, args } as never));

interface EscrowState {
  charged: bigint;
  units: bigint;
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
  const { pricePerUnit } = await read<{ pricePerUnit: bigint }>(market(), "getListing", [listingId]);
  await call(RENTER, market(), "openEscrow", [listingId, deposit, cap, now + 7_200n, pricePerUnit]);
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
      GATEWAY_STATE_FILE: path.join(chain.logDir, `gateway-${port}`, "usage.json"),
      CONSENSUS_NODES: NODE_PORTS.map((p) => `http://127.0.0.1:${p}`).join(","),
      CREDIT_WINDOW_UNITS: CREDIT_WINDOW.toString(),
      SETTLE_INTERVAL_MS: "500",
      REPORT_RESEND_MS: "2000",
      RECEIPT_FALLBACK_MS: "10000",
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
    if (req.url === "/v1/identity") {
      // It is the genuine provider of its listing (its answers are what is dishonest), so it proves its key.
      const proof = await new IdentityResponder(account(DISHONEST_PROVIDER), 31337, market().address, `http://127.0.0.1:${FAKE_PORT}`).answer(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(proof));
      return;
    }
    if (fakeMode === "garbage") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end("\u0000\u0013 not json at all");
      return;
    }
    const [auth] = parseAuthorizationHeader(req.headers[AUTHORIZATION_HEADER], requestDigest(req.url!, Buffer.concat(chunks)));
    // Over-billing modes claim everything the renter authorized; over-report claims even more.
    const claimed = fakeMode === "over-report" ? auth!.maxCumulativeUnits + 1_000n : auth!.maxCumulativeUnits;
    // "inflated-usage" writes the whole claim into the answer's own usage, as a provider that lies consistently would.
    const lied = Number(claimed - (renter?.lastUsage(auth!.escrowId) ?? 0n));
    const body = JSON.stringify({
      object: "chat.completion",
      choices: [{ index: 0, message: { role: "assistant", content: "fine" }, finish_reason: "stop" }],
      usage: fakeMode === "inflated-usage" ? { prompt_tokens: lied - 1, completion_tokens: 1, total_tokens: lied } : { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
    });
    const response = responseDigest(body);
    fakeSequence += 1n;
    const fields = { escrowId: auth!.escrowId, cumulativeUnits: claimed, sequence: fakeSequence, resultDigest: usageResultDigest(domain, auth!, response) };
    const report = { ...fields, providerSignature: await signProviderReport(account(DISHONEST_PROVIDER), domain, fields), authorization: auth!, responseDigest: response };
    lastFakeReport = reportToJson(report);
    if (fakeMode === "bill-then-fail") {
      // The attacker hands its report to the committee itself and never delivers the answer.
      await postJson(`http://127.0.0.1:${NODE_PORTS[0]}`, "/reports", { report: lastFakeReport }).catch(() => undefined);
      res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { code: "oops", message: "internal error" } }));
      return;
    }
    res.writeHead(200, { "content-type": "application/json", [RECEIPT_HEADER]: Buffer.from(JSON.stringify(lastFakeReport)).toString("base64url") });
    res.end(body);
  });
  return new Promise((resolve) => server.listen(FAKE_PORT, "127.0.0.1", () => resolve(server)));
}
let lastFakeReport: ReturnType<typeof reportToJson> | undefined;
let fakeSequence = 0n;

const TEXT = "Acme Corp reported record revenue on Monday. Investors were delighted and the stock rose 12%. "
  + "Analysts said revenue growth came from strong cloud sales. The weather in Boston was grey.";

const chat = (text: string, escrowIds: bigint[], extra: Record<string, unknown> = {}) =>
  renter.query("/v1/chat/completions", { messages: [{ role: "user", content: text }] }, { escrowIds, ...extra });

/** Waits until the chain has accounted `units` of the escrow's usage. */
async function settled(escrowId: bigint, units: bigint, timeoutMs = 60_000): Promise<EscrowState> {
  return waitFor(`escrow ${escrowId} to settle ${units} units`, async () => {
    const e = await escrowOf(escrowId);
    return e.units >= units ? e : undefined;
  }, timeoutMs, 100);
}

/** A renter calling a gateway itself, without the orchestrator or the renter client (and so without acknowledging). */
async function direct(port: number, escrowId: bigint, maxCumulativeUnits: bigint, text = TEXT, headers: Record<string, string> = {}) {
  const body = JSON.stringify({ messages: [{ role: "user", content: text }] });
  const now = (await chain.publicClient.getBlock()).timestamp;
  const auth = await signAuthorization(account(RENTER), domain, { escrowId, maxCumulativeUnits, requestDigest: requestDigest("/v1/chat/completions", body), deadline: now + 600n });
  const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", [AUTHORIZATION_HEADER]: formatAuthorizationHeader([auth]), ...headers },
    body,
  });
  const json = (await res.json()) as Record<string, any>;
  const cumulative = res.headers.get("x-prsm-cumulative-units");
  const receipt = res.headers.get(RECEIPT_HEADER);
  return {
    status: res.status,
    json,
    cumulativeUnits: cumulative ? BigInt(cumulative) : undefined,
    report: receipt ? (JSON.parse(Buffer.from(receipt, "base64url").toString("utf8")) as ReturnType<typeof reportToJson>) : undefined,
  };
}

async function acknowledgement(escrowId: bigint, cumulativeUnits: bigint): Promise<Record<string, string>> {
  const receipt = await signReceipt(account(RENTER), marketplaceDomain, { escrowId, cumulativeUnits, deadline: 2n ** 40n });
  return { [ACKNOWLEDGEMENT_HEADER]: formatAcknowledgementHeader([receipt]) };
}

const priceOf = async (listingId: bigint) => (await read<{ pricePerUnit: bigint }>(market(), "getListing", [listingId])).pricePerUnit;

const unitOf = async (escrowId: bigint) => {
  const e = await read<{ listingId: number }>(market(), "getEscrow", [escrowId]);
  return Number((await read<{ unit: number }>(market(), "getListing", [BigInt(e.listingId)])).unit);
};

function startNodes(): Promise<ConsensusNodeProcess[]> {
  const nodeUrls = NODE_PORTS.map((p) => `http://127.0.0.1:${p}`);
  return Promise.all(
    [14, 15, 16, 17].map((index, i) =>
      startConsensusNode(env.processes, chain, { index, port: NODE_PORTS[i]!, peers: nodeUrls.filter((_, j) => j !== i), stateDir: path.join(chain.logDir, `node-${index}`) }),
    ),
  );
}

describe("rented queries end to end", { timeout: 900_000 }, () => {
  before(async () => {
    env = await startIndexedChain({ chainPort: CHAIN_PORT, pgPort: PG_PORT });
    chain = env.chain;
    domain = await committeeDomain(chain);
    marketplaceDomain = await domainOf(chain, "ModelMarketplace");
    const demoPrice = priceInFtns(DEMO_MODEL);
    assert.equal((await read<{ provider: Address; pricePerUnit: bigint }>(market(), "getListing", [listings.a])).pricePerUnit, demoPrice);
    listings.b = await listModel(SECOND_PROVIDER, demoPrice / 4n, "(second provider)");
    listings.fake = await listModel(DISHONEST_PROVIDER, demoPrice / 10n, "(dishonest)");

    const nodeUrls = NODE_PORTS.map((p) => `http://127.0.0.1:${p}`);
    nodes = await startNodes();
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
      budgetUnits: BUDGET,
      chainNow: async () => (await chain.publicClient.getBlock({ blockTag: "latest" })).timestamp,
      marketplaceDomain,
      unitOf,
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
    const escrow = await settled(escrowId, last.cumulativeUnits);
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
    const fee = charges.reduce((s, c) => s + (c.amount * 250n + 9_999n) / 10_000n, 0n); // rounded up
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
    await settled(onA, failover.report!.cumulativeUnits);
    await settled(onB, cheap.report!.cumulativeUnits);
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
    const escrow = await settled(escrowId, last.cumulativeUnits);
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
    assert.equal((await escrowOf(escrowId)).units, 0n);
  });

  // ------------------------------------------------------------------ fair metering: each cheater, each bound

  test("a renter calling the gateway directly still pays: the gateway takes its report to the committee", async () => {
    const escrowId = await openEscrow(listings.a, 5n * E18);
    const answer = await direct(GATEWAY_A_PORT, escrowId, 1_000n);
    assert.equal(answer.status, 200, JSON.stringify(answer.json));
    const escrow = await settled(escrowId, answer.cumulativeUnits!, 30_000);
    const providerLoss = answer.cumulativeUnits! * escrow.pricePerUnit - escrow.charged;
    assert.equal(providerLoss, 0n, "the provider lost nothing");
  });

  test("a renter that stops acknowledging is cut off at the credit window, and everything served settles", async () => {
    const escrowId = await openEscrow(listings.a, 5n * E18);
    let refused;
    let served = 0n;
    let largest = 0n;
    for (let i = 0; i < 40 && !refused; i++) {
      const r = await direct(GATEWAY_A_PORT, escrowId, 1_000_000n);
      if (r.status !== 200) refused = r;
      else {
        largest = r.cumulativeUnits! - served > largest ? r.cumulativeUnits! - served : largest;
        served = r.cumulativeUnits!;
      }
    }
    assert.equal(refused?.status, 402, JSON.stringify(refused?.json));
    assert.equal(refused!.json.error.code, "acknowledgement-required");
    assert.ok(served <= CREDIT_WINDOW + largest, `served ${served} unacknowledged units, window ${CREDIT_WINDOW} + one query ${largest}`);
    // The provider is paid for all of it through the committee (the renter signed an authorization for each).
    const escrow = await settled(escrowId, served, 30_000);
    assert.equal(escrow.charged, served * escrow.pricePerUnit, "provider's loss: 0");
    // Acknowledging what it received lets the renter in again.
    const back = await direct(GATEWAY_A_PORT, escrowId, 1_000_000n, TEXT, await acknowledgement(escrowId, served));
    assert.equal(back.status, 200, JSON.stringify(back.json));
    // An acknowledgement the renter did not sign is refused.
    const forged = await signReceipt(account(2), marketplaceDomain, { escrowId, cumulativeUnits: served, deadline: 2n ** 40n });
    const refusedForged = await direct(GATEWAY_A_PORT, escrowId, 1_000_000n, TEXT, { [ACKNOWLEDGEMENT_HEADER]: formatAcknowledgementHeader([forged]) });
    assert.equal(refusedForged.status, 401);
    // Credit cannot be bought with a receipt for units never served, nor with one that expires before the escrow.
    const inflated = await signReceipt(account(RENTER), marketplaceDomain, { escrowId, cumulativeUnits: 2n ** 255n, deadline: 2n ** 40n });
    const refusedInflated = await direct(GATEWAY_A_PORT, escrowId, 1_000_000n, TEXT, { [ACKNOWLEDGEMENT_HEADER]: formatAcknowledgementHeader([inflated]) });
    assert.equal(refusedInflated.status, 400);
    assert.equal(refusedInflated.json.error.code, "bad-acknowledgement");
    const expired = await signReceipt(account(RENTER), marketplaceDomain, { escrowId, cumulativeUnits: served, deadline: 1n });
    const refusedExpired = await direct(GATEWAY_A_PORT, escrowId, 1_000_000n, TEXT, { [ACKNOWLEDGEMENT_HEADER]: formatAcknowledgementHeader([expired]) });
    assert.equal(refusedExpired.status, 400);
    // An escrow id past uint256 is a clear 401, not a 500.
    const huge = await fetch(`http://127.0.0.1:${GATEWAY_A_PORT}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", [AUTHORIZATION_HEADER]: `${2n ** 256n}:1:1:0x${"11".repeat(65)}` },
      body: JSON.stringify({ messages: [{ role: "user", content: "hi" }] }),
    });
    assert.equal(huge.status, 401);
  });

  test("a renter cannot reuse an authorization with another provider, nor void usage with its own low receipt", async () => {
    const onB = await openEscrow(listings.b, 5n * E18);
    const elsewhere = await direct(GATEWAY_A_PORT, onB, 1_000n);
    assert.equal(elsewhere.status, 403);
    assert.equal(elsewhere.json.error.code, "wrong-listing");

    const escrowId = await openEscrow(listings.a, 5n * E18);
    const first = await direct(GATEWAY_A_PORT, escrowId, 1_000n);
    assert.equal(first.status, 200);
    const accounted = (await settled(escrowId, first.cumulativeUnits!, 30_000)).units;
    // The renter's receipt for what is already accounted charges nothing and voids nothing.
    const renterWallet = walletFor(chain, RENTER);
    const noop = await signReceipt(account(RENTER), marketplaceDomain, { escrowId, cumulativeUnits: accounted, deadline: 2n ** 40n });
    await assert.rejects(
      chain.publicClient.simulateContract({ ...market(), abi: market().abi as never, functionName: "chargeWithReceipt", args: [escrowId, accounted, noop.deadline, noop.signature], account: renterWallet.account }),
      /NoNewUsage/,
    );
    const plusOne = await signReceipt(account(RENTER), marketplaceDomain, { escrowId, cumulativeUnits: accounted + 1n, deadline: 2n ** 40n });
    await call(RENTER, market(), "chargeWithReceipt", [escrowId, accounted + 1n, plusOne.deadline, plusOne.signature]);
    // The gateway keeps serving, and its higher report still settles in full.
    const next = await direct(GATEWAY_A_PORT, escrowId, 100_000n, TEXT, await acknowledgement(escrowId, first.cumulativeUnits!));
    assert.equal(next.status, 200, JSON.stringify(next.json));
    const escrow = await settled(escrowId, next.cumulativeUnits!, 30_000);
    assert.equal(escrow.charged, next.cumulativeUnits! * escrow.pricePerUnit, "provider's loss: 0");

    // A provider replaying its old report: renumbered, it is refused (its units are already accounted); as it was,
    // the nodes only hand back the attestation they gave before, which the chain refuses. Nothing more is charged.
    const old = parseReport(first.report);
    const renumbered = { ...old, sequence: 99n };
    renumbered.providerSignature = await signProviderReport(account(PROVIDER), domain, renumbered);
    const replay = await postJson(`http://127.0.0.1:${NODE_PORTS[1]}`, "/reports", { report: reportToJson(renumbered) });
    assert.equal(replay.status, 422);
    assert.equal(replay.json.error.code, "no-new-usage");
    await postJson(`http://127.0.0.1:${NODE_PORTS[2]}`, "/reports", { report: first.report });
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal((await escrowOf(escrowId)).charged, escrow.charged, "a replay charged nothing");
  });

  test("a provider over-billing an answer gets no acknowledgement and at most one query's budget, once", async () => {
    const onFake = await openEscrow(listings.fake, 5n * E18);
    const price = await priceOf(listings.fake);
    fakeMode = "over-bill";
    await assert.rejects(chat(TEXT, [onFake]), MeteringMismatch);
    assert.equal(renter.lastUsage(onFake), 0n, "nothing acknowledged");
    // The orchestrator handed the report on; the committee can attest it, up to what the renter authorized.
    const escrow = await settled(onFake, BUDGET, 30_000);
    const loss = escrow.charged;
    assert.ok(loss <= BUDGET * price, `renter's loss ${loss} <= one budget ${BUDGET * price}`);
    // Again: the next authorization is the acknowledged units plus one budget, so nothing more can be billed.
    await assert.rejects(chat(TEXT, [onFake]), MeteringMismatch);
    const again = await postJson(`http://127.0.0.1:${NODE_PORTS[0]}`, "/reports", { report: lastFakeReport });
    assert.equal(again.status, 422);
    assert.equal((await escrowOf(onFake)).charged, loss, "the loss did not grow");

    // A provider that also writes the inflated count into its answer's usage is caught by the byte bound.
    const onFake2 = await openEscrow(listings.fake, 5n * E18);
    fakeMode = "inflated-usage";
    await assert.rejects(chat(TEXT, [onFake2]), MeteringMismatch);
    assert.equal(renter.lastUsage(onFake2), 0n, "nothing acknowledged");
  });

  test("a provider that bills and then fails is passed over; the renter loses at most one budget on its escrow", async () => {
    const onFake = await openEscrow(listings.fake, 5n * E18);
    const price = await priceOf(listings.fake);
    fakeMode = "bill-then-fail";
    for (let i = 0; i < 3; i++) {
      const r = await chat(TEXT, [onFake]);
      assert.equal(r.status, 502, r.body);
    }
    const escrow = await settled(onFake, BUDGET, 30_000);
    await new Promise((r) => setTimeout(r, 2_000)); // any later attempt would have settled by now
    const loss = (await escrowOf(onFake)).charged;
    assert.equal(escrow.charged, loss);
    assert.ok(loss <= BUDGET * price, `renter's loss ${loss} <= one budget ${BUDGET * price}, after three queries`);
  });

  test("with the committee down, acknowledged usage is paid by the renter's receipt, the rest once it returns", async () => {
    for (const n of nodes) await env.processes.stop(n.child, "SIGKILL");
    const escrowId = await openEscrow(listings.a, 5n * E18);
    const chargesBefore = await read<bigint>(market(), "chargeCount");
    const first = await chat(TEXT, [escrowId]);
    assert.equal(first.status, 200, first.body);
    const second = await chat("Rain is expected in Paris tomorrow.", [escrowId]); // carries the acknowledgement of the first
    assert.equal(second.status, 200, second.body);
    const escrow = await settled(escrowId, first.report!.cumulativeUnits, 60_000);
    assert.equal(escrow.charged, first.report!.cumulativeUnits * escrow.pricePerUnit);
    assert.equal(await read<bigint>(market(), "chargeCount"), chargesBefore, "charged by the renter's receipt, not an attestation");
    nodes = await startNodes();
    const later = await settled(escrowId, second.report!.cumulativeUnits, 60_000);
    assert.equal(later.charged, second.report!.cumulativeUnits * later.pricePerUnit, "provider's loss: 0");
  });
});
