/**
 * ReportForwarder against real local HTTP servers standing in for consensus nodes: a fresh report reaches exactly
 * its escrow's f+1 home nodes, a node that is down or busy (429) or failing (5xx) is passed over for the next one
 * round the list, a refusal (4xx) is final, and a resend reaches every node.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { homeCopies, homeOrder, ReportForwarder } from "../../workers/shared/forwarder";
import pino from "pino";
import type { UsageReport } from "../../workers/shared/usage-report";

type Mode = "ok" | "busy" | "fail" | "refuse";

const log = pino({ level: "silent" });
const word = (n: number) => `0x${n.toString(16).padStart(64, "0")}` as const;
const report = (escrowId: bigint): UsageReport => ({
  escrowId,
  cumulativeUnits: 10n,
  sequence: 1n,
  resultDigest: word(1),
  providerSignature: `0x${"11".repeat(65)}`,
  responseDigest: word(2),
  authorization: { escrowId, maxCumulativeUnits: 10n, requestDigest: word(3), deadline: 1n, signature: `0x${"22".repeat(65)}` },
});

describe("ReportForwarder", () => {
  const servers: http.Server[] = [];
  const modes: Mode[] = [];
  const hits: number[] = [];
  const urls: string[] = [];

  before(async () => {
    for (let i = 0; i < 4; i++) {
      modes.push("ok");
      hits.push(0);
      const server = http.createServer((req, res) => {
        req.resume();
        req.on("end", () => {
          hits[i]++;
          const status = { ok: 200, busy: 429, fail: 503, refuse: 400 }[modes[i]];
          res.writeHead(status, { "content-type": "application/json" });
          res.end(JSON.stringify(status === 200 ? { status: "pending" } : { error: { code: modes[i] } }));
        });
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      servers.push(server);
      urls.push(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    }
  });
  after(() => servers.forEach((s) => s.close()));

  const reset = (...m: Mode[]) => {
    for (let i = 0; i < 4; i++) {
      modes[i] = m[i] ?? "ok";
      hits[i] = 0;
    }
  };

  test("f+1 copies; the home position is escrowId mod n", () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 10, 31].map(homeCopies), [1, 1, 1, 2, 2, 2, 3, 4, 11]);
    assert.deepEqual(homeOrder(["a", "b", "c", "d"], 6n), ["c", "d", "a", "b"]);
    assert.deepEqual(homeOrder([], 6n), []);
  });

  test("a fresh report reaches exactly its two home nodes", async () => {
    reset();
    const outcome = await new ReportForwarder(urls, log).send(report(5n));
    assert.equal(outcome.accepted, 2);
    assert.deepEqual(hits, [0, 1, 1, 0]);
  });

  test("a home node that is down, busy or failing is passed over for the next one", async () => {
    reset("ok", "busy", "fail", "ok");
    const outcome = await new ReportForwarder(urls, log, { attempts: 1 }).send(report(5n));
    assert.equal(outcome.accepted, 2);
    assert.deepEqual(hits, [1, 1, 1, 1]);
    const down = [...urls];
    down[1] = "http://127.0.0.1:1"; // nothing listens there
    reset();
    assert.equal((await new ReportForwarder(down, log, { attempts: 1 }).send(report(5n))).accepted, 2);
    assert.deepEqual(hits, [0, 0, 1, 1]);
  });

  test("a refusal is final: it is not sent on to another node", async () => {
    reset("ok", "refuse", "ok", "ok");
    const outcome = await new ReportForwarder(urls, log, { attempts: 1 }).send(report(5n));
    assert.equal(outcome.accepted, 1);
    assert.deepEqual(outcome.refused.map((r) => r.code), ["refuse"]);
    assert.deepEqual(hits, [0, 1, 1, 0]);
  });

  test("a resend reaches every node; nothing answering is retried, a bounded number of times", async () => {
    reset();
    assert.equal((await new ReportForwarder(urls, log).send(report(5n), true)).accepted, 4);
    assert.deepEqual(hits, [1, 1, 1, 1]);
    reset("busy", "busy", "busy", "busy");
    const outcome = await new ReportForwarder(urls, log, { attempts: 2 }).send(report(5n));
    assert.equal(outcome.accepted, 0);
    assert.deepEqual(hits, [2, 2, 2, 2]);
  });
});
