/**
 * The GraphQL API (api/) over a real Postgres filled by the real indexer from a scripted scenario on a Hardhat node:
 * every query family through `yoga.fetch`, pagination round trips, filters, batching of relations, bad input with
 * coded errors, the HTTP endpoints, cache invalidation when the head advances, a Redis-backed cache and rate limit
 * that keep answering with Redis killed, and the per-client rate limit.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type http from "node:http";
import net from "node:net";
import pino from "pino";
import type { Address } from "viem";
import { loadApiConfig, type ApiConfig } from "../../api/config";
import { createApi, type Api } from "../../api/server";
import { PROPOSAL_STATES } from "../../indexer/lib/proposal-state";
import { account, deployment, readContract, send, waitFor, walletFor, type Chain } from "./harness";
import { startIndexedChain, type IndexedChain } from "./indexed";
import { runScenario, type ScenarioResult } from "./scenario";
import { systemBinary } from "../support/system-package";

const CHAIN_PORT = 8645;
const PG_PORT = 15331;
const PONDER_PORT = 16172;
const REDIS_PORT = 6391;
const API_PORT = 4391;
const VIEWS = "prsm_api";
const log = pino({ level: "silent" });

let env: IndexedChain;
let chain: Chain;
let scenario: ScenarioResult;
let api: Api;
const extraApis: Api[] = [];

function config(overrides: Partial<ApiConfig> = {}, envVars: Record<string, string> = {}): ApiConfig {
  return { ...loadApiConfig({ DATABASE_URL: env.databaseUrl, API_VIEWS_SCHEMA: VIEWS, API_HEAD_POLL_MS: "100", ...envVars }), ...overrides };
}

async function gql(target: Api, query: string, variables: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  const res = await target.yoga.fetch("http://api/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, body: (await res.json()) as { data?: any; errors?: { message: string; extensions?: { code?: string } }[] } };
}

async function data(query: string, variables: Record<string, unknown> = {}) {
  const { status, body } = await gql(api, query, variables);
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  return body.data;
}

async function errorCode(query: string, variables: Record<string, unknown> = {}) {
  const { body } = await gql(api, query, variables);
  assert.ok(body.errors?.length, `expected an error for ${query.slice(0, 60)}`);
  return { code: body.errors![0].extensions?.code, message: body.errors![0].message };
}

const read = <T>(name: string, functionName: string, args: unknown[] = []) => readContract<T>(chain, deployment(name), functionName, args);

/** Whether something accepts connections on 127.0.0.1:`port` (undefined while not, for waitFor). */
function portOpen(port: number): Promise<true | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(undefined));
  });
}

/** Mines one transfer and waits until the API's head tracker has seen the block. */
async function advanceHead(target: Api) {
  const token = deployment("FTNSToken");
  await send(chain, await walletFor(chain, 2).writeContract({ ...token, abi: token.abi as never, functionName: "transfer", args: [account(3).address, 12_345n] }));
  await env.indexedToHead(PONDER_PORT);
  const block = await chain.publicClient.getBlockNumber({ cacheTime: 0 });
  await waitFor("the API to see the new head", async () => ((await target.head.refresh())!.number >= block ? true : undefined), 30_000, 50);
}

/** A GraphQL-over-SSE subscription: next() resolves with the next event's data (or fails after 20 s). */
function subscribe(url: string, query: string, variables: Record<string, unknown> = {}) {
  const abort = new AbortController();
  const queue: any[] = [];
  const waiting: ((value: any) => void)[] = [];
  const done = (async () => {
    const res = await fetch(url, { method: "POST", signal: abort.signal, headers: { "content-type": "application/json", accept: "text/event-stream" }, body: JSON.stringify({ query, variables }) });
    assert.equal(res.status, 200);
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let split;
      while ((split = buffer.indexOf("\n\n")) >= 0) {
        const message = buffer.slice(0, split);
        buffer = buffer.slice(split + 2);
        const dataLine = message.split("\n").find((l) => l.startsWith("data:"));
        if (!message.startsWith("event: next") || !dataLine) continue;
        const payload = JSON.parse(dataLine.slice(5)).data;
        const waiter = waiting.shift();
        if (waiter) waiter(payload);
        else queue.push(payload);
      }
    }
  })().catch(() => undefined);
  return {
    next: () =>
      queue.length
        ? Promise.resolve(queue.shift())
        : new Promise<any>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`no event within 20 s for ${query}`)), 20_000);
            waiting.push((v) => {
              clearTimeout(timer);
              resolve(v);
            });
          }),
    close: () => {
      abort.abort();
      return done;
    },
  };
}

