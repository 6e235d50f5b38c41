/**
 * The API's read side at scale, over the real indexer on a Hardhat node: only indexed orders are offered, relation
 * pages read at most `limit` rows per parent (and the right ones), `_contains` exists only on small tables,
 * `marketStats` (the indexer's counters) equals full counts, listings carry their decoded metadata (the launch
 * listings' data: URIs, an ipfs:// one through a local gateway, broken ones with their error and raw URI).
 *
 * Index use is checked where it matters, on a copy of the indexer's escrow and charge tables (same indexes, created by
 * Ponder from ponder.schema.ts) filled with 50,000 escrows (of 20 renters and 100 listings) and 200,000 charges: the API's
 * own list and relation SQL must plan as index scans, without a Seq Scan or a Sort. (For a parent with a handful of
 * children the planner may rightly prefer a bitmap scan and a sort of those few rows; the test's parents have many.)
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import pino from "pino";
import { keccak256, toBytes, type Address, type Hex } from "viem";
import { loadApiConfig } from "../../api/config";
import { createDatabase, type Database } from "../../api/db";
import { column, entity, ENTITIES, RELATIONS } from "../../api/entities";
import { listQuery } from "../../api/list";
import { Loaders } from "../../api/loaders";
import { createApi, type Api } from "../../api/server";
import { CATEGORIES } from "../../config/parameters";
import { LAUNCH_MODELS } from "../../config/launch-models";
import { account, deployment, readContract, send, waitFor, walletFor, type Chain } from "./harness";
import { startIndexedChain, type IndexedChain } from "./indexed";
import { runScenario } from "./scenario";
import { PROVIDER } from "./usage";

const CHAIN_PORT = 8871;
const PG_PORT = 15371;
const PONDER_PORT = 16191;
const INDEXER_SCHEMA = "api_read_indexer";
const VIEWS = "prsm_api_read";
const SCALE = "scale_copy";
const E18 = 10n ** 18n;
const log = pino({ level: "silent" });

let env: IndexedChain;
let chain: Chain;
let api: Api;
let gateway: http.Server;
const extraApis: Api[] = [];

const IPFS_CID = "bafkreiprsmapireadtestdocument";
const IPFS_DOC = { name: "IPFS-hosted model", vendor: "Gateway Labs", description: "served by the test's IPFS gateway", category: "code" };
const BROKEN_URI = "data:application/json;base64,eyJuYW1lIjoi*not-base64*";
const NOT_JSON_URI = "data:text/plain,hello%20world";

type Contract = { address: Address; abi: readonly unknown[] };
const market = () => deployment("ModelMarketplace");
const token = () => deployment("FTNSToken");
const call = async (from: number, c: Contract, functionName: string, args: unknown[] = []) =>
  send(chain, await walletFor(chain, from).writeContract({ ...c, abi: c.abi as never, functionName, args: args as never }));
const read = <T>(c: Contract, functionName: string, args: unknown[] = []) => readContract<T>(chain, c, functionName, args);

async function gql(target: Api, query: string, variables: Record<string, unknown> = {}) {
  const res = await target.yoga.fetch("http://api/graphql", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query, variables }) });
  return { status: res.status, body: (await res.json()) as { data?: any; errors?: { message: string; extensions?: { code?: string } }[] } };
}

async function data(query: string, variables: Record<string, unknown> = {}) {
  const { status, body } = await gql(api, query, variables);
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  assert.equal(status, 200);
  return body.data;
}

async function errorOf(target: Api, query: string) {
  const { body } = await gql(target, query);
  assert.ok(body.errors?.length, `expected an error for ${query}`);
  return { code: body.errors![0].extensions?.code, message: body.errors![0].message };
}

/** Lists a model with `uri` as its metadata (category by name) from account `from`; returns the listing id. */
async function list(from: number, uri: string, category: string): Promise<bigint> {
  await call(from, token(), "approve", [market().address, 100n * E18]);
  await call(from, market(), "list", [keccak256(toBytes(uri)), uri, CATEGORIES.indexOf(category), 0, 10n ** 15n, "0x0000000000000000000000000000000000000000", 0, 100n * E18]);
  return read<bigint>(market(), "listingCount");
}

