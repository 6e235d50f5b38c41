/**
 * The API under attack and across processes, over a real indexer on a Hardhat node:
 * - a statement timeout is QUERY_TIMEOUT with 503 (a lock held on a table makes the statement wait, deterministically);
 * - one client flooding queries that are allowed but slow (they wait on that lock) cannot starve another client;
 * - a 10 MB body through Node's fetch sees the 413 every time, never a reset;
 * - two API processes sharing Redis at different blocks, and one restarted, never serve each other's stale answers;
 * - the subscription feed publishes every event of an advance larger than 10,000 events, and a reorg at the same
 *   height (evm_snapshot / evm_revert, then a different block at that height).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import pino from "pino";
import { loadApiConfig, type ApiConfig } from "../../api/config";
import { createApi, type Api } from "../../api/server";
import { account, deployment, send, waitFor, walletFor, type Chain } from "./harness";
import { startIndexedChain, type IndexedChain } from "./indexed";
import { systemBinary } from "../support/system-package";

const CHAIN_PORT = 8645; // the e2e network's port (deployments/e2e); the files of one test lane run one at a time
const PG_PORT = 15341;
const PONDER_PORT = 16181;
const REDIS_PORT = 6393;
const API_PORT = 4393;
const SCHEMA = "hostile_indexer";
const VIEWS = "prsm_hostile";
const log = pino({ level: "silent" });

let env: IndexedChain;
let chain: Chain;
const apis: Api[] = [];

function config(overrides: Partial<ApiConfig> = {}, envVars: Record<string, string> = {}): ApiConfig {
  return { ...loadApiConfig({ DATABASE_URL: env.databaseUrl, API_VIEWS_SCHEMA: VIEWS, API_HEAD_POLL_MS: "100", ...envVars }), ...overrides };
}

function make(c: ApiConfig): Api {
  const api = createApi(c, log);
  apis.push(api);
  return api;
}

async function gql(target: Api, query: string, headers: Record<string, string> = {}) {
  const res = await target.yoga.fetch("http://api/graphql", { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ query }) });
  return { status: res.status, body: (await res.json()) as { data?: any; errors?: { message: string; extensions?: { code?: string } }[] } };
}

function portOpen(port: number): Promise<true | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(undefined));
  });
}

async function transfer(to: string, amount: bigint) {
  const token = deployment("FTNSToken");
  await send(chain, await walletFor(chain, 2).writeContract({ ...token, abi: token.abi as never, functionName: "transfer", args: [to, amount] }));
}

async function headNumber() {
  return chain.publicClient.getBlockNumber({ cacheTime: 0 });
}

async function seen(target: Api, block: bigint) {
  await waitFor(`the API to see block ${block}`, async () => ((await target.head.refresh())!.number >= block ? true : undefined), 60_000, 50);
}

/** An SSE subscription collecting every payload. */
function subscribe(url: string, query: string, variables: Record<string, unknown> = {}) {
  const abort = new AbortController();
  const received: any[] = [];
  let ended: string | undefined;
  void (async () => {
    const res = await fetch(url, { method: "POST", signal: abort.signal, headers: { "content-type": "application/json", accept: "text/event-stream" }, body: JSON.stringify({ query, variables }) });
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
        const payload = JSON.parse(dataLine.slice(5));
        if (payload.errors) ended = JSON.stringify(payload.errors);
        else received.push(payload.data);
      }
    }
    ended ??= "stream closed";
  })().catch((error: Error) => (ended ??= error.message));
  return { received, ended: () => ended, close: () => abort.abort() };
}

