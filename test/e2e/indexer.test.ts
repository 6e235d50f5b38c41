/**
 * The real indexer (Ponder, indexer/) against a Hardhat node and an embedded Postgres: a scripted scenario is
 * indexed, then the tables are checked against the chain itself (balances, votes, listings, escrows).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type pg from "pg";
import { createTestClient, http, type Address } from "viem";
import { hardhat } from "viem/chains";
import { account, deployment, readContract, waitFor, type Chain, type Processes } from "./harness";
import { startIndexedChain, type IndexedChain } from "./indexed";
import { PROPOSAL_STATES, proposalState } from "../../indexer/lib/proposal-state";
import { mineTransfers } from "./load";
import { runScenario } from "./scenario";

const CHAIN_PORT = 8645;
const PG_PORT = 15330;
const PONDER_PORT = 16170;
const VIEWS = "prsm_e2e";
const RESTART_PORT = 16171;
const TRANSFERS = 1_000;
const RESTART_VIEWS = "prsm_e2e_restart";
let env: IndexedChain;
let chain: Chain;
let db: pg.Client;
let processes: Processes;
const startIndexer = (schema: string, views: string, port: number) => env.startIndexer(schema, views, port);
const indexedBlock = (port: number) => env.indexedBlock(port);
const indexedToHead = (port = PONDER_PORT) => env.indexedToHead(port);

/** One md5 per table of a views schema, over every row in a canonical order: equal digests, equal tables. */
async function tableDigests(views: string): Promise<Record<string, string>> {
  // Ponder's own bookkeeping (_ponder_meta, _ponder_checkpoint) is published too; only the protocol's tables count.
  const tables = (await db.query(`SELECT table_name FROM information_schema.views WHERE table_schema = $1 AND table_name NOT LIKE '\\_ponder%' ORDER BY table_name`, [views])).rows;
  const digests: Record<string, string> = {};
  for (const { table_name } of tables) {
    const { rows } = await db.query(`SELECT count(*)::int AS n, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS digest FROM ${views}."${table_name}" t`);
    digests[table_name] = `${rows[0].n}:${rows[0].digest}`;
  }
  return digests;
}

const token = () => deployment("FTNSToken");
const market = () => deployment("ModelMarketplace");
const read = <T>(c: { address: Address; abi: readonly unknown[] }, functionName: string, args: unknown[] = []) =>
  readContract<T>(chain, c, functionName, args);

const CONTRACTS = () => ["FTNSToken", "ModelMarketplace", "FederationCommittee", "FTNSGovernor", "ProtocolTimelock"].map(deployment);