/** More escrows on listing 1 (several renters) and receipt charges on them, so relation pages have more than a page. */
async function moreRentals(): Promise<bigint[]> {
  const [, name, version, chainId] = await read<[Hex, string, string, bigint, Address]>(market(), "eip712Domain");
  const domain = { name, version, chainId: Number(chainId), verifyingContract: market().address };
  const now = async () => (await chain.publicClient.getBlock({ blockTag: "latest" })).timestamp;
  const escrows: bigint[] = [];
  for (const renter of [12, 13, 12, 11]) {
    const { pricePerUnit } = await read<{ pricePerUnit: bigint }>(market(), "getListing", [1n]);
    await call(renter, token(), "approve", [market().address, 50n * E18]);
    await call(renter, market(), "openEscrow", [1n, 50n * E18, 50n * E18, (await now()) + 3_600n, pricePerUnit]);
    const id = await read<bigint>(market(), "escrowCount");
    escrows.push(id);
    for (const units of [10n, 25n, 40n].slice(0, renter === 11 ? 1 : 3)) {
      const deadline = (await now()) + 3_600n;
      const signature = await account(renter).signTypedData({
        domain,
        types: { UsageReceipt: [{ name: "escrowId", type: "uint256" }, { name: "cumulativeUnits", type: "uint256" }, { name: "deadline", type: "uint256" }] },
        primaryType: "UsageReceipt",
        message: { escrowId: id, cumulativeUnits: units, deadline },
      });
      await call(PROVIDER, market(), "chargeWithReceipt", [id, units, deadline, signature]);
    }
  }
  return escrows;
}

/** Every plan node of an EXPLAIN (FORMAT JSON) answer. */
function planNodes(plan: any): any[] {
  const out = [plan];
  for (const child of plan.Plans ?? []) out.push(...planNodes(child));
  return out;
}

async function explain(sql: string, params: unknown[]) {
  const { rows } = await env.db.query(`EXPLAIN (FORMAT JSON) ${sql}`, params);
  const nodes = planNodes(rows[0]["QUERY PLAN"][0].Plan);
  return { nodes, types: nodes.map((n) => n["Node Type"] as string), indexes: nodes.map((n) => n["Index Name"]).filter(Boolean) as string[] };
}

function assertIndexOnly(what: string, plan: Awaited<ReturnType<typeof explain>>, table: string) {
  const onTable = plan.nodes.filter((n) => n["Relation Name"] === table);
  assert.ok(onTable.length > 0, `${what}: reads ${table}: ${plan.types.join(" > ")}`);
  for (const n of onTable) assert.match(n["Node Type"], /^Index (Only )?Scan$/, `${what}: ${table} read by ${n["Node Type"]} (${plan.types.join(" > ")})`);
  assert.ok(!plan.types.some((t) => /Sort/.test(t)), `${what}: no sort (${plan.types.join(" > ")})`);
  console.log(`# ${what}: ${plan.nodes.map((n) => n["Node Type"] + (n["Index Name"] ? ` ${n["Index Name"]}` : "")).join(" > ")}`);
}