describe("API under attack and across processes", { timeout: 900_000 }, () => {
  before(async () => {
    env = await startIndexedChain({ chainPort: CHAIN_PORT, pgPort: PG_PORT });
    chain = env.chain;
    env.startIndexer(SCHEMA, VIEWS, PONDER_PORT);
    await env.indexedToHead(PONDER_PORT);
  });

  after(async () => {
    await Promise.all(apis.map((a) => a.close().catch(() => undefined)));
    await env?.stop();
  });

  test("a statement timeout is QUERY_TIMEOUT with 503, not a masked 200", async () => {
    const api = make(config({ statementTimeoutMs: 300 }));
    await api.start();
    await env.db.query("BEGIN");
    try {
      await env.db.query(`LOCK TABLE "${SCHEMA}".listing IN ACCESS EXCLUSIVE MODE`);
      const t0 = performance.now();
      const { status, body } = await gql(api, "{ listings(limit: 5) { items { id } } }");
      console.log(`# timeout answered in ${(performance.now() - t0).toFixed(0)} ms: ${status} ${body.errors?.[0].extensions?.code}`);
      assert.equal(status, 503, JSON.stringify(body));
      assert.equal(body.errors?.[0].extensions?.code, "QUERY_TIMEOUT");
    } finally {
      await env.db.query("ROLLBACK");
    }
    assert.equal((await gql(api, "{ listings(limit: 5) { items { id } } }")).status, 200);
  });

  test("one client flooding slow queries: it gets 429 beyond its share, and another client stays fast", async () => {
    // A pool of 6: without the per-client limits, 24 waiting statements of one client would hold all of it.
    const api = make(config({ statementTimeoutMs: 2_000, dbPoolSize: 6, dbMaxPerClient: 3, maxConcurrentPerClient: 4, cache: false, trustedProxies: 1 }));
    await api.start();
    await env.db.query("BEGIN");
    const heavy = { "x-forwarded-for": "198.51.100.1" };
    let flood: Promise<{ status: number }[]> | undefined;
    try {
      await env.db.query(`LOCK TABLE "${SCHEMA}".listing IN ACCESS EXCLUSIVE MODE`);
      // Allowed by the cost model, slow because of the lock (each waits until its statement timeout).
      flood = Promise.all(Array.from({ length: 24 }, (_, i) => gql(api, `{ listings(limit: ${10 + i}) { items { id escrows(limit: 5) { id } } } }`, heavy)));
      await new Promise((r) => setTimeout(r, 200)); // the flood holds what it may of the pool
      const times: number[] = [];
      for (let i = 0; i < 20; i++) {
        const t0 = performance.now();
        const other = await gql(api, `{ accounts(limit: 5) { items { address balance } } }`, { "x-forwarded-for": "203.0.113.5" });
        times.push(performance.now() - t0);
        assert.equal(other.status, 200, JSON.stringify(other.body));
      }
      times.sort((a, b) => a - b);
      const p95 = times[Math.floor(times.length * 0.95) - 1];
      console.log(`# second client during the flood: p50 ${times[10].toFixed(1)} ms, p95 ${p95.toFixed(1)} ms (gate: ${api.db.gate.running} running, ${api.db.gate.waiting} waiting)`);
      assert.ok(p95 < 100, `p95 ${p95} ms`);
    } finally {
      await env.db.query("ROLLBACK");
    }
    const statuses = (await flood!).map((r) => r.status);
    const refused = statuses.filter((s) => s === 429).length;
    console.log(`# flood: ${refused} of 24 refused with 429, the rest ${[...new Set(statuses.filter((s) => s !== 429))].join("/")}`);
    assert.equal(refused, 20, `at most 4 in flight: ${statuses}`);
  });

  test("a 10 MB body through Node's fetch: 413 twenty times in a row, never a reset", async () => {
    const api = make(config());
    await api.listen(API_PORT, "127.0.0.1");
    const body = JSON.stringify({ query: "{ _meta { ready } }", pad: "x".repeat(10 * 1024 * 1024) });
    const outcomes: string[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`http://127.0.0.1:${API_PORT}/graphql`, { method: "POST", headers: { "content-type": "application/json" }, body }).catch((e: Error & { cause?: Error }) => e);
      if (res instanceof Error) outcomes.push(`${res.message}: ${res.cause?.message}`);
      else {
        outcomes.push(String(res.status));
        assert.equal(((await res.json()) as any).errors[0].extensions.code, "PAYLOAD_TOO_LARGE");
      }
    }
    assert.deepEqual(outcomes, Array(20).fill("413"));
    // The server still answers normally afterwards.
    const ok = await fetch(`http://127.0.0.1:${API_PORT}/graphql`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: "{ _meta { ready } }" }) });
    assert.equal(ok.status, 200);
  });

  test("the feed: a burst of 12,000 events in one advance all reach a subscriber, in order", async () => {
    const url = `http://127.0.0.1:${API_PORT}/graphql`; // listening since the previous test
    const watched = account(7).address;
    const sub = subscribe(url, `subscription($a: String!) { accountEvents(address: $a) { id name blockNumber } }`, { a: watched });
    await new Promise((r) => setTimeout(r, 300));
    const next = (await headNumber()) + 1n;
    // The burst is written straight into the indexer's table for the next block (mining 12,000 events would take
    // minutes); triggers off (replica role), so Ponder's reorg bookkeeping does not see rows it did not write.
    const BURST = 12_000;
    await env.db.query("SET session_replication_role = replica");
    await env.db.query(
      `INSERT INTO "${SCHEMA}".protocol_event (id, contract, name, args, block_number, timestamp, tx_hash)
       SELECT 'burst-' || lpad(g::text, 6, '0'), 'FTNSToken', 'Burst', json_build_object('to', $1::text, 'n', g), $2::numeric, 0, '0x' || lpad(to_hex(g), 64, '0')
         FROM generate_series(1, ${BURST}) g`,
      [watched, next.toString()],
    );
    await env.db.query("SET session_replication_role = DEFAULT");
    await transfer(watched, 1n); // mines block `next`; the indexer's checkpoint reaches it
    await waitFor("every burst event to arrive", async () => (sub.ended() ? true : sub.received.filter((p) => p.accountEvents.name === "Burst").length >= BURST ? true : undefined), 120_000, 100);
    assert.equal(sub.ended(), undefined, `the subscription ended: ${sub.ended()}`);
    const burst = sub.received.filter((p) => p.accountEvents.name === "Burst").map((p) => p.accountEvents.id);
    assert.equal(burst.length, BURST);
    assert.deepEqual(burst, [...burst].sort(), "in (block, id) order");
    await waitFor("the transfer of the same block", async () => (sub.received.some((p) => p.accountEvents.name === "Transfer") ? true : undefined), 20_000, 50);
    sub.close();
    await env.db.query("SET session_replication_role = replica");
    await env.db.query(`DELETE FROM "${SCHEMA}".protocol_event WHERE id LIKE 'burst-%'`);
    await env.db.query("SET session_replication_role = DEFAULT");
  });

  test("the feed: a reorg at the same height publishes the replacing block's events", async () => {
    const url = `http://127.0.0.1:${API_PORT}/graphql`;
    const api = apis[apis.length - 1];
    const watched = account(8).address;
    const sub = subscribe(url, `subscription($a: String!) { accountEvents(address: $a) { name args blockNumber txHash } }`, { a: watched });
    await new Promise((r) => setTimeout(r, 300));
    const snapshot = await chain.publicClient.request({ method: "evm_snapshot" as never });
    await transfer(watched, 111n);
    const height = await headNumber();
    await waitFor("the first branch's transfer", async () => (sub.received.some((p) => BigInt(p.accountEvents.args.value) === 111n) ? true : undefined), 60_000, 50);
    const keyBefore = api.head.head()!.key;
    const checkpoints: bigint[] = [];
    const stopWatching = api.head.onAdvance((h) => checkpoints.push(h.checkpointNumber));
    await chain.publicClient.request({ method: "evm_revert" as never, params: [snapshot] as never });
    await transfer(watched, 222n); // a different block at the same height
    assert.equal(await headNumber(), height, "the replacing block is at the same height");
    await waitFor("the replacing block's transfer", async () => (sub.received.some((p) => BigInt(p.accountEvents.args.value) === 222n) ? true : undefined), 90_000, 50);
    const replaced = sub.received.find((p) => BigInt(p.accountEvents.args.value) === 222n);
    assert.equal(BigInt(replaced.accountEvents.blockNumber), height);
    assert.notEqual(api.head.head()!.key, keyBefore, "the cache key changed with the reorg");
    stopWatching();
    // Which reorg the API saw depends on timing: the checkpoint moved back then forward, or (the case a checkpoint
    // alone misses) it changed in place or not at all while the block's events changed.
    console.log(`# reorg at ${height}: checkpoints seen ${checkpoints.join(", ") || "(none)"}; ${checkpoints.some((c) => c < height) ? "moved back" : "same height only"}`);
    sub.close();
  });

  test("two API processes sharing Redis at different blocks, and one restarted, never serve each other's stale answers", async (t) => {
    const redisBin = systemBinary(t, "redis-server");
    if (!redisBin) return;
    const redis = env.processes.spawn("redis-hostile", redisBin, ["--port", String(REDIS_PORT), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {}, `${chain.logDir}/redis-hostile.log`);
    await waitFor("redis", () => portOpen(REDIS_PORT), 10_000, 50);
    const shared = (overrides: Partial<ApiConfig> = {}) => make(config(overrides, { REDIS_URL: `redis://127.0.0.1:${REDIS_PORT}` }));
    const query = `{ _meta { block { number } } account(address: "${account(9).address.toLowerCase()}") { balance } }`;
    const hits = async (x: Api) => (await x.metrics.cache.get()).values.find((v) => v.labels.result === "hit" && v.labels.store === "redis")?.value ?? 0;

    // Process a reads the head once at start and then not for an hour: it stays at the old block.
    const a = shared({ headPollMs: 3_600_000 });
    await a.start();
    const old = await gql(a, query);
    assert.equal(old.status, 200, JSON.stringify(old.body));

    await transfer(account(9).address, 5n);
    await env.indexedToHead(PONDER_PORT);
    const b = shared();
    await b.start();
    await seen(b, await headNumber());
    const fresh = await gql(b, query);
    assert.ok(BigInt(fresh.body.data._meta.block.number) > BigInt(old.body.data._meta.block.number), `b served a's older answer: ${JSON.stringify(fresh.body)}`);
    assert.equal(BigInt(fresh.body.data.account.balance), BigInt(old.body.data?.account?.balance ?? 0) + 5n);
    assert.equal(await hits(b), 0);

    // Restarted at the same state: the same key, so the shared entry is reused (and it is the right one).
    await b.close();
    const b2 = shared();
    await b2.start();
    assert.deepEqual((await gql(b2, query)).body, fresh.body);
    assert.equal(await hits(b2), 1, "the restarted process answered from the shared cache");
    // a catches up: the same state, the same key, the same answer.
    await a.head.refresh();
    assert.deepEqual((await gql(a, query)).body, fresh.body);
    await env.processes.stop(redis, "SIGKILL");
  });
});