describe("GraphQL API end to end", { timeout: 600_000 }, () => {
  before(async () => {
    env = await startIndexedChain({ chainPort: CHAIN_PORT, pgPort: PG_PORT });
    chain = env.chain;
    scenario = await runScenario(chain);
    env.startIndexer("api_indexer", VIEWS, PONDER_PORT);
    await env.indexedToHead(PONDER_PORT);
    // The views exist once the indexer is ready; the API's /ready agrees.
    api = createApi(config(), log);
    await api.start();
  });

  after(async () => {
    for (const a of [api, ...extraApis]) await a?.close().catch(() => undefined);
    await env?.stop();
  });

  test("_meta, lists with relations, single rows, aggregates and proposal state match the chain", async () => {
    const head = await chain.publicClient.getBlockNumber({ cacheTime: 0 });
    const meta = (await data(`{ _meta { block { number timestamp } ready } }`))._meta;
    assert.equal(BigInt(meta.block.number), head);
    assert.equal(meta.ready, true);

    const listings = (await data(`{ listings(limit: 20) { items { id provider pricePerUnit escrowCount averageRating providerAccount { address } escrows { id renter } priceHistory { newPrice } } } }`)).listings.items;
    assert.equal(listings.length, Number(await read<bigint>("ModelMarketplace", "listingCount")));
    for (const l of listings) {
      const onChain = await read<{ pricePerUnit: bigint; provider: Address }>("ModelMarketplace", "getListing", [BigInt(l.id)]);
      assert.equal(BigInt(l.pricePerUnit), onChain.pricePerUnit);
      assert.equal(l.provider, onChain.provider.toLowerCase());
      assert.equal(l.escrows.length, l.escrowCount);
    }
    // The scenario's own listing is the last one; it changed its price once.
    const scenarioListing = String(await read<bigint>("ModelMarketplace", "listingCount"));
    assert.equal(listings.find((l: any) => l.id === scenarioListing).priceHistory.length, 1);

    const renter = account(1).address;
    const acct = (await data(`query($a: String!) { account(address: $a) { address balance votes escrows { id remaining charges { amount status } listing { id } } } }`, { a: renter })).account;
    assert.equal(BigInt(acct.balance), await read<bigint>("FTNSToken", "balanceOf", [renter]));
    assert.equal(BigInt(acct.votes), await read<bigint>("FTNSToken", "getVotes", [renter]));
    assert.deepEqual(acct.escrows.map((e: any) => e.id), [scenario.escrows[0].toString()]);
    const escrow = await read<{ deposit: bigint; charged: bigint }>("ModelMarketplace", "getEscrow", [scenario.escrows[0]]);
    assert.equal(BigInt(acct.escrows[0].remaining), escrow.deposit - escrow.charged);
    assert.equal(acct.escrows[0].charges.length, 2);

    const headBlock = await chain.publicClient.getBlock({ blockTag: "latest" });
    const proposals = (await data(`{ proposals { items { id state tally { quorumReached succeeded forWeight } votes { voter support weight proposal { id } } } } }`)).proposals.items;
    assert.equal(proposals.length, scenario.proposals.length);
    for (const p of proposals) {
      assert.equal(p.state, PROPOSAL_STATES[await read<number>("FTNSGovernor", "state", [BigInt(p.id)])], `state of ${p.id} at ${headBlock.timestamp}`);
      const [, forVotes] = await read<[bigint, bigint, bigint]>("FTNSGovernor", "proposalVotes", [BigInt(p.id)]);
      assert.equal(BigInt(p.tally.forWeight), forVotes);
      for (const v of p.votes) assert.equal(v.proposal.id, p.id);
    }
    const tally = (await data(`query($id: BigInt!) { proposalTally(id: $id) { succeeded quorumReached voteCount } }`, { id: scenario.proposals[0].toString() })).proposalTally;
    assert.deepEqual(tally, { succeeded: true, quorumReached: true, voteCount: 3 });

    const stats = (await data(`{ marketStats { listings escrows openEscrows charges volume fees } topListings(limit: 2) { id volume } }`));
    assert.equal(stats.marketStats.listings, listings.length);
    assert.equal(stats.marketStats.escrows, 3);
    assert.equal(stats.marketStats.charges, 5);
    assert.ok(BigInt(stats.topListings[0].volume) >= BigInt(stats.topListings[1].volume));
    const dispute = (await data(`query($id: BigInt!) { dispute(chargeId: $id) { resolved paidToProvider } }`, { id: scenario.disputedCharge.toString() })).dispute;
    assert.deepEqual(dispute, { resolved: true, paidToProvider: true });
  });

  test("relations are batched: a page of listings with escrows and their charges takes three statements", async () => {
    // The head tracker polls the same pool: paused, so that only this query's statements are counted.
    api.head.stop();
    try {
      const before = api.db.statements;
      await data(`{ listings(limit: 20, orderBy: pricePerUnit, orderDirection: desc) { items { id escrows(limit: 10) { id charges(limit: 10) { id listing: escrowId } } } } }`); // 2,221 rows: within the budget
      assert.ok(api.db.statements - before <= 3, `${api.db.statements - before} statements`);
    } finally {
      await api.head.start();
    }
  });

  test("filters and cursor pagination round-trip in both directions", async () => {
    const all = (await data(`{ transfers(limit: 1000, orderBy: blockNumber) { items { id } } }`)).transfers.items.map((t: any) => t.id);
    const forward: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 100; page++) {
      const result: any = (await data(`query($after: String) { transfers(limit: 7, orderBy: blockNumber, after: $after) { items { id } pageInfo { hasNextPage endCursor startCursor } } }`, { after })).transfers;
      forward.push(...result.items.map((t: any) => t.id));
      if (!result.pageInfo.hasNextPage) break;
      after = result.pageInfo.endCursor;
    }
    assert.deepEqual(forward, all);
    const last = (await data(`query($after: String) { transfers(limit: 7, orderBy: blockNumber, after: $after) { pageInfo { startCursor } } }`, { after })).transfers.pageInfo;
    const back = (await data(`query($before: String) { transfers(limit: 7, orderBy: blockNumber, before: $before) { items { id } pageInfo { hasPreviousPage hasNextPage } } }`, { before: last.startCursor })).transfers;
    const start = all.length - (all.length % 7 || 7) - 7;
    assert.deepEqual(back.items.map((t: any) => t.id), all.slice(start, start + 7));
    assert.equal(back.pageInfo.hasNextPage, true);

    const mixedCase = account(2).address; // checksummed: the API compares addresses case-insensitively
    const escrows = (await data(`query($r: String!) { escrows(where: { renter: $r }) { items { renter listingId } } }`, { r: mixedCase })).escrows.items;
    assert.deepEqual(escrows, [{ renter: mixedCase.toLowerCase(), listingId: String(await read<bigint>("ModelMarketplace", "listingCount")) }]);
    const cheap = (await data(`{ listings(where: { category_in: [0, 1], pricePerUnit_gt: "0", status: 1 }) { items { id category } } }`)).listings.items;
    assert.ok(cheap.length > 0 && cheap.every((l: any) => [0, 1].includes(l.category)));
    const fees = (await data(`{ proposals(where: { description_contains: "protocol fee" }) { items { id } } }`)).proposals.items;
    assert.equal(fees.length, 3);
    const none = (await data(`{ charges(where: { amount_gt: "1000000000000000000000000000" }) { items { id } pageInfo { hasNextPage endCursor } } }`)).charges;
    assert.deepEqual(none, { items: [], pageInfo: { hasNextPage: false, endCursor: null } });
  });

  test("bad input gets a clear error with a code", async () => {
    assert.equal((await errorCode(`{ transfers(after: "not-a-cursor") { items { id } } }`)).code, "BAD_CURSOR");
    const limit = await errorCode(`{ transfers(limit: 100000) { items { id } } }`);
    assert.equal(limit.code, "LIMIT_OUT_OF_RANGE");
    assert.match(limit.message, /1000/);
    assert.equal((await errorCode(`{ listings { items { nonsense } } }`)).code, "GRAPHQL_VALIDATION_FAILED");
    assert.equal((await errorCode(`query($id: BigInt!) { listing(id: $id) { id } }`, { id: "12abc" })).code, "BAD_USER_INPUT");

    const deep = `{ proposals { items { ${"votes { proposal { ".repeat(25)}id${" } }".repeat(25)} } } }`;
    const depth = await errorCode(deep);
    assert.match(depth.message, /depth|cost/i);
    assert.equal(depth.code, "QUERY_LIMIT_EXCEEDED");
    console.log(`# depth 50: ${depth.code}: ${depth.message}`);
    const aliases = `{ ${Array.from({ length: 1_000 }, (_, i) => `a${i}: _meta { ready }`).join(" ")} }`;
    const aliased = await errorCode(aliases);
    assert.match(aliased.message, /alias|token/i);
    assert.ok(aliased.code, "a code");
    console.log(`# 1,000 aliases: ${aliased.code}: ${aliased.message}`);

    const res = await api.yoga.fetch("http://api/graphql", { method: "POST", headers: { "content-type": "application/json" }, body: "{not json" });
    assert.equal(res.status, 400);
  });

  test("over HTTP: /graphql, /health, /ready, /metrics, and a 10 MB body refused with 413", async () => {
    const server: http.Server = await api.listen(API_PORT, "127.0.0.1");
    assert.ok(server.listening);
    const url = `http://127.0.0.1:${API_PORT}`;
    const q = await fetch(`${url}/graphql`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: "{ listings(limit: 1) { items { id } } }" }) });
    assert.equal(q.status, 200);
    assert.deepEqual(((await q.json()) as any).data.listings.items, [{ id: "1" }]);
    assert.equal((await fetch(`${url}/health`)).status, 200);
    const ready = await fetch(`${url}/ready`);
    assert.equal(ready.status, 200, await ready.clone().text());
    const big = await fetch(`${url}/graphql`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: "{ _meta { ready } }", pad: "x".repeat(10 * 1024 * 1024) }) }).catch((e: Error) => e);
    assert.ok(!(big instanceof Error), `the server reset the connection instead of answering: ${big}`);
    assert.equal((big as Response).status, 413);
    assert.equal(((await (big as Response).json()) as any).errors[0].extensions.code, "PAYLOAD_TOO_LARGE");
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(metrics, /prsm_api_request_duration_seconds_bucket/);
    assert.match(metrics, /prsm_api_cache_total\{store="memory",result="(hit|miss)"\}/);
  });

  test("subscriptions over SSE: new blocks and an account's events arrive as they are indexed", async () => {
    const url = `http://127.0.0.1:${API_PORT}/graphql`; // listening since the HTTP test
    const watched = account(3).address;
    const blocks = subscribe(url, `subscription { newBlock { number } }`);
    const events = subscribe(url, `subscription($a: String!) { accountEvents(address: $a) { name contract args txHash } }`, { a: watched });
    const bad = await fetch(url, { method: "POST", headers: { "content-type": "application/json", accept: "text/event-stream" }, body: JSON.stringify({ query: `subscription { accountEvents(address: "nope") { name } }` }) });
    assert.match(await bad.text(), /is not an address/);
    await new Promise((r) => setTimeout(r, 300)); // both streams are open before the block
    await advanceHead(api);
    const [block, event] = await Promise.all([blocks.next(), events.next()]);
    assert.equal(BigInt(block.newBlock.number), await chain.publicClient.getBlockNumber({ cacheTime: 0 }));
    assert.equal(event.accountEvents.name, "Transfer");
    assert.equal(event.accountEvents.args.to.toLowerCase(), watched.toLowerCase());
    blocks.close();
    events.close();
  });

  test("the response cache answers repeats and never serves an answer from before the head advanced", async () => {
    const query = `query($a: String!) { _meta { block { number } } account(address: $a) { balance } }`;
    const vars = { a: account(3).address };
    const hits = () => api.metrics.cache.get().then((m) => m.values.filter((v) => v.labels.result === "hit").reduce((n, v) => n + v.value, 0));
    const first = await data(query, vars);
    const hitsBefore = await hits();
    assert.deepEqual(await data(query, vars), first);
    assert.equal(await hits(), hitsBefore + 1, "the repeat was served from the cache");

    await advanceHead(api);
    const next = await data(query, vars);
    assert.ok(BigInt(next._meta.block.number) > BigInt(first._meta.block.number), "a newer block");
    assert.equal(BigInt(next.account.balance), BigInt(first.account.balance) + 12_345n);
    assert.equal(BigInt(next.account.balance), await read<bigint>("FTNSToken", "balanceOf", [account(3).address]));
  });

  test("the rate limit refuses a flooding client with 429 while others are served", async () => {
    const limited = createApi(config({ trustProxy: true, rateLimit: { points: 5, windowSeconds: 60 } }), log);
    extraApis.push(limited);
    await limited.start();
    const from = (ip: string) => gql(limited, "{ _meta { ready } }", {}, { "x-forwarded-for": ip });
    for (let i = 0; i < 5; i++) assert.equal((await from("10.0.0.1")).status, 200);
    const refused = await from("10.0.0.1");
    assert.equal(refused.status, 429);
    assert.equal(refused.body.errors![0].extensions!.code, "RATE_LIMITED");
    assert.equal((await from("10.0.0.2")).status, 200, "another client is still served");
  });

  test("with Redis: the cache and rate limit are shared between API processes, and killing Redis loses nothing", async (t) => {
    const redisBin = systemBinary(t, "redis-server");
    if (!redisBin) return;
    const redis = env.processes.spawn("redis", redisBin, ["--port", String(REDIS_PORT), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {}, `${chain.logDir}/redis.log`);
    await waitFor("redis", () => portOpen(REDIS_PORT), 10_000, 50);
    const redisConfig = config({ trustProxy: true, rateLimit: { points: 4, windowSeconds: 60 } }, { REDIS_URL: `redis://127.0.0.1:${REDIS_PORT}` });
    const [a, b] = [createApi(redisConfig, log), createApi(redisConfig, log)];
    extraApis.push(a, b);
    await Promise.all([a.start(), b.start()]);

    const query = `{ listings(limit: 3) { items { id volume } } }`;
    const answer = await gql(a, query, {}, { "x-forwarded-for": "10.1.0.1" });
    assert.equal(answer.status, 200);
    const hits = (x: Api) => x.metrics.cache.get().then((m) => m.values.find((v) => v.labels.result === "hit" && v.labels.store === "redis")?.value ?? 0);
    assert.deepEqual((await gql(b, query, {}, { "x-forwarded-for": "10.1.0.2" })).body, answer.body);
    assert.equal(await hits(b), 1, "process b answered from what process a cached");

    // One limit across both processes: 4 requests in total for client 10.1.0.3.
    for (const x of [a, b, a, b]) assert.equal((await gql(x, "{ _meta { ready } }", {}, { "x-forwarded-for": "10.1.0.3" })).status, 200);
    assert.equal((await gql(a, "{ _meta { ready } }", {}, { "x-forwarded-for": "10.1.0.3" })).status, 429);

    await env.processes.stop(redis, "SIGKILL");
    for (let i = 0; i < 3; i++) {
      const during = await gql(a, query, {}, { "x-forwarded-for": `10.1.1.${i}` });
      assert.equal(during.status, 200, JSON.stringify(during.body));
      assert.deepEqual(during.body, answer.body);
    }
    const errors = (await a.metrics.cache.get()).values.find((v) => v.labels.result === "error")?.value ?? 0;
    assert.ok(errors > 0, "the cache noticed the outage");
  });
});
