/**
 * The real indexer (Ponder, indexer/) against a Hardhat node and an embedded Postgres: a scripted scenario is
 * indexed, then the tables are checked against the chain itself (balances, votes, listings, escrows).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import pg from "pg";
import type { Address } from "viem";
import { account, deployment, Processes, ROOT, send, startChain, waitFor, walletFor, type Chain } from "./harness";
import { openEscrow } from "./usage";

const CHAIN_PORT = 8645;
const PG_PORT = 54330;
const PONDER_PORT = 42170;
const VIEWS = "prsm_e2e";
const processes = new Processes();
let chain: Chain;
let db: pg.Client;
let stopPostgres: () => Promise<void>;

const token = () => deployment("FTNSToken");
const market = () => deployment("ModelMarketplace");
const read = <T>(c: { address: Address; abi: readonly unknown[] }, functionName: string, args: unknown[] = []) =>
  chain.publicClient.readContract({ ...c, abi: c.abi as never, functionName, args }) as Promise<T>;

async function transfer(from: number, to: number, amount: bigint) {
  await send(chain, await walletFor(chain, from).writeContract({ ...token(), abi: token().abi as never, functionName: "transfer", args: [account(to).address, amount] }));
}
async function delegate(from: number, to: number) {
  await send(chain, await walletFor(chain, from).writeContract({ ...token(), abi: token().abi as never, functionName: "delegate", args: [account(to).address] }));
}

/** Waits until Ponder reports the chain's head block as indexed (its /status endpoint). */
async function indexedToHead() {
  const head = Number(await chain.publicClient.getBlockNumber({ cacheTime: 0 }));
  await waitFor(`the indexer to reach block ${head}`, async () => {
    const res = await fetch(`http://127.0.0.1:${PONDER_PORT}/status`);
    if (!res.ok) return undefined;
    const status = (await res.json()) as Record<string, { block?: { number: number } }>;
    return (status.protocol?.block?.number ?? -1) >= head ? true : undefined;
  }, 120_000, 200);
}

describe("indexer end to end", { timeout: 600_000 }, () => {
  before(async () => {
    chain = await startChain(processes, CHAIN_PORT);
    const { startEmbeddedPostgres } = await import(path.join(ROOT, "scripts", "lib", "postgres.mjs"));
    // Under the project (not the 0700 temp dir): as root, Postgres runs as the postgres user and must reach it.
    const dataDir = path.join(ROOT, ".data-e2e", `postgres-${process.pid}`);
    const database = await startEmbeddedPostgres({ dataDir, port: PG_PORT });
    stopPostgres = database.stop;
    processes.spawn(
      "indexer",
      path.join(ROOT, "node_modules", ".bin", "ponder"),
      ["--root", "indexer", "--log-format", "json", "start", "--schema", "e2e_indexer", "--views-schema", VIEWS, "--port", String(PONDER_PORT), "--hostname", "127.0.0.1"],
      { NETWORK: "e2e", E2E_RPC_URL: chain.rpcUrl, DATABASE_URL: database.url, PONDER_TELEMETRY_DISABLED: "true" },
      path.join(chain.logDir, "indexer.log"),
    );
    db = new pg.Client(database.url);
    await db.connect();
  });

  after(async () => {
    await db?.end();
    await processes.stopAll();
    await stopPostgres?.();
    fs.rmSync(path.join(ROOT, ".data-e2e", `postgres-${process.pid}`), { recursive: true, force: true });
  });

  test("the scripted scenario's tables equal the chain's own views", async () => {
    await transfer(1, 2, 10n ** 21n);
    await transfer(3, 4, 5n * 10n ** 20n);
    await delegate(1, 1);
    await delegate(2, 1);
    await delegate(5, 6);
    await transfer(2, 5, 10n ** 20n); // moves votes from delegate 1 to delegate 6
    const escrowA = await openEscrow(chain, 10n ** 20n);
    const escrowB = await openEscrow(chain, 3n * 10n ** 19n);
    await indexedToHead();

    const accounts = (await db.query(`SELECT address, balance::text, votes::text FROM ${VIEWS}.account`)).rows;
    assert.ok(accounts.length >= 20, `expected the funded accounts, got ${accounts.length}`);
    for (const row of accounts) {
      assert.equal(BigInt(row.balance), await read<bigint>(token(), "balanceOf", [row.address]), `balance of ${row.address}`);
      assert.equal(BigInt(row.votes), await read<bigint>(token(), "getVotes", [row.address]), `votes of ${row.address}`);
    }
    const delegate1 = accounts.find((r) => r.address.toLowerCase() === account(1).address.toLowerCase());
    assert.ok(delegate1 && BigInt(delegate1.votes) > 0n, "delegated votes were indexed");

    const listings = (await db.query(`SELECT id::text, provider, price_per_unit::text AS price, status, bond::text FROM ${VIEWS}.listing`)).rows;
    assert.equal(listings.length, 8);
    for (const row of listings) {
      const l = await read<{ provider: Address; pricePerUnit: bigint; status: number; bond: bigint }>(market(), "getListing", [BigInt(row.id)]);
      assert.equal(row.provider.toLowerCase(), l.provider.toLowerCase());
      assert.equal(BigInt(row.price), l.pricePerUnit);
      assert.equal(row.status, l.status);
      assert.equal(BigInt(row.bond), l.bond);
    }

    const escrows = (await db.query(`SELECT id::text, deposit::text, charged::text, sequence::text, status FROM ${VIEWS}.escrow ORDER BY id`)).rows;
    assert.deepEqual(escrows.map((e) => BigInt(e.id)), [escrowA, escrowB]);
    for (const row of escrows) {
      const e = await read<{ deposit: bigint; charged: bigint; sequence: bigint; status: number }>(market(), "getEscrow", [BigInt(row.id)]);
      assert.equal(BigInt(row.deposit) - BigInt(row.charged), e.deposit - e.charged, `remaining deposit of escrow ${row.id}`);
      assert.equal(BigInt(row.sequence), BigInt(e.sequence));
      assert.equal(row.status, e.status === 1 ? "open" : "closed");
    }

    const stats = (await db.query(`SELECT sum(escrows_opened)::int AS opened, sum(new_listings)::int AS listed FROM ${VIEWS}.daily_stat`)).rows[0];
    assert.deepEqual(stats, { opened: 2, listed: 8 });
    const members = (await db.query(`SELECT count(*)::int AS n FROM ${VIEWS}.committee_member WHERE status = 'active'`)).rows[0];
    assert.equal(members.n, 4);
    const events = (await db.query(`SELECT count(*)::int AS n FROM ${VIEWS}.protocol_event`)).rows[0];
    const onChain = await chain.publicClient.getLogs({
      address: [token().address, market().address, deployment("FederationCommittee").address, deployment("FTNSGovernor").address, deployment("ProtocolTimelock").address],
      fromBlock: 0n,
    });
    assert.equal(events.n, onChain.length, "protocol_event mirrors every event of every contract");
  });
});
