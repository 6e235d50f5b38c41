/**
 * Coalesced, batched settlement and nodes under abuse, with four real consensus-node processes on a Hardhat node
 * (their RPC goes through a proxy the tests can cut): many queries on one escrow settle in one transaction, 200
 * escrows in a few batches, a node restarted mid-batch neither forgets nor contradicts what it signed, a flood of
 * hostile reports and forged proposals leaves memory bounded while honest usage still settles, and a 30 s RPC
 * outage is survived without a restart.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { parseAbiItem, type Address, type Hex, type TypedDataDomain } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { account, deployment, Processes, startChain, startConsensusNode, waitFor, type Chain, type ConsensusNodeProcess } from "./harness";
import * as usage from "./usage";
import { TcpProxy } from "./tcp-proxy";
import { decodeApplied } from "../../workers/shared/batch";
import { proposalToJson, signable, signSignable } from "../../workers/consensus/attestation";
import { parseReport } from "../../workers/shared/usage-report";
import type { ChainContext } from "../../workers/shared/chain";
import { settleRequestToJson, signSettleRequest } from "../../workers/shared/settle-request";

const CHAIN_PORT = 8648;
const PROXY_PORT = 8649;
const NODE_ACCOUNTS = [14, 15, 16, 17];
const PORTS = [8721, 8722, 8723, 8724];
const DEPOSIT = 10n ** 19n;
const BATCH_EVENT = parseAbiItem("event UsageBatchCharged(uint256 indexed batchId, uint256 disputableUntil, bytes32[] applied)");

const processes = new Processes();
let chain: Chain;
let proxy: TcpProxy;
let domain: TypedDataDomain;
let nodes: ConsensusNodeProcess[] = [];
const post = usage.postJson;
const market = () => deployment("ModelMarketplace");

function startNode(i: number) {
  const peers = PORTS.filter((_, j) => j !== i).map((p) => `http://127.0.0.1:${p}`);
  return startConsensusNode(processes, { ...chain, rpcUrl: proxy.url }, {
    index: NODE_ACCOUNTS[i],
    port: PORTS[i],
    peers,
    stateDir: `${chain.logDir}/state-${i}`,
    // Nothing is due by value or age here: escrows settle when asked (POST /settle), so a test decides the batches.
    env: { SETTLE_MAX_AGE_MS: "600000", SETTLE_MIN_VALUE_WEI: (10n ** 30n).toString() },
  });
}

const report = (escrowId: bigint, units: bigint, sequence: bigint) => usage.providerReport(domain, escrowId, units, sequence);
const toAll = (body: object, ns = nodes) => Promise.all(ns.map((n) => post(n.url, "/reports", body)));
/** The renter asks every node (or `ns`) to settle the escrows now (a signed request). */
async function settleNow(ids: bigint[], ns = nodes) {
  const deadline = BigInt(Math.floor(Date.now() / 1000) + 600);
  const body = settleRequestToJson(await signSettleRequest(account(usage.RENTER), domain, ids, deadline));
  return Promise.all(ns.map((n) => post(n.url, "/settle", body)));
}
const requestSettle = (escrowId: bigint, ns = nodes) => settleNow([escrowId], ns);

async function settledTo(escrowId: bigint, units: bigint, timeoutMs = 60_000) {
  return waitFor(`escrow ${escrowId} to settle ${units} units`, async () => {
    const e = await usage.escrowState(chain, escrowId);
    return e.units >= units ? e : undefined;
  }, timeoutMs, 100);
}

/** A metric's value, summed over its labels. */
async function metric(node: ConsensusNodeProcess, name: string): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  return text
    .split("\n")
    .filter((l) => l.startsWith(name + " ") || l.startsWith(name + "{"))
    .reduce((sum, l) => sum + Number(l.split(" ").pop()), 0);
}

/** Runs `count` jobs with `concurrency` in flight. */
async function pool(count: number, concurrency: number, job: (i: number) => Promise<unknown>) {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) await job(next++);
  }));
}

