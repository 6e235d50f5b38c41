/**
 * The renter client's bounds against a dishonest orchestrator or provider (workers/renter/client.ts), with a fake
 * orchestrator on a local port: streams that end without a report (cut by the provider) reserve at most one budget
 * in later authorizations however often it happens, and only for an escrow the query offered; a stream the renter
 * leaves itself lets the next report include what was delivered, once; chain usage accepted settles a reservation.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { generatePrivateKey } from "viem/accounts";
import { AUTHORIZATION_HEADER } from "../../workers/shared/authorization";
import { fastAccount } from "../../workers/shared/fast-account";
import { RenterClient } from "../../workers/renter/client";

const domain = { name: "PRSM Federation", version: "1", chainId: 31337, verifyingContract: "0x5FbDB2315678afecb367f032d93F642f64180aa3" as const };
/** What the fake orchestrator saw: the max cumulative units of each authorization, per request. */
const seen: bigint[] = [];
let escrowHeader = "7";

describe("renter client reservations", () => {
  let server: http.Server;
  let url: string;
  before(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const header = String(req.headers[AUTHORIZATION_HEADER] ?? "");
        // Header format: one authorization per escrow, "escrowId:maxUnits:deadline:signature" (shared/authorization.ts).
        for (const part of header.split(",")) seen.push(BigInt(part.split(":")[1]!));
        res.writeHead(200, { "content-type": "text/event-stream", "x-prsm-escrow": escrowHeader, "x-prsm-listing": "1" });
        res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "partial " } }] })}\n\n`);
        res.end(); // cut: no report
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  const client = () => new RenterClient(fastAccount(generatePrivateKey()), domain, url, { budgetUnits: 100n, marketplaceDomain: domain });
  const ask = (c: RenterClient, escrowIds = [7n]) => c.stream({ messages: [{ role: "user", content: "hi" }], stream: true }, { escrowIds }, async () => true);

  test("streams cut by the provider reserve one budget at most, however many", async () => {
    seen.length = 0;
    const c = client();
    for (let i = 0; i < 5; i++) {
      const r = await ask(c);
      assert.equal(r.incomplete, "no-report");
    }
    assert.deepEqual(seen, [100n, 200n, 200n, 200n, 200n]);
    assert.equal(c.unconfirmedUsage(7n), 100n);
  });

  test("a reservation only for an escrow the query offered (a lying escrow header is ignored)", async () => {
    const c = client();
    escrowHeader = "9";
    await ask(c, [7n]);
    escrowHeader = "7";
    assert.equal(c.unconfirmedUsage(9n), 0n);
    assert.equal(c.unconfirmedUsage(7n), 0n);
  });

  test("chain usage is accepted out of the lifetime allowance; beyond it the escrow is refused", async () => {
    const used: bigint[] = [];
    const c = new RenterClient(fastAccount(generatePrivateKey()), domain, url, { budgetUnits: 100n, marketplaceDomain: domain, onUnexplained: (_, u) => used.push(u) });
    await ask(c);
    assert.equal(c.acceptChainUsage(7n, 60n), 60n);
    assert.equal(c.unexplainedRemaining(7n), 40n);
    assert.deepEqual(used, [60n], "persisted through the hook");
    assert.equal(c.acceptChainUsage(7n, 200n), undefined, "140 more units than acknowledged, 40 left of the allowance");
    assert.equal(c.lastUsage(7n), 60n);
  });

  test("a provider cutting its own streams gains at most the lifetime allowance", async () => {
    seen.length = 0;
    const c = client();
    await ask(c); // cut: one budget reserved, out of the allowance
    assert.equal(c.acceptChainUsage(7n, 100n), 100n, "the committee settled the cut stream's report: the allowance is spent");
    await ask(c); // cut again
    await ask(c);
    // 100 (the first), then acknowledged 100 + this query's budget only: no more reservation once the allowance is gone.
    assert.deepEqual(seen, [100n, 200n, 200n]);
    assert.equal(c.acceptChainUsage(7n, 200n), undefined, "nothing more is accepted");
  });

  test("streams the renter itself leaves are covered each, in full", async () => {
    seen.length = 0;
    const c = client();
    const leave = () => c.stream({ messages: [{ role: "user", content: "hi" }], stream: true }, { escrowIds: [7n] }, async () => false);
    assert.equal((await leave()).incomplete, "client-left");
    assert.equal((await leave()).incomplete, "client-left");
    await ask(c);
    assert.deepEqual(seen, [100n, 200n, 300n]);
    assert.equal(c.acceptChainUsage(7n, 200n), 200n, "the two left streams explain 200 units");
    assert.equal(c.unexplainedRemaining(7n), 100n, "the allowance is untouched");
  });
});