describe("API read side at scale", { timeout: 900_000 }, () => {
  let listings: { broken: bigint; notJson: bigint; ipfs: bigint; paused: bigint };
  let rentals: bigint[];

  before(async () => {
    gateway = http.createServer((req, res) => {
      if (req.url === `/ipfs/${IPFS_CID}`) return res.end(JSON.stringify(IPFS_DOC));
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => gateway.listen(0, "127.0.0.1", resolve));
    // The indexer process inherits the environment: it resolves ipfs:// metadata through this gateway.
    process.env.IPFS_GATEWAY = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
    process.env.IPFS_TIMEOUT_MS = "2000";

    env = await startIndexedChain({ chainPort: CHAIN_PORT, pgPort: PG_PORT });
    chain = env.chain;
    await runScenario(chain);
    listings = {
      broken: await list(10, BROKEN_URI, "code"),
      notJson: await list(10, NOT_JSON_URI, "other"),
      ipfs: await list(11, `ipfs://${IPFS_CID}`, "code"),
      paused: await list(11, `data:application/json,${encodeURIComponent('{"name":"paused one"}')}`, "image"),
    };
    await call(11, market(), "setListingActive", [listings.paused, false]);
    await call(10, market(), "delist", [listings.notJson]);
    rentals = await moreRentals();

    env.startIndexer(INDEXER_SCHEMA, VIEWS, PONDER_PORT);
    await env.indexedToHead(PONDER_PORT);
    // Ponder creates the schema's indexes once its backfill is done, and only then reports ready.
    await waitFor("the indexer to be ready", async () => ((await fetch(`http://127.0.0.1:${PONDER_PORT}/ready`).catch(() => undefined))?.ok ? true : undefined), 120_000, 200);
    api = createApi(loadApiConfig({ DATABASE_URL: env.databaseUrl, API_VIEWS_SCHEMA: VIEWS, API_HEAD_POLL_MS: "100", API_CACHE: "0" }), log);
    await api.start();
  });

  after(async () => {
    for (const a of [api, ...extraApis]) await a?.close().catch(() => undefined);
    await env?.stop();
    await new Promise<void>((resolve) => (gateway ? gateway.close(() => resolve()) : resolve()));
    delete process.env.IPFS_GATEWAY;
    delete process.env.IPFS_TIMEOUT_MS;
  });

  test("every orderable field and every relation has its composite index (field or fk, order, primary key)", async () => {
    const { rows } = await env.db.query(`SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = $1`, [INDEXER_SCHEMA]);
    const indexes = rows.map((r) => ({
      table: r.tablename as string,
      desc: / DESC/.test(r.indexdef),
      columns: /\((.*)\)\s*$/.exec(r.indexdef)![1].split(",").map((c: string) => c.trim().replace(/"/g, "").replace(/ (ASC|DESC)$/, "")),
    }));
    const has = (table: string, columns: string[]) =>
      indexes.some((i) => i.table === table && !i.desc && columns.every((c, k) => i.columns[k] === c));
    const missing: string[] = [];
    for (const spec of ENTITIES) {
      const key = spec.key.map(column);
      for (const field of spec.orderBy) {
        const cols = [column(field), ...key.filter((k) => k !== column(field))];
        if (!has(spec.table, cols)) missing.push(`${spec.table}(${cols.join(", ")}) for ${spec.list}(orderBy: ${field})`);
      }
    }
    for (const r of RELATIONS) {
      const child = entity(r.child);
      const cols = [column(r.fk), ...[child.defaultOrder, ...child.key.filter((k) => k !== child.defaultOrder)].map(column)];
      if (!has(child.table, cols)) missing.push(`${child.table}(${cols.join(", ")}) for ${r.parent}.${r.field}`);
    }
    assert.deepEqual(missing, []);
    assert.ok(has("protocol_event", ["block_number"]), "the subscription feed's protocol_event(block_number, ...)");
  });

  test("lists order by indexed fields only; keyset pages in both directions stay correct", async () => {
    const all = (await data(`{ escrows(limit: 1000, orderBy: openedAt, orderDirection: desc) { items { id openedAt } } }`)).escrows.items;
    assert.ok(all.length >= 7);
    const expected = [...all].sort((a: any, b: any) => Number(BigInt(b.openedAt) - BigInt(a.openedAt)) || Number(BigInt(b.id) - BigInt(a.id)));
    assert.deepEqual(all, expected, "openedAt desc, then id desc");
    const paged: any[] = [];
    let after: string | null = null;
    for (let i = 0; i < 20; i++) {
      const page: any = (await data(`query($a: String) { escrows(limit: 2, orderBy: openedAt, orderDirection: desc, after: $a) { items { id openedAt } pageInfo { hasNextPage endCursor } } }`, { a: after })).escrows;
      paged.push(...page.items);
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    assert.deepEqual(paged, all);
    const byPrice = (await data(`{ listings(limit: 100, orderBy: pricePerUnit) { items { id pricePerUnit } } }`)).listings.items;
    for (let i = 1; i < byPrice.length; i++) assert.ok(BigInt(byPrice[i - 1].pricePerUnit) <= BigInt(byPrice[i].pricePerUnit));

    for (const q of [`{ escrows(orderBy: deposit) { items { id } } }`, `{ charges(orderBy: amount) { items { id } } }`, `{ transfers(orderBy: to) { items { id } } }`]) {
      const refused = await errorOf(api, q);
      assert.equal(refused.code, "GRAPHQL_VALIDATION_FAILED", q);
      assert.match(refused.message, /does not exist in "\w+OrderBy" enum/);
    }
    // Called directly (not through the schema), the list builder refuses too, with its own code.
    assert.throws(() => listQuery(VIEWS, entity("Escrow"), { orderBy: "deposit" }, undefined), (e: any) => e.extensions?.code === "ORDER_NOT_INDEXED");
  });

  test("_contains only on small tables; exact hash filters stay", async () => {
    const llama = (await data(`{ listings(where: { name_contains: "Llama" }) { items { name } } }`)).listings.items;
    assert.deepEqual(llama.map((l: any) => l.name).sort(), ["Code Llama 34B Instruct", "Llama 2 70B Chat"]);
    for (const q of [`{ charges(where: { txHash_contains: "0x" }) { items { id } } }`, `{ transfers(where: { txHash_contains: "ab" }) { items { id } } }`,
      `{ protocolEvents(where: { name_contains: "Trans" }) { items { id } } }`, `{ escrows(where: { renter_contains: "0x" }) { items { id } } }`,
      `{ votes(where: { reason_contains: "safety" }) { items { id } } }`]) {
      assert.equal((await errorOf(api, q)).code, "GRAPHQL_VALIDATION_FAILED", q);
    }
    const charge = (await data(`{ charges(limit: 1) { items { id txHash } } }`)).charges.items[0];
    const byHash = (await data(`query($h: String!) { charges(where: { txHash: $h }) { items { id } } }`, { h: charge.txHash.toUpperCase().replace("0X", "0x") })).charges.items;
    assert.deepEqual(byHash.map((c: any) => c.id), [charge.id]);
  });

  test("relation pages: at most `limit` per parent, the first rows in the child's order, one statement per relation", async () => {
    const page = (await data(`{ listings(limit: 100) { items { id escrowCount escrows(limit: 2) { id openedAt } charges(limit: 3) { id } } } }`)).listings.items;
    const busy = page.find((l: any) => l.id === "1");
    assert.ok(busy.escrowCount > 2, `listing 1 has ${busy.escrowCount} escrows: more than one relation page`);
    for (const l of page) {
      assert.ok(l.escrows.length <= 2 && l.charges.length <= 3);
      const escrows = (await data(`query($l: BigInt!) { escrows(where: { listingId: $l }, limit: 2) { items { id openedAt } } }`, { l: l.id })).escrows.items;
      assert.deepEqual(l.escrows, escrows, `listing ${l.id}'s escrows`);
      const charges = (await data(`query($l: BigInt!) { charges(where: { listingId: $l }, limit: 3) { items { id } } }`, { l: l.id })).charges.items;
      assert.deepEqual(l.charges, charges, `listing ${l.id}'s charges`);
    }
    const escrows = (await data(`{ escrows(limit: 100) { items { id charges(limit: 2) { id cumulativeUnits } renterAccount { escrows(limit: 1) { id } } } } }`)).escrows.items;
    for (const e of escrows) {
      const charges = (await data(`query($e: BigInt!) { charges(where: { escrowId: $e }, limit: 2) { items { id cumulativeUnits } } }`, { e: e.id })).charges.items;
      assert.deepEqual(e.charges, charges, `escrow ${e.id}'s charges`);
    }
    const withThree = escrows.find((e: any) => e.id === rentals[0].toString());
    assert.deepEqual(withThree.charges.map((c: any) => c.cumulativeUnits), ["10", "25"], "the first two of its three charges");

    api.head.stop(); // the head tracker shares the pool: only this query's statements are counted
    try {
      const before = api.db.statements;
      await data(`{ listings(limit: 80) { items { escrows(limit: 5) { charges(limit: 5) { id } } } } }`); // 2,481 rows: within the budget
      assert.equal(api.db.statements - before, 1, "the page and both levels of relations: one statement (api/tree.ts)");
    } finally {
      await api.head.start();
    }
  });

  test("a relation tree read in one statement answers what the per-relation loaders answer", async () => {
    const escrow = (await data(`query($e: BigInt!) { escrow(id: $e) { listingId renter } }`, { e: rentals[0].toString() })).escrow;
    const below = `id status deposit charged openedAt remaining listing { id } charges(limit: 2) { id amount units status timestamp cumulativeUnits } payouts { id }`;
    // Through a one-to-one hop (escrow { listing }) the listing row comes from a loader: its relations take the
    // loader path. Straight from the root they come from the tree. Both must agree.
    const viaLoaders = (await data(`query($e: BigInt!) { escrow(id: $e) { listing { escrows(limit: 3) { ${below} } } } }`, { e: rentals[0].toString() })).escrow.listing.escrows;
    const viaTree = (await data(`query($l: BigInt!) { listing(id: $l) { escrows(limit: 3) { ${below} } } }`, { l: escrow.listingId })).listing.escrows;
    assert.ok(viaTree.length > 0 && viaTree.some((e: any) => e.charges.length > 0), "rows to compare");
    assert.deepEqual(viaTree, viaLoaders);
    const renterDoc = `query($a: String!) { account(address: $a) { address balance escrows { id listingId status charges { id amount } } } }`;
    const viaRoot = (await data(renterDoc, { a: escrow.renter.toUpperCase().replace("0X", "0x") })).account;
    const viaHop = (await data(`query($e: BigInt!) { escrow(id: $e) { renterAccount { address balance escrows { id listingId status charges { id amount } } } } }`, { e: rentals[0].toString() })).escrow.renterAccount;
    assert.deepEqual(viaRoot, viaHop, "the per-renter query, its address checksummed");

    // `items` twice under two keys share their rows: each keeps its own relation page.
    const twice = (await data(`{ listings(limit: 20) { items { id escrows(limit: 1) { id } } more: items { id escrows(limit: 3) { id } } } }`)).listings;
    for (const [i, l] of twice.items.entries()) {
      const direct = (await data(`query($l: BigInt!) { escrows(where: { listingId: $l }, limit: 3) { items { id } } }`, { l: l.id })).escrows.items;
      assert.deepEqual(l.escrows, direct.slice(0, 1));
      assert.deepEqual(twice.more[i].escrows, direct);
    }
    // Aliases of one relation with different limits under the same parent, and a fragment.
    const aliased = (await data(`fragment C on Escrow { charges(limit: 1) { id } } query($l: BigInt!) { listing(id: $l) { a: escrows(limit: 1) { id ...C } b: escrows(limit: 3) { id c: charges(limit: 3) { id } } } }`, { l: escrow.listingId })).listing;
    assert.deepEqual(aliased.a.map((e: any) => e.id), aliased.b.slice(0, 1).map((e: any) => e.id));
    assert.deepEqual(aliased.a[0].charges, aliased.b[0].c.slice(0, 1));
    // Aliases longer than a Postgres identifier, alike in their first 63 bytes: each still gets its own page.
    const long = "x".repeat(70);
    const longer = (await data(`query($l: BigInt!) { listing(id: $l) { ${long}1: escrows(limit: 1) { id } ${long}2: escrows(limit: 3) { id } } }`, { l: escrow.listingId })).listing;
    assert.equal(longer[`${long}1`].length, 1);
    assert.deepEqual(longer[`${long}2`], aliased.b.map((e: any) => ({ id: e.id })));

    api.head.stop(); // the head tracker shares the pool: only this query's statements are counted
    try {
      const before = api.db.statements;
      await data(renterDoc, { a: escrow.renter });
      assert.equal(api.db.statements - before, 1, "account, escrows and charges: one statement");
    } finally {
      await api.head.start();
    }
  });

  test("relation pages that read only the selected columns answer exactly what a root list reading every column does", async () => {
    // Every entity field of the child, plus its derived fields and relations (api/columns.ts must cover each).
    const extra: Record<string, string> = {
      Escrow: "remaining listing { id } renterAccount { address } rating { score } charges(limit: 2) { id amount }",
      Charge: "escrow { id } dispute { chargeId }",
      Listing: "averageRating providerAccount { address }",
      Vote: "proposal { id state }",
    };
    const compared: Record<string, number> = {};
    for (const r of RELATIONS) {
      const parent = entity(r.parent);
      const child = entity(r.child);
      const selection = `${Object.keys(child.fields).join(" ")} ${extra[r.child] ?? ""}`;
      const parents = (await data(`{ ${parent.list}(limit: 8) { items { ${r.parentField} ${r.field}(limit: 3) { ${selection} } } } }`))[parent.list].items;
      for (const p of parents) {
        const value = p[r.parentField];
        const direct = (await data(`query($v: ${child.fields[r.fk].kind === "bigint" ? "BigInt" : "String"}!) { ${child.list}(where: { ${r.fk}: $v }, limit: 3) { items { ${selection} } } }`, { v: value }))[child.list].items;
        assert.deepEqual(p[r.field], direct, `${r.parent}.${r.field} of ${value}`);
        compared[`${r.parent}.${r.field}`] = (compared[`${r.parent}.${r.field}`] ?? 0) + direct.length;
      }
    }
    for (const busy of ["Account.escrows", "Listing.escrows", "Escrow.charges", "Proposal.votes"]) assert.ok(compared[busy] > 0, `${busy}: no rows compared (${JSON.stringify(compared)})`);
  });

  test("fixed-shape statements run prepared (once per connection), and keep working when a view changes its columns", async () => {
    const db = createDatabase(env.databaseUrl, { max: 1 }); // one connection: pg_prepared_statements is per session
    const preparedNames = async () => (await db.pool.query(`SELECT name FROM pg_prepared_statements`)).rows.map((r) => r.name as string);
    try {
      await env.db.query(`CREATE SCHEMA IF NOT EXISTS prepared_test; CREATE OR REPLACE VIEW prepared_test.thing AS SELECT 1::int AS id, 'a'::text AS name`);
      const sql = `SELECT * FROM prepared_test.thing WHERE id = ANY($1::int[])`;
      assert.deepEqual(await db.query(sql, [[1]]), [{ id: 1, name: "a" }]);
      assert.deepEqual(await preparedNames(), [], "unprepared by default (list SQL is shaped by the client)");
      assert.deepEqual(await db.query(sql, [[1]], { prepare: true }), [{ id: 1, name: "a" }]);
      assert.deepEqual(await db.query(sql, [[1]], { prepare: true }), [{ id: 1, name: "a" }]);
      const names = await preparedNames();
      assert.equal(names.length, 1, `one prepared statement for one text: ${names}`);
      assert.match(names[0], /^prsm_[0-9a-f]{20}$/);
      // A new indexer version republishes the view with another column: the plan's row type is gone, the statement
      // is prepared again under a new name and answers with the new columns.
      await env.db.query(`DROP VIEW prepared_test.thing; CREATE VIEW prepared_test.thing AS SELECT 1::int AS id, 'a'::text AS name, true AS extra`);
      assert.deepEqual(await db.query(sql, [[1]], { prepare: true }), [{ id: 1, name: "a", extra: true }]);
      assert.deepEqual(await db.query(sql, [[1]], { prepare: true }), [{ id: 1, name: "a", extra: true }]);
      const renamed = await preparedNames();
      assert.equal(renamed.length, 1, `the old plan is gone, one new one: ${renamed}`);
      assert.notEqual(renamed[0], names[0]);
      // The relation loaders ask for it.
      await new Loaders(db, VIEWS).many("Escrow", "listingId", "1", 2);
      await new Loaders(db, VIEWS).one("Listing", "id", "1");
      assert.equal((await preparedNames()).length, 3);
    } finally {
      await db.close();
      await env.db.query(`DROP SCHEMA IF EXISTS prepared_test CASCADE`);
    }
  });

  test("a relation limit over 100 is refused with a code, before and without the cost model", async () => {
    const refused = await errorOf(api, `{ listings(limit: 1) { items { escrows(limit: 101) { id } } } }`);
    assert.equal(refused.code, "RELATION_LIMIT_EXCEEDED");
    // With the cost model's relation limit raised, the resolvers still hold the line at 100.
    const lax = createApi(loadApiConfig({ DATABASE_URL: env.databaseUrl, API_VIEWS_SCHEMA: VIEWS, API_CACHE: "0", API_MAX_RELATION_LIMIT: "1000" }), log);
    extraApis.push(lax);
    await lax.start();
    const resolver = await errorOf(lax, `{ listings(limit: 1) { items { escrows(limit: 101) { id } } } }`);
    assert.equal(resolver.code, "LIMIT_OUT_OF_RANGE");
    assert.match(resolver.message, /100/);
    assert.equal((await gql(lax, `{ listings(limit: 1) { items { escrows(limit: 100) { id } } } }`)).body.errors, undefined);
  });

  test("marketStats, read from the indexer's counters, equals full counts over the tables", async () => {
    const stats = (await data(`{ marketStats { listings activeListings providers escrows openEscrows renters charges volume fees } }`)).marketStats;
    const s = `"${VIEWS}"`;
    const { rows } = await env.db.query(
      `SELECT (SELECT count(*) FROM ${s}.listing)::int AS listings,
              (SELECT count(*) FROM ${s}.listing WHERE status = 1)::int AS "activeListings",
              (SELECT count(DISTINCT provider) FROM ${s}.listing)::int AS providers,
              (SELECT count(*) FROM ${s}.escrow)::int AS escrows,
              (SELECT count(*) FROM ${s}.escrow WHERE status = 'open')::int AS "openEscrows",
              (SELECT count(DISTINCT renter) FROM ${s}.escrow)::int AS renters,
              (SELECT count(*) FROM ${s}.charge)::int AS charges,
              (SELECT coalesce(sum(volume), 0) FROM ${s}.daily_stat)::text AS volume,
              (SELECT coalesce(sum(fees), 0) FROM ${s}.daily_stat)::text AS fees`,
    );
    assert.deepEqual(stats, rows[0]);
    // And the chain agrees on what it can be asked.
    assert.equal(stats.listings, Number(await read<bigint>(market(), "listingCount")));
    assert.equal(stats.escrows, Number(await read<bigint>(market(), "escrowCount")));
    assert.ok(stats.activeListings < stats.listings, "the paused and the delisted listing are not active");
    assert.ok(BigInt(stats.volume) > 0n && BigInt(stats.fees) > 0n);
  });

  test("decoded metadata: launch listings, an ipfs:// document, and broken URIs with their error and raw URI", async () => {
    const all = (await data(`{ listings(limit: 100) { items { id name vendor description category categoryName metadataUri metadataError metadata } } }`)).listings.items;
    for (const model of LAUNCH_MODELS) {
      const l = all.find((x: any) => x.name === model.name);
      assert.ok(l, `launch listing ${model.name}`);
      assert.deepEqual([l.vendor, l.description, l.categoryName, l.metadataError], [model.vendor, model.description, model.category, null]);
      assert.equal(l.category, CATEGORIES.indexOf(model.category));
      assert.equal(l.metadata.unit, model.unit);
      assert.match(l.metadataUri, /^data:application\/json;base64,/);
    }
    const byId = (id: bigint) => all.find((x: any) => x.id === id.toString());
    const broken = byId(listings.broken);
    assert.deepEqual([broken.name, broken.vendor, broken.metadata, broken.metadataUri, broken.categoryName], [null, null, null, BROKEN_URI, "code"]);
    assert.match(broken.metadataError, /^invalid-base64: /);
    const notJson = byId(listings.notJson);
    assert.match(notJson.metadataError, /^not-json: /);
    assert.equal(notJson.metadataUri, NOT_JSON_URI);
    const ipfs = byId(listings.ipfs);
    assert.deepEqual([ipfs.name, ipfs.vendor, ipfs.description, ipfs.metadataError, ipfs.categoryName], [IPFS_DOC.name, IPFS_DOC.vendor, IPFS_DOC.description, null, "code"]);
    assert.deepEqual(ipfs.metadata, IPFS_DOC);
    assert.equal(byId(listings.paused).name, "paused one");
    // The scenario's listing names no content id (ipfs://scenario-model): refused before any fetch, URI kept.
    const scenarioListing = all.find((x: any) => x.metadataUri === "ipfs://scenario-model");
    assert.match(scenarioListing.metadataError, /^unsupported-uri: /);
    const categories = (await data(`{ categories(limit: 100) { items { id name } } }`)).categories.items;
    assert.deepEqual(categories.map((c: any) => c.name), CATEGORIES);
    const filtered = (await data(`{ listings(where: { categoryName: "code", metadataError: null }) { items { name } } }`)).listings.items.map((l: any) => l.name);
    assert.deepEqual(filtered.sort(), [IPFS_DOC.name, "Code Llama 34B Instruct"].sort());
  });

  test("at scale (50,000 escrows, 200,000 charges): the big lists and relation loaders plan as index scans, no sort", async () => {
    const db = env.db;
    await db.query(`DROP SCHEMA IF EXISTS ${SCALE} CASCADE; CREATE SCHEMA ${SCALE}`);
    // Same columns and the same indexes as the indexer's own tables (Ponder built those from ponder.schema.ts).
    for (const table of ["escrow", "charge"]) await db.query(`CREATE TABLE ${SCALE}.${table} (LIKE "${INDEXER_SCHEMA}".${table} INCLUDING ALL)`);
    await db.query(`INSERT INTO ${SCALE}.escrow (id, listing_id, renter, provider, deposit, spend_cap, price_per_unit, expires_at, charged,
        refunded_by_disputes, sequence, units, status, opened_at)
      SELECT g, g % 100 + 1, '0x' || lpad(to_hex(g % 20), 40, '0'), '0x' || lpad(to_hex(g % 100), 40, '0'), 100, 100, 1, 2000000000 + g, 0,
        0, 0, 0, CASE WHEN g % 3 = 0 THEN 'closed' ELSE 'open' END, 1700000000 + g / 4
      FROM generate_series(1, 50000) g`);
    await db.query(`INSERT INTO ${SCALE}.charge (id, charge_id, escrow_id, listing_id, sequence, cumulative_units, units, amount, attested,
        result_digest, disputable_until, status, timestamp, tx_hash)
      SELECT 'c-' || g, 0, g % 50000 + 1, (g % 50000 + 1) % 100 + 1, 0, g, 1, 5, false, '0x00', 0, 'settled', 1700000000 + g / 8, '0x' || md5(g::text)
      FROM generate_series(1, 200000) g`);
    await db.query(`ANALYZE ${SCALE}.escrow; ANALYZE ${SCALE}.charge`);

    const lists: [string, string, Record<string, unknown>][] = [
      ["escrows by openedAt, page of 500", "Escrow", { orderBy: "openedAt", limit: 500 }],
      ["escrows by openedAt desc, after a cursor", "Escrow", { orderBy: "openedAt", orderDirection: "desc", limit: 100, after: Buffer.from(JSON.stringify(["1700006000", "24000"])).toString("base64url") }],
      ["escrows of one renter", "Escrow", { where: { renter: `0x${"0".repeat(39)}c` }, limit: 100 }],
      ["charges by timestamp", "Charge", { limit: 100 }],
      ["charges by timestamp desc, before a cursor", "Charge", { orderDirection: "desc", limit: 100, before: Buffer.from(JSON.stringify(["1700010000", "c-80000"])).toString("base64url") }],
      ["charges of one escrow", "Charge", { where: { escrowId: "77" }, limit: 100 }],
      ["a charge by transaction hash", "Charge", { where: { txHash: "0xabc" }, limit: 10 }],
    ];
    for (const [what, type, args] of lists) {
      const q = listQuery(SCALE, entity(type), args, undefined);
      assertIndexOnly(what, await explain(q.sql, q.params), entity(type).table);
    }

    // The relation loaders' own SQL, captured from Loaders over a recording database, for 100 parents of 100 rows.
    const captured: { sql: string; params: unknown[] }[] = [];
    const recorder = { query: async (sql: string, params: unknown[] = []) => (captured.push({ sql, params }), []) } as unknown as Database;
    const loaders = new Loaders(recorder, SCALE);
    const keys = Array.from({ length: 100 }, (_, i) => String(i * 37 + 1));
    await Promise.all(keys.map((k) => loaders.many("Charge", "escrowId", k, 100)));
    await Promise.all(keys.map((k) => loaders.many("Escrow", "listingId", String((Number(k) % 100) + 1), 100)));
    await Promise.all(keys.map((k) => loaders.many("Escrow", "renter", `0x${(Number(k) % 20).toString(16).padStart(40, "0")}`, 100)));
    assert.equal(captured.length, 3, "one statement per relation");
    const names = ["escrow -> charges", "listing -> escrows", "account -> escrows"];
    for (const [i, { sql, params }] of captured.entries()) {
      const plan = await explain(sql, params);
      assertIndexOnly(names[i], plan, i === 0 ? "charge" : "escrow");
      assert.ok(plan.types.includes("Limit"), `${names[i]}: stops after limit rows per parent (${plan.types.join(" > ")})`);
    }
    // And the loader answers what the per-parent root list answers, on the big tables too.
    const real = new Loaders({ query: async (sql: string, params: unknown[] = []) => (await db.query(sql, params)).rows } as unknown as Database, SCALE);
    const [rows77] = await Promise.all([real.many("Charge", "escrowId", "77", 3), real.many("Charge", "escrowId", "78", 3)]);
    const direct = listQuery(SCALE, entity("Charge"), { where: { escrowId: "77" }, limit: 3 }, undefined);
    assert.deepEqual(rows77.map((r) => r.id), (await db.query(direct.sql, direct.params)).rows.slice(0, 3).map((r) => r.id));
    assert.equal(rows77.length, 3);
    await db.query(`DROP SCHEMA ${SCALE} CASCADE`);
  });
});
