/**
 * The process-wide gate for expensive queries (api/heavy.ts): slots are handed over in order, a full queue refuses at
 * once, and through the real yoga server a heavy query is refused 503 SERVER_BUSY before any SQL while a light one
 * goes on to the database (unreachable here: DATABASE_UNAVAILABLE).
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import pino from "pino";
import { loadApiConfig } from "../../api/config";
import { HeavyGate } from "../../api/heavy";
import { createApi, type Api } from "../../api/server";

describe("HeavyGate", () => {
  test("one slot, one waiter: the third is refused; a release hands the slot to the waiter", async () => {
    const gate = new HeavyGate({ rows: 10, concurrent: 1, waiting: 1 });
    const first = await gate.acquire();
    assert.ok(first);
    const got: { second?: (() => void) | null } = {};
    const second = gate.acquire().then((r) => (got.second = r));
    assert.equal(await gate.acquire(), null, "the queue is full");
    await new Promise((r) => setImmediate(r));
    assert.equal(got.second, undefined, "still waiting");
    first!();
    first!(); // a second release is ignored
    await second;
    assert.ok(got.second);
    assert.equal(gate.inFlight, 1);
    (got.second as () => void)();
    assert.equal(gate.inFlight, 0);
    assert.equal(gate.waitingCount, 0);
  });
});

describe("expensive queries through the server", () => {
  const apis: Api[] = [];
  after(async () => {
    for (const a of apis) await a.db.close().catch(() => undefined);
  });

  test("a heavy query is refused SERVER_BUSY without SQL when no slot can be had; a light one is not", async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise<void>((r) => server.close(() => r()));
    const api = createApi(
      loadApiConfig({ DATABASE_URL: `postgres://prsm@127.0.0.1:${port}/none`, API_CACHE: "0", API_HEAVY_ROWS: "1000", API_MAX_ROWS: "50000", API_HEAVY_CONCURRENCY: "0", API_HEAVY_WAITING: "0" }),
      pino({ level: "silent" }),
    );
    apis.push(api);
    const post = async (query: string) => {
      const res = await api.yoga.fetch("http://api/graphql", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query }) });
      return { status: res.status, body: (await res.json()) as { errors?: { extensions?: { code?: string } }[] } };
    };
    const heavy = await post(`{ listings(limit: 100) { items { escrows(limit: 50) { id } } } }`);
    assert.equal(heavy.status, 503, JSON.stringify(heavy.body));
    assert.equal(heavy.body.errors?.[0].extensions?.code, "SERVER_BUSY");
    assert.equal(api.db.statements, 0, "no SQL ran for the refused query");
    const light = await post(`{ listings(limit: 10) { items { id } } }`);
    assert.equal(light.body.errors?.[0].extensions?.code, "DATABASE_UNAVAILABLE");
  });
});