describe("indexer end to end", { timeout: 600_000 }, () => {
  before(async () => {
    env = await startIndexedChain({ chainPort: CHAIN_PORT, pgPort: PG_PORT });
    ({ chain, db, processes } = env);
    startIndexer("e2e_indexer", VIEWS, PONDER_PORT);
  });

  after(async () => {
    await env?.stop();
  });

  test("the scripted scenario's tables equal the chain's own views", async () => {
    const result = await runScenario(chain);
    await indexedToHead();

    const accounts = (await db.query(`SELECT address, balance::text, votes::text FROM ${VIEWS}.account`)).rows;
    assert.ok(accounts.length >= 20, `expected the funded accounts, got ${accounts.length}`);
    for (const row of accounts) {
      assert.equal(BigInt(row.balance), await read<bigint>(token(), "balanceOf", [row.address]), `balance of ${row.address}`);
      assert.equal(BigInt(row.votes), await read<bigint>(token(), "getVotes", [row.address]), `votes of ${row.address}`);
    }
    const delegate1 = accounts.find((r) => r.address.toLowerCase() === account(1).address.toLowerCase());
    assert.ok(delegate1 && BigInt(delegate1.votes) > 0n, "delegated votes were indexed");

    const listings = (await db.query(`SELECT id::text, provider, price_per_unit::text AS price, status, bond::text, rating_count FROM ${VIEWS}.listing`)).rows;
    assert.equal(listings.length, Number(await read<bigint>(market(), "listingCount")));
    for (const row of listings) {
      const l = await read<{ provider: Address; pricePerUnit: bigint; status: number; bond: bigint; ratingCount: number }>(market(), "getListing", [BigInt(row.id)]);
      assert.equal(row.provider.toLowerCase(), l.provider.toLowerCase());
      assert.equal(BigInt(row.price), l.pricePerUnit, `price of listing ${row.id}`);
      assert.equal(row.status, l.status);
      assert.equal(BigInt(row.bond), l.bond);
    }
    const priceChanges = (await db.query(`SELECT count(*)::int AS n FROM ${VIEWS}.listing_price`)).rows[0];
    assert.equal(priceChanges.n, 1);

    const escrows = (await db.query(`SELECT id::text, deposit::text, charged::text, refunded_by_disputes::text AS refunded, units::text, status FROM ${VIEWS}.escrow ORDER BY id`)).rows;
    assert.deepEqual(escrows.map((e) => BigInt(e.id)), result.escrows);
    for (const row of escrows) {
      const e = await read<{ deposit: bigint; charged: bigint; units: bigint; status: number }>(market(), "getEscrow", [BigInt(row.id)]);
      assert.equal(BigInt(row.deposit) - BigInt(row.charged), e.deposit - e.charged, `remaining deposit of escrow ${row.id}`);
      assert.equal(BigInt(row.units), BigInt(e.units), `units accounted of escrow ${row.id}`);
      assert.equal(row.status, e.status === 1 ? "open" : "closed", `status of escrow ${row.id}`);
    }

    // Attested charges: the indexed status follows the contract's (Pending, Disputed, Released, Refunded).
    const chargeStatus = ["none", "pending", "disputed", "settled", "refunded"];
    const charges = (await db.query(`SELECT charge_id::text, amount::text, status, attested FROM ${VIEWS}.charge`)).rows;
    assert.equal(charges.length, 5, "three receipt charges and two attested ones");
    for (const row of charges.filter((c) => c.attested)) {
      const c = await read<{ amount: bigint; status: number }>(market(), "getCharge", [BigInt(row.charge_id)]);
      assert.equal(row.status, chargeStatus[c.status], `status of charge ${row.charge_id}`);
      assert.equal(BigInt(row.amount), c.amount);
    }
    const disputes = (await db.query(`SELECT charge_id::text, resolved, paid_to_provider FROM ${VIEWS}.dispute`)).rows;
    assert.deepEqual(disputes, [{ charge_id: result.disputedCharge.toString(), resolved: true, paid_to_provider: true }]);
    const ratings = (await db.query(`SELECT escrow_id::text, score FROM ${VIEWS}.rating`)).rows;
    assert.deepEqual(ratings, [{ escrow_id: result.escrows[2].toString(), score: 4 }]);
    for (const row of (await db.query(`SELECT account FROM ${VIEWS}.withdrawal`)).rows) {
      assert.equal(await read<bigint>(market(), "payoutOf", [row.account]), 0n, `${row.account} withdrew everything`);
    }

    const members = (await db.query(`SELECT address FROM ${VIEWS}.committee_member WHERE status = 'active'`)).rows.map((r) => r.address.toLowerCase());
    const onChainMembers = (await read<Address[]>(deployment("FederationCommittee"), "currentMembers")).map((a) => a.toLowerCase());
    assert.deepEqual(members.sort(), [...onChainMembers].sort());
    assert.ok(members.includes(account(9).address.toLowerCase()), "the member admitted by governance is active");

    // Proposals: the state derived from the indexed row and the indexed head's time equals the governor's state().
    const head = await chain.publicClient.getBlock({ blockTag: "latest" });
    const proposals = (await db.query(`SELECT * FROM ${VIEWS}.proposal`)).rows;
    assert.equal(proposals.length, result.proposals.length);
    const states = new Set<string>();
    for (const row of proposals) {
      const p = {
        lifecycle: row.lifecycle, voteStart: BigInt(row.vote_start), voteEnd: BigInt(row.vote_end), forWeight: BigInt(row.for_weight),
        againstWeight: BigInt(row.against_weight), abstainWeight: BigInt(row.abstain_weight), quorum: BigInt(row.quorum),
      };
      const state = proposalState(p, head.timestamp);
      states.add(state);
      assert.equal(state, PROPOSAL_STATES[await read<number>(deployment("FTNSGovernor"), "state", [BigInt(row.id)])], `state of proposal ${row.id}`);
      const [against, forVotes, abstain] = await read<[bigint, bigint, bigint]>(deployment("FTNSGovernor"), "proposalVotes", [BigInt(row.id)]);
      assert.deepEqual([p.againstWeight, p.forWeight, p.abstainWeight], [against, forVotes, abstain], `tally of proposal ${row.id}`);
    }
    assert.deepEqual([...states].sort(), ["Canceled", "Defeated", "Executed", "Pending"]);

    const stats = (await db.query(`SELECT sum(escrows_opened)::int AS opened, sum(escrows_closed)::int AS closed, sum(new_listings)::int AS listed FROM ${VIEWS}.daily_stat`)).rows[0];
    assert.deepEqual(stats, { opened: 3, closed: 1, listed: Number(await read<bigint>(market(), "listingCount")) });
    const events = (await db.query(`SELECT count(*)::int AS n FROM ${VIEWS}.protocol_event`)).rows[0];
    const onChain = await chain.publicClient.getLogs({ address: CONTRACTS().map((c) => c.address), fromBlock: 0n });
    assert.equal(events.n, onChain.length, "protocol_event mirrors every event of every contract");
  });

  test("killed (SIGKILL) in the middle of its backfill and started again, a second indexer ends with identical tables", async () => {
    const started = Date.now();
    await mineTransfers(chain, TRANSFERS); // ~3 events each, more events: a backfill long enough to interrupt
    console.log(`# mined ${TRANSFERS} transfers in ${Date.now() - started} ms`);
    await indexedToHead();
    console.log(`# indexed to head ${Date.now() - started} ms after the first transfer`);
    const reference = await tableDigests(VIEWS);

    let child = startIndexer("e2e_restart", RESTART_VIEWS, RESTART_PORT);
    // Kill it once it has indexed some events but before it is done: its metrics count what it has processed.
    const head = Number(await chain.publicClient.getBlockNumber({ cacheTime: 0 }));
    // Killed once part of the backfill is committed (rows in its tables) and before it reaches the head.
    const progress = await waitFor("the second indexer to be part-way through its backfill", async () => {
      const block = await indexedBlock(RESTART_PORT);
      if (block >= head) throw new Error("the backfill finished before it could be interrupted");
      const { rows } = await db.query(`SELECT count(*)::int AS n FROM e2e_restart.transfer`).catch(() => ({ rows: [{ n: 0 }] }));
      return rows[0].n > 0 ? `${rows[0].n} transfer rows committed, block ${block} of ${head}` : undefined;
    }, 120_000, 10);
    await processes.stop(child, "SIGKILL");
    console.log(`# killed with ${progress}`);

    // Started again on the same schema, it recovers from its last checkpoint (after Ponder's 25 s lock expiry).
    child = startIndexer("e2e_restart", RESTART_VIEWS, RESTART_PORT);
    await indexedToHead(RESTART_PORT);
    assert.deepEqual(await tableDigests(RESTART_VIEWS), reference);
    await processes.stop(child, "SIGTERM");
  });

  test("after a reorg (snapshot, events, revert, different events) the tables match the canonical chain", async () => {
    const tester = createTestClient({ chain: hardhat, mode: "hardhat", transport: http(chain.rpcUrl) });
    const snapshot = await tester.snapshot();
    await mineTransfers(chain, 60, { perBlock: 20, amount: 7_777n }); // the branch that will be abandoned
    await indexedToHead();
    const abandoned = (await db.query(`SELECT count(*)::int AS n FROM ${VIEWS}.transfer WHERE value = 7777`)).rows[0].n;
    assert.equal(abandoned, 60, "the abandoned branch was indexed before the reorg");

    await tester.revert({ id: snapshot });
    await mineTransfers(chain, 90, { perBlock: 15, amount: 3_333n }); // the canonical branch: longer, different events
    await indexedToHead();
    await waitFor("the reorg to be applied", async () => {
      const { rows } = await db.query(`SELECT count(*) FILTER (WHERE value = 7777)::int AS old, count(*) FILTER (WHERE value = 3333)::int AS new FROM ${VIEWS}.transfer`);
      return rows[0].old === 0 && rows[0].new === 90 ? true : undefined;
    }, 60_000, 200);

    const accounts = (await db.query(`SELECT address, balance::text, votes::text FROM ${VIEWS}.account`)).rows;
    for (const row of accounts) {
      assert.equal(BigInt(row.balance), await read<bigint>(token(), "balanceOf", [row.address]), `balance of ${row.address}`);
      assert.equal(BigInt(row.votes), await read<bigint>(token(), "getVotes", [row.address]), `votes of ${row.address}`);
    }
    const logs = await chain.publicClient.getLogs({ address: CONTRACTS().map((c) => c.address), fromBlock: 0n });
    const indexed = (await db.query(`SELECT id FROM ${VIEWS}.protocol_event`)).rows.length;
    assert.equal(indexed, logs.length, "protocol_event holds exactly the canonical chain's events");
  });
});