describe("batched settlement and hardened nodes", { timeout: 900_000 }, () => {
  before(async () => {
    chain = await startChain(processes, CHAIN_PORT);
    proxy = new TcpProxy(PROXY_PORT, { host: "127.0.0.1", port: CHAIN_PORT });
    await proxy.up();
    domain = await usage.committeeDomain(chain);
    nodes = await Promise.all([0, 1, 2, 3].map(startNode));
  });

  after(async () => {
    await proxy?.down();
    await processes.stopAll();
  });

  test("many queries on one escrow settle in one transaction", async () => {
    const escrowId = await usage.openEscrow(chain, DEPOSIT);
    const from = await chain.publicClient.getBlockNumber();
    for (let seq = 1n; seq <= 20n; seq++) {
      const replies = await toAll({ report: await report(escrowId, seq * 10n, seq) });
      for (const r of replies) assert.equal(r.status, 200, JSON.stringify(r.json));
    }
    assert.equal((await usage.escrowState(chain, escrowId)).units, 0n, "settled before anyone asked");
    // Only the renter or provider may ask: a stranger's request (or none) marks nothing.
    const stranger = settleRequestToJson(await signSettleRequest(account(5), domain, [escrowId], BigInt(Math.floor(Date.now() / 1000) + 600)));
    assert.equal((await post(nodes[0].url, "/settle", stranger)).status, 404);
    assert.equal((await post(nodes[0].url, "/settle", { escrowIds: [escrowId.toString()] })).status, 400);
    const replies = await requestSettle(escrowId);
    for (const r of replies) assert.equal(r.status, 202, JSON.stringify(r.json));
    const e = await settledTo(escrowId, 200n);
    assert.equal(e.units, 200n);
    assert.equal(e.charged, 200n * e.pricePerUnit);
    await new Promise((r) => setTimeout(r, 2_000)); // let any follower try too
    const charges = await chain.publicClient.getContractEvents({ address: market().address, abi: market().abi as never, eventName: "UsageCharged", args: { escrowId } as never, fromBlock: from });
    assert.equal(charges.length, 1, "more than one settlement for one escrow's coalesced usage");
    assert.equal((await usage.escrowState(chain, escrowId)).charged, 200n * e.pricePerUnit, "charged twice");
  });

  test("200 escrows settle in a few batches, each exactly once", async () => {
    const ids: bigint[] = [];
    for (let i = 0; i < 200; i++) ids.push(await usage.openEscrow(chain, DEPOSIT));
    const from = await chain.publicClient.getBlockNumber();
    await pool(ids.length, 8, async (i) => {
      const replies = await toAll({ report: await report(ids[i], 7n, 1n) });
      for (const r of replies) assert.equal(r.status, 200, JSON.stringify(r.json));
    });
    await settleNow(ids);
    for (const id of ids) await settledTo(id, 7n);
    await new Promise((r) => setTimeout(r, 2_000));
    const batches = await chain.publicClient.getLogs({ address: market().address, event: BATCH_EVENT, fromBlock: from });
    const applied = batches.flatMap((b) => b.args.applied!.map(decodeApplied));
    console.log(`# 200 escrows settled in ${batches.length} batch transactions`);
    assert.ok(batches.length <= 6, `${batches.length} batch transactions for 200 escrows`);
    assert.equal(new Set(applied.map((a) => a.escrowId.toString())).size, applied.length, "an escrow applied twice");
    for (const id of ids) {
      const e = await usage.escrowState(chain, id);
      assert.equal(e.charged, 7n * e.pricePerUnit, `escrow ${id} charged ${e.charged}`);
    }
  });

  test("a node restarted mid-batch neither signs a conflicting report nor loses a signed one", async () => {
    const ids = [await usage.openEscrow(chain, DEPOSIT), await usage.openEscrow(chain, DEPOSIT), await usage.openEscrow(chain, DEPOSIT)];
    await processes.stop(nodes[2].child, "SIGKILL");
    await processes.stop(nodes[3].child, "SIGKILL");
    const alive = nodes.slice(0, 2);
    const positionsBefore = (await (await fetch(`${nodes[0].url}/health`)).json()).positions as number;
    for (const id of ids) await toAll({ report: await report(id, 11n, 1n) }, alive);
    // Without a quorum the two live nodes sign, propose and wait; then node 0 dies with its signatures given.
    await settleNow(ids, alive);
    await waitFor("node 0 to sign all three", async () => {
      const { positions } = await (await fetch(`${nodes[0].url}/health`)).json();
      return positions >= positionsBefore + 3 ? true : undefined;
    }, 20_000, 100);
    await processes.stop(nodes[0].child, "SIGKILL");
    nodes[0] = await startNode(0);
    for (const id of ids) {
      const conflicting = await post(nodes[0].url, "/reports", { report: await report(id, 12n, 1n) });
      assert.equal(conflicting.status, 409, JSON.stringify(conflicting.json));
      assert.equal(conflicting.json.error.code, "conflicting-report");
    }
    assert.ok((await (await fetch(`${nodes[0].url}/health`)).json()).pending >= 3, "the restarted node lost pending usage");
    nodes[2] = await startNode(2);
    nodes[3] = await startNode(3);
    await settleNow(ids);
    for (const id of ids) {
      const e = await settledTo(id, 11n);
      assert.equal(e.charged, 11n * e.pricePerUnit);
    }
  });

  test("20,000 hostile reports and 1,000 forged proposals leave memory bounded; honest usage still settles", async () => {
    const target = nodes[1];
    const escrowId = await usage.openEscrow(chain, DEPOSIT);
    const honest = await report(escrowId, 5n, 1n);
    const rssBefore = await metric(target, "prsm_node_process_resident_memory_bytes");
    const pendingBefore = (await (await fetch(`${target.url}/health`)).json()).pending as number;
    const statuses = new Map<number, number>();
    await pool(20_000, 64, async (i) => {
      // Half for escrows that do not exist (refused without any chain read), half for a real escrow with units
      // the provider never signed (refused after its signature check).
      const body = i % 2 === 0
        ? { report: { ...honest, escrowId: String(10_000_000 + i) } }
        : { report: { ...honest, cumulativeUnits: String(6 + i) } };
      const r = await post(target.url, "/reports", body);
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    });
    assert.equal(statuses.get(200) ?? 0, 0, `hostile reports accepted: ${JSON.stringify([...statuses])}`);

    // Forged proposals: signed by a key that is no member, or claiming a member as proposer without its key.
    const outsider = privateKeyToAccount(generatePrivateKey());
    const member = account(NODE_ACCOUNTS[0]).address;
    const epoch = BigInt((await (await fetch(`${target.url}/health`)).json()).epoch);
    const s = signable([parseReport(honest)]);
    const forgedSig = await signSignable({ account: outsider, domain, marketplace: market() } as unknown as ChainContext, s, epoch);
    const forgedStatuses = new Map<number, number>();
    await pool(1_000, 32, async (i) => {
      const proposer: Address = i % 2 === 0 ? outsider.address : member;
      const body = proposalToJson({ kind: s.kind, epoch, proposer, signature: forgedSig as Hex, reports: s.reports });
      const r = await post(target.url, "/batches", body);
      forgedStatuses.set(r.status, (forgedStatuses.get(r.status) ?? 0) + 1);
    });
    assert.equal(forgedStatuses.get(200) ?? 0, 0, `forged proposals signed: ${JSON.stringify([...forgedStatuses])}`);
    assert.equal(forgedStatuses.get(401), 1_000);

    const rssAfter = await metric(target, "prsm_node_process_resident_memory_bytes");
    const health = await (await fetch(`${target.url}/health`)).json();
    // Earlier tests' escrows may still leave the pending set meanwhile; none may enter it.
    assert.ok(health.pending <= pendingBefore, `hostile input created pending state (${pendingBefore} -> ${health.pending})`);
    console.log(`# node RSS before ${Math.round(rssBefore / 2 ** 20)} MiB, after ${Math.round(rssAfter / 2 ** 20)} MiB`);
    assert.ok(rssAfter - rssBefore < 96 * 2 ** 20, `RSS grew ${Math.round((rssAfter - rssBefore) / 2 ** 20)} MiB`);
    assert.ok((await metric(target, "prsm_node_reports_rejected_total")) >= 20_000);

    await toAll({ report: honest });
    await requestSettle(escrowId);
    await settledTo(escrowId, 5n);
  });

  test("a 30 s RPC outage is survived without a restart", async () => {
    const escrowId = await usage.openEscrow(chain, DEPOSIT);
    const held = await toAll({ report: await report(escrowId, 9n, 1n) });
    for (const r of held) assert.equal(r.status, 200, JSON.stringify(r.json));
    await proxy.down();
    await requestSettle(escrowId);
    const during = Date.now();
    while (Date.now() - during < 30_000) {
      for (const n of nodes) assert.equal((await fetch(`${n.url}/health`)).status, 200, "a node stopped answering during the outage");
      await new Promise((r) => setTimeout(r, 5_000));
    }
    assert.equal((await usage.escrowState(chain, escrowId)).units, 0n);
    await proxy.up();
    await settledTo(escrowId, 9n, 90_000);
    for (const n of nodes) assert.equal(n.child.exitCode, null, "a node exited");
  });
});
