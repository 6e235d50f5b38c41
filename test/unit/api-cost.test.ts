/**
 * The row-cost model (api/cost.ts) and the database error codes, through the real yoga server with a database that
 * is not there: a refused query must be refused before any SQL runs (no statement, no connection attempt), and an
 * allowed one reaches the database and gets DATABASE_UNAVAILABLE with 503. Also the proxy hop count of the client key.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import pino from "pino";
import { buildSchema, parse } from "graphql";
import { loadApiConfig } from "../../api/config";
import { costVariables, measureCost, withinResponseSize, type CostLimits } from "../../api/cost";
import { createApi, type Api } from "../../api/server";
import { typeDefs } from "../../api/sdl";

// The production defaults (api/config.ts), so the defaults themselves are what is tested.
const LIMITS: CostLimits = loadApiConfig({ DATABASE_URL: "postgres://unused" }).cost;
const schema = buildSchema(typeDefs());
const cost = (query: string, variables: Record<string, unknown> = {}, limits = LIMITS) => measureCost(schema, parse(query), undefined, variables, limits);
const refusal = (query: string, variables: Record<string, unknown> = {}, limits = LIMITS) => {
  try {
    cost(query, variables, limits);
  } catch (error) {
    return (error as { extensions: { code: string } }).extensions.code;
  }
  return undefined;
};

const HOSTILE: Record<string, string> = {
  "the issue's 10^9 rows": `{ listings(limit: 1000) { items { escrows(limit: 1000) { charges(limit: 1000) { id } } } } }`,
  "the issue's relation cycle": `{ listings(limit: 100) { items { escrows(limit: 1000) { charges(limit: 1000) { escrow { listing { escrows(limit: 1000) { id } } } } } } } }`,
  "a cycle within the relation limit": `{ listings(limit: 100) { items { escrows(limit: 100) { charges(limit: 100) { escrow { listing { escrows(limit: 100) { id } } } } } } } }`,
  "schema defaults only (100 x 10 x 10)": `{ listings { items { escrows { charges { id } } } } }`,
  "100 aliases of an allowed query": `{ ${Array.from({ length: 100 }, (_, i) => `a${i}: listings(limit: 100) { items { escrows(limit: 10) { id } } }`).join(" ")} }`,
  "nested aliased fragments": `fragment C on Escrow { a: charges(limit: 100) { id } b: charges(limit: 100) { id } c: charges(limit: 100) { id } }
    fragment E on Listing { a: escrows(limit: 100) { ...C } b: escrows(limit: 100) { ...C } }
    { listings(limit: 100) { items { ...E } } }`,
  "ping-pong between two types": `{ escrows(limit: 1) { items { charges(limit: 1) { escrow { charges(limit: 1) { escrow { charges(limit: 1) { id } } } } } } } }`,
};

describe("row-cost model", () => {
  for (const [name, query] of Object.entries(HOSTILE)) {
    test(`refuses ${name}`, () => assert.ok(refusal(query), `accepted: ${query.slice(0, 120)}`));
  }

  test("counts what the executor would run: defaults from the schema, pages, aliases, merged fields and fragments", () => {
    // Page: 100 rows by the resolvers' default (no SDL default on root lists); each listing's escrows default to 10.
    assert.equal(cost(`{ listings { items { id } pageInfo { endCursor } } }`).rows, 1 + 100 + 1);
    assert.equal(cost(`{ listings(limit: 10) { items { escrows { id } } } }`).rows, 1 + 10 + 10 * 10);
    // Variables are resolved; an alias costs again; the same field twice (or a fragment spread twice) costs once.
    assert.equal(cost(`query($n: Int) { listings(limit: $n) { items { id } } }`, { n: 7 }).rows, 1 + 7);
    assert.equal(cost(`{ a: listings(limit: 7) { items { id } } b: listings(limit: 7) { items { id } } }`).rows, 2 * (1 + 7));
    assert.equal(cost(`fragment F on ListingPage { items { id } } { listings(limit: 7) { ...F ...F ...F items { id } } }`).rows, 1 + 7);
    // @skip removes a field's cost.
    assert.equal(cost(`query($s: Boolean!) { listings(limit: 7) { items { escrows @skip(if: $s) { id } } } }`, { s: true }).rows, 1 + 7);
    // A singular relation costs a row per parent.
    assert.equal(cost(`{ charges(limit: 50) { items { escrow { id } } } }`).rows, 1 + 50 + 50);
  });

  test("the refusals have distinct codes; the SDL's defaults follow a changed schema", () => {
    assert.equal(refusal(HOSTILE["the issue's 10^9 rows"]), "RELATION_LIMIT_EXCEEDED");
    assert.equal(refusal(HOSTILE["schema defaults only (100 x 10 x 10)"]), "QUERY_TOO_EXPENSIVE");
    assert.equal(refusal(HOSTILE["a cycle within the relation limit"]), "QUERY_TOO_EXPENSIVE");
    assert.equal(refusal(`{ escrows(limit: 1) { items { charges(limit: 1) { escrow { listing { escrows(limit: 1) { id } } } } } } }`), "RELATION_TOO_DEEP");
    assert.equal(refusal(`query($n: Int) { listings(limit: 1) { items { escrows(limit: $n) { id } } } }`, { n: 101 }), "RELATION_LIMIT_EXCEEDED");
    const changed = buildSchema(typeDefs().replace("escrows(limit: Int = 10): [Escrow!]!", "escrows(limit: Int = 3): [Escrow!]!"));
    assert.equal(measureCost(changed, parse(`{ account(address: "0x") { escrows { id } } }`), undefined, {}, LIMITS).rows, 1 + 3);
  });

  test("legitimate queries pass", () => {
    for (const q of [
      `{ listings(limit: 1000) { items { id provider providerAccount { balance } } } }`,
      `{ listings(limit: 20) { items { escrows(limit: 10) { charges(limit: 5) { id escrow { id } } } } } }`,
      `{ account(address: "0x") { escrows { charges { id } } } }`,
      `{ proposals { items { id votes { voter proposal { id } } } } }`,
      `{ _meta { block { number } } marketStats { listings } topListings { id } }`,
    ]) assert.equal(refusal(q), undefined, q);
  });

  test("a hostile document is measured in well under 50 ms", () => {
    const big = `{ ${Array.from({ length: 30 }, (_, i) => `a${i}: listings(limit: 1) { items { escrows(limit: 1) { charges(limit: 1) { id } } } }`).join(" ")} }`;
    const t0 = performance.now();
    for (let i = 0; i < 100; i++) for (const q of [...Object.values(HOSTILE), big]) refusal(q);
    const perQuery = (performance.now() - t0) / (100 * (Object.keys(HOSTILE).length + 1));
    console.log(`# cost model: ${perQuery.toFixed(3)} ms per document (parse + measure)`);
    assert.ok(perQuery < 5, `${perQuery} ms`);
  });
});

describe("the server, with no database behind it", () => {
  let api: Api;
  let port: number;
  const apis: Api[] = [];
  const make = (env: Record<string, string> = {}) => {
    const a = createApi(loadApiConfig({ DATABASE_URL: `postgres://prsm@127.0.0.1:${port}/none`, API_CACHE: "0", ...env }), pino({ level: "silent" }));
    apis.push(a);
    return a;
  };
  const post = async (target: Api, query: string, headers: Record<string, string> = {}) => {
    const res = await target.yoga.fetch("http://api/graphql", { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ query }) });
    return { status: res.status, body: (await res.json()) as { errors?: { message: string; extensions?: { code?: string } }[] } };
  };

  test("setup: a port nothing listens on", async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as net.AddressInfo).port;
    await new Promise<void>((r) => server.close(() => r()));
    api = make();
  });

  test("hostile queries: 400 with a code, no statement, in well under 50 ms", async () => {
    const times: number[] = [];
    for (const query of Object.values(HOSTILE)) await post(api, query); // warm up: the schema's first use compiles it
    for (const [name, query] of Object.entries(HOSTILE)) {
      const t0 = performance.now();
      const { status, body } = await post(api, query);
      times.push(performance.now() - t0);
      assert.equal(status, 400, `${name}: ${JSON.stringify(body)}`);
      assert.match(String(body.errors?.[0].extensions?.code), /QUERY_TOO_EXPENSIVE|RELATION_LIMIT_EXCEEDED|RELATION_TOO_DEEP|QUERY_LIMIT_EXCEEDED/, name);
    }
    assert.equal(api.db.statements, 0, "no SQL ran");
    times.sort((a, b) => a - b);
    console.log(`# refusal latency over yoga.fetch: median ${times[times.length >> 1].toFixed(2)} ms, max ${times[times.length - 1].toFixed(2)} ms`);
    assert.ok(times[times.length - 1] < 50, `slowest refusal ${times[times.length - 1]} ms`);
  });

  test("a cost is remembered per document and the variables it depends on (limits, directives), never for bad variables", async () => {
    const doc = `query Q($n: Int, $a: String!, $skip: Boolean = false) { listings(limit: $n) { items { escrows(limit: 10) { charges(limit: 10) @skip(if: $skip) { id } } } } account(address: $a) { address } }`;
    const send = async (variables: Record<string, unknown>) => {
      const res = await api.yoga.fetch("http://api/graphql", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: doc, variables }) });
      return { status: res.status, code: ((await res.json()) as { errors?: { extensions?: { code?: string } }[] }).errors?.[0]?.extensions?.code };
    };
    assert.deepEqual(costVariables(parse(doc)), ["n", "skip"], "only limit and directive variables count");
    // A bad $a makes the variables invalid: measured as nothing, and that must not stand for the same $n later.
    assert.notEqual((await send({ n: 100, a: 5 })).code, "QUERY_TOO_EXPENSIVE");
    assert.deepEqual(await send({ n: 100, a: "0x01" }), { status: 400, code: "QUERY_TOO_EXPENSIVE" }, "100 x 10 x 10 rows");
    assert.deepEqual(await send({ n: 100, a: "0x02" }), { status: 400, code: "QUERY_TOO_EXPENSIVE" }, "another address, same limits");
    assert.equal((await send({ n: 1, a: "0x03" })).code, "DATABASE_UNAVAILABLE", "1 x 10 x 10 rows pass the model");
    assert.equal((await send({ n: 100, a: "0x03", skip: true })).code, "DATABASE_UNAVAILABLE", "the charges skipped: 100 x 10 rows");
    assert.deepEqual(await send({ n: 100, a: "0x04", skip: false }), { status: 400, code: "QUERY_TOO_EXPENSIVE" });
  });

  test("an answer over API_MAX_RESPONSE_BYTES is a coded 400 in the media type asked for (introspection: no database)", async () => {
    const capped = make({ API_MAX_RESPONSE_BYTES: "2000" });
    const query = `{ __schema { types { name fields { name } } } }`;
    for (const accept of ["application/json", "application/graphql-response+json"]) {
      const res = await capped.yoga.fetch("http://api/graphql", { method: "POST", headers: { "content-type": "application/json", accept }, body: JSON.stringify({ query }) });
      const body = (await res.json()) as { data?: unknown; errors?: { message: string; extensions?: { code?: string; maxBytes?: number } }[] };
      assert.equal(res.status, 400, accept);
      assert.match(String(res.headers.get("content-type")), new RegExp(accept.replace("+", "\\+")));
      assert.equal(body.data, undefined);
      assert.equal(body.errors?.[0].extensions?.code, "RESPONSE_TOO_LARGE");
      assert.equal(body.errors?.[0].extensions?.maxBytes, 2000);
    }
    // Under the cap the same query answers.
    const roomy = await make({ API_MAX_RESPONSE_BYTES: "10000000" }).yoga.fetch("http://api/graphql", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query }) });
    assert.equal(roomy.status, 200);
  });

  test("the remembered cost cannot be poisoned: inherited variable names, or a bad argument beside the limit", async () => {
    const send = async (query: string, variables: Record<string, unknown>) => {
      const res = await api.yoga.fetch("http://api/graphql", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query, variables }) });
      return ((await res.json()) as { errors?: { extensions?: { code?: string } }[] }).errors?.[0]?.extensions?.code;
    };
    // `constructor` left out (its default, 1) must not stand for an explicit null (the relation's default, 100).
    const inherited = `query Q($constructor: Int = 1) { listings(limit: 30) { items { id escrows(limit: $constructor) { id } } } }`;
    assert.equal(await send(inherited, {}), "DATABASE_UNAVAILABLE", "30 + 30 rows pass");
    assert.equal(await send(inherited, { constructor: null }), "QUERY_TOO_EXPENSIVE", "30 + 30 x 100 rows");
    // A bad `where` beside the limit must not make the limit read as the default, then be remembered for good values.
    const beside = `query Q($x: String = "open") { escrows(where: { status_in: [$x, "closed"] }, limit: 1000) { items { id charges(limit: 12) { id } } } }`;
    assert.equal(await send(beside, { x: null }), "QUERY_TOO_EXPENSIVE");
    assert.equal(await send(beside, { x: "open" }), "QUERY_TOO_EXPENSIVE", "1,000 + 12,000 rows");
  });

  test("the size cap holds for a result asked for as a stream, and its refusal keeps the CORS headers", async () => {
    const capped = make({ API_MAX_RESPONSE_BYTES: "2000" });
    const query = `{ __schema { types { name fields { name } } } }`;
    for (const accept of ["text/event-stream", "multipart/mixed"]) {
      const res = await capped.yoga.fetch("http://api/graphql", { method: "POST", headers: { "content-type": "application/json", accept }, body: JSON.stringify({ query }) });
      const text = await res.text();
      assert.match(text, /RESPONSE_TOO_LARGE/, accept);
      assert.doesNotMatch(text, /"__schema"/, `${accept}: no data`);
      assert.ok(text.length < 2000, `${accept}: ${text.length} bytes`);
    }
    const res = await capped.yoga.fetch("http://api/graphql", { method: "POST", headers: { "content-type": "application/json", origin: "https://example.org" }, body: JSON.stringify({ query }) });
    assert.equal(res.status, 400);
    assert.equal(res.headers.get("access-control-allow-origin"), "https://example.org");
    assert.equal(Number(res.headers.get("content-length")), Buffer.byteLength(await res.text()), "the refusal's own length");
  });

  test("the response cache keeps only answers within API_CACHE_MAX_ENTRY_BYTES and the size cap", () => {
    assert.equal(withinResponseSize({ data: { x: "a".repeat(100) } }, 200), true);
    assert.equal(withinResponseSize({ data: { x: "a".repeat(300) } }, 200), false);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.equal(withinResponseSize(cyclic, 200), false, "unserialisable: not kept");
  });

  test("bodies are bounded by the HTTP handler: a chunked POST is 411, an oversize Content-Length 413 (yoga's own limit is off)", async () => {
    const server = http.createServer(make({ API_BODY_LIMIT: "1000" }).handler);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as net.AddressInfo).port;
    const send = (headers: Record<string, string>, chunks: string[]) =>
      new Promise<{ status: number; code?: string }>((resolve, reject) => {
        const req = http.request({ host: "127.0.0.1", port, method: "POST", path: "/graphql", headers: { "content-type": "application/json", ...headers } }, (res) => {
          let text = "";
          res.on("data", (c) => (text += c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, code: JSON.parse(text).errors?.[0]?.extensions?.code }));
        });
        req.on("error", reject);
        for (const c of chunks) req.write(c);
        req.end();
      });
    try {
      const query = JSON.stringify({ query: `{ _meta { ready } }`, pad: "x".repeat(5000) });
      assert.deepEqual(await send({ "transfer-encoding": "chunked" }, [query.slice(0, 100), query.slice(100)]), { status: 411, code: "LENGTH_REQUIRED" });
      assert.deepEqual(await send({ "content-length": String(Buffer.byteLength(query)) }, [query]), { status: 413, code: "PAYLOAD_TOO_LARGE" });
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  test("an allowed query against an unreachable database: 503 DATABASE_UNAVAILABLE, not a masked 200", async () => {
    const { status, body } = await post(api, `{ listings(limit: 1) { items { id } } }`);
    assert.equal(status, 503, JSON.stringify(body));
    assert.equal(body.errors?.[0].extensions?.code, "DATABASE_UNAVAILABLE");
  });

  test("API_TRUSTED_PROXIES=1 (and API_TRUST_PROXY=1): rotating leftmost X-Forwarded-For entries share one limit", async () => {
    for (const env of [{ API_TRUSTED_PROXIES: "1" }, { API_TRUST_PROXY: "1" }] as Record<string, string>[]) {
      const limited = make({ ...env, API_RATE_LIMIT: "2" });
      const statuses: number[] = [];
      for (let i = 0; i < 20; i++) statuses.push((await post(limited, "{ _meta { ready } }", { "x-forwarded-for": `10.9.${i}.1, 192.0.2.7` })).status);
      assert.deepEqual(statuses.filter((s) => s !== 429).length, 2, `${JSON.stringify(env)}: ${statuses}`);
      assert.notEqual((await post(limited, "{ _meta { ready } }", { "x-forwarded-for": "192.0.2.8" })).status, 429, "another client is served");
    }
  });

  test("API_TRUSTED_PROXIES=2: the second address from the right is the client", async () => {
    const limited = make({ API_TRUSTED_PROXIES: "2", API_RATE_LIMIT: "2" });
    const statuses: number[] = [];
    // The outer proxy saw 192.0.2.9 and appended it; the inner proxy appended the outer proxy's address (rotating here).
    for (let i = 0; i < 10; i++) statuses.push((await post(limited, "{ _meta { ready } }", { "x-forwarded-for": `spoof-${i}, 192.0.2.9, 10.0.0.${i}` })).status);
    assert.equal(statuses.filter((s) => s !== 429).length, 2, String(statuses));
    // Fewer entries than hops (the outer proxy was bypassed): the leftmost, written by the inner proxy.
    assert.notEqual((await post(limited, "{ _meta { ready } }", { "x-forwarded-for": "192.0.2.10" })).status, 429);
  });

  after(async () => {
    await Promise.all(apis.map((a) => a.close()));
  });
});

describe("row-cost model and the resolvers' limit range", () => {
  test("an out-of-range limit is LIMIT_OUT_OF_RANGE, as the resolvers would say, even when it is also too expensive", () => {
    assert.equal(refusal(`{ transfers(limit: 100000) { items { id } } }`), "LIMIT_OUT_OF_RANGE");
    assert.equal(refusal(`{ transfers(limit: 0) { items { id } } }`), "LIMIT_OUT_OF_RANGE");
    assert.equal(refusal(`{ listings(limit: 1) { items { escrows(limit: -1) { id } } } }`), "LIMIT_OUT_OF_RANGE");
  });
});
