/**
 * Four real consensus-node processes against a Hardhat node: usage settles on chain with all nodes, with one
 * killed, not with two down (and nothing is lost: it settles once one returns), never at a liar's inflated amount
 * (whose equivocation gets the liar slashed), and bad input is answered with clear 4xx errors.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import type { Address, TypedDataDomain } from "viem";
import {
  account,
  deployment,
  Processes,
  startChain,
  startConsensusNode,
  waitFor,
  type Chain,
  type ConsensusNodeProcess,
} from "./harness";
import * as usage from "./usage";
import { RENTER } from "./usage";

const CHAIN_PORT = 8645;
const NODE_ACCOUNTS = [14, 15, 16, 17];
const PORTS = [8711, 8712, 8713, 8714];
const processes = new Processes();
let chain: Chain;
let nodes: ConsensusNodeProcess[] = [];
let domain: TypedDataDomain;
const committee = () => deployment("FederationCommittee");
const escrowState = (escrowId: bigint) => usage.escrowState(chain, escrowId);
const openEscrow = (deposit?: bigint) => usage.openEscrow(chain, deposit);
const providerReport = (escrowId: bigint, units: bigint, sequence: bigint, signer?: number, options?: { authorizedUnits?: bigint; renter?: number }) =>
  usage.providerReport(domain, escrowId, units, sequence, signer, options);
const post = usage.postJson;

/** Waits until the chain has accounted some usage of the escrow (every report here is the escrow's first). */
async function settled(escrowId: bigint, sequence: bigint, timeoutMs = 30_000) {
  try {
    return await waitFor(`escrow ${escrowId} to settle sequence ${sequence}`, async () => {
      const e = await escrowState(escrowId);
      return e.units > 0n ? e : undefined;
    }, timeoutMs, 50);
  } catch (error) {
    // The node logs live in a temporary directory CI does not keep: put what they said about the slot in the failure.
    (error as Error).message += `\n${nodeLogExcerpt(`${escrowId}:${sequence}`)}`;
    throw error;
  }
}

/** The last log lines of every node that mention `slot` or are warnings and errors. */
function nodeLogExcerpt(slot: string, lines = 25): string {
  return fs
    .readdirSync(chain.logDir)
    .filter((f) => /^node-\d+\.log$/.test(f))
    .map((f) => {
      const text = fs.readFileSync(path.join(chain.logDir, f), "utf8").split("\n");
      const relevant = text.filter((l) => l.includes(`"${slot}"`) || /"level":(40|50|60)/.test(l) || !l.startsWith("{"));
      return `--- ${f}\n${relevant.slice(-lines).join("\n")}`;
    })
    .join("\n");
}

function startNode(i: number, extra: { script?: string } = {}) {
  const stateDir = path.join(chain.logDir, `state-${i}`);
  const peers = PORTS.filter((_, j) => j !== i).map((p) => `http://127.0.0.1:${p}`);
  return startConsensusNode(processes, chain, { index: NODE_ACCOUNTS[i], port: PORTS[i], peers, stateDir, ...extra });
}

describe("consensus nodes end to end", { timeout: 600_000 }, () => {
  before(async () => {
    chain = await startChain(processes, CHAIN_PORT);
    domain = await usage.committeeDomain(chain);
    nodes = await Promise.all([0, 1, 2, 3].map((i) => startNode(i)));
  });

  after(async () => {
    await processes.stopAll();
  });

  test("a report sent to every node settles exactly once", async () => {
    const escrowId = await openEscrow();
    const report = await providerReport(escrowId, 1_000n, 1n);
    const replies = await Promise.all(nodes.map((n) => post(n.url, "/reports", { report })));
    for (const reply of replies) assert.equal(reply.status, 200, JSON.stringify(reply.json));
    const e = await settled(escrowId, 1n);
    assert.equal(e.charged, 1_000n * e.pricePerUnit);
    await new Promise((r) => setTimeout(r, 1_500)); // let every staggered submitter try
    assert.equal((await escrowState(escrowId)).charged, 1_000n * e.pricePerUnit, "duplicate submissions charged twice");
  });

  test("answers bad input with clear 4xx errors", async () => {
    const escrowId = await openEscrow(10n ** 18n);
    const url = nodes[0].url;
    assert.equal((await post(url, "/reports", "{not json")).status, 400);
    const missing = await post(url, "/reports", { report: { escrowId: "1" } });
    assert.equal(missing.status, 400);
    assert.match(missing.json.error.message, /report.cumulativeUnits/);
    const forged = await post(url, "/reports", { report: await providerReport(escrowId, 10n, 1n, RENTER) });
    assert.equal(forged.status, 422);
    assert.equal(forged.json.error.code, "bad-provider-signature");
    const tooMuch = await post(url, "/reports", { report: await providerReport(escrowId, 10n ** 9n, 1n) });
    assert.equal(tooMuch.json.error.code, "over-cap");
    // A provider reporting more than the renter signed for is refused, however validly the provider signed.
    const overReported = await post(url, "/reports", { report: await providerReport(escrowId, 11n, 1n, undefined, { authorizedUnits: 10n }) });
    assert.equal(overReported.status, 422);
    assert.equal(overReported.json.error.code, "over-authorized");
    const notTheRenter = await post(url, "/reports", { report: await providerReport(escrowId, 10n, 1n, undefined, { renter: 2 }) });
    assert.equal(notTheRenter.json.error.code, "bad-authorization");
    const report = await providerReport(escrowId, 10n, 1n);
    const swapped = await post(url, "/reports", { report: { ...report, responseDigest: `0x${"ab".repeat(32)}` } });
    assert.equal(swapped.json.error.code, "digest-mismatch");
    const noAuthorization = await post(url, "/reports", { report: { ...report, authorization: undefined } });
    assert.equal(noAuthorization.status, 400);
    assert.match(noAuthorization.json.error.message, /report.authorization/);
    const big = await post(url, "/reports", JSON.stringify({ pad: "x".repeat(70_000) }));
    assert.equal(big.status, 413);
    const unknown = await fetch(`${url}/nowhere`);
    assert.equal(unknown.status, 404);
  });

  test("still settles with one node killed", async () => {
    await processes.stop(nodes[3].child, "SIGKILL");
    const escrowId = await openEscrow();
    const reply = await post(nodes[0].url, "/reports", { report: await providerReport(escrowId, 2_000n, 1n) });
    assert.equal(reply.status, 200);
    await settled(escrowId, 1n);
  });

  test("with two nodes down nothing settles and nothing is lost: it settles once one returns", async () => {
    await processes.stop(nodes[2].child, "SIGKILL");
    const escrowId = await openEscrow();
    const report = await providerReport(escrowId, 3_000n, 1n);
    assert.equal((await post(nodes[0].url, "/reports", { report })).status, 200);
    await new Promise((r) => setTimeout(r, 3_000));
    assert.equal((await escrowState(escrowId)).units, 0n, "settled without a quorum");
    const health = (await (await fetch(`${nodes[0].url}/health`)).json()) as { pending: number };
    assert.ok(health.pending >= 1, "the pending report was dropped");

    nodes[2] = await startNode(2); // same state directory: its store survives
    await settled(escrowId, 1n);

    // The restarted node remembers what it signed: a different report for the same slot is refused.
    const conflicting = await post(nodes[2].url, "/reports", { report: await providerReport(escrowId, 3_001n, 1n) });
    assert.equal(conflicting.status, 409);
    assert.equal(conflicting.json.error.code, "conflicting-report");
    assert.ok(fs.existsSync(path.join(nodes[2].stateDir, "node.sqlite")));
  });

  test("a lying node never gets its inflated amount settled, and its equivocation is slashed", async () => {
    nodes[3] = await startNode(3, { script: path.join(__dirname, "liar-node.ts") });
    const liar = account(NODE_ACCOUNTS[3]).address;
    const escrowId = await openEscrow();
    const report = await providerReport(escrowId, 4_000n, 1n);
    assert.equal((await post(nodes[0].url, "/reports", { report })).status, 200);
    const e = await settled(escrowId, 1n);
    assert.equal(e.charged, 4_000n * e.pricePerUnit, "an amount other than the honest one settled");
    const member = await waitFor("the liar to be slashed", async () => {
      const m = (await chain.publicClient.readContract({ ...committee(), abi: committee().abi as never, functionName: "getMember", args: [liar] })) as { slashed: boolean; bond: bigint };
      return m.slashed ? m : undefined;
    }, 30_000, 100);
    assert.equal(member.bond, 0n);
    const members = (await chain.publicClient.readContract({ ...committee(), abi: committee().abi as never, functionName: "currentMembers" })) as Address[];
    assert.ok(!members.includes(liar));
  });
});
