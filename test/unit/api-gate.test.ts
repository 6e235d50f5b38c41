/**
 * The fair database gate (api/db.ts) and the feed's bounded subscriber queues (api/events.ts), without a database.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { classifyDatabaseError, FairGate } from "../../api/db";
import { FeedPubSub } from "../../api/events";

test("a freed slot goes to the next client in turn, not to the one that queued most", async () => {
  const gate = new FairGate(2, 2);
  const order: string[] = [];
  const releases: (() => void)[] = [];
  const task = (name: string) => () => new Promise<void>((resolve) => (order.push(name), releases.push(resolve)));
  const heavy = Array.from({ length: 10 }, (_, i) => gate.run("heavy", task(`heavy${i}`)));
  const light = gate.run("light", task("light"));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, ["heavy0", "heavy1"], "heavy took its share");
  releases.shift()!();
  await new Promise((r) => setImmediate(r));
  assert.equal(order[2], "light", `the light client is next: ${order}`);
  while (releases.length) {
    releases.shift()!();
    await new Promise((r) => setImmediate(r));
  }
  await Promise.all([...heavy, light]);
  assert.equal(order.length, 11);
  assert.equal(gate.inFlight, 0);
  assert.equal(gate.waiting, 0);
});

test("one client never holds more than its share, even with the gate otherwise idle", async () => {
  const gate = new FairGate(8, 3);
  let running = 0;
  let peak = 0;
  await Promise.all(Array.from({ length: 20 }, () => gate.run("a", async () => {
    peak = Math.max(peak, ++running);
    await new Promise((r) => setTimeout(r, 2));
    running--;
  })));
  assert.equal(peak, 3);
});

test("database errors are classified: statement timeout, unreachable, or neither", () => {
  assert.equal(classifyDatabaseError(Object.assign(new Error("canceling statement due to statement timeout"), { code: "57014" })), "QUERY_TIMEOUT");
  assert.equal(classifyDatabaseError(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" })), "DATABASE_UNAVAILABLE");
  assert.equal(classifyDatabaseError(new AggregateError([Object.assign(new Error("x"), { code: "ECONNREFUSED" })])), "DATABASE_UNAVAILABLE");
  assert.equal(classifyDatabaseError(new Error("timeout exceeded when trying to connect")), "DATABASE_UNAVAILABLE");
  assert.equal(classifyDatabaseError(Object.assign(new Error("terminating connection due to administrator command"), { code: "57P01" })), "DATABASE_UNAVAILABLE");
  assert.equal(classifyDatabaseError(Object.assign(new Error('relation "x" does not exist'), { code: "42P01" })), undefined);
});

test("a subscriber that falls behind is ended with a code once its queue is full; others keep everything", async () => {
  const pubsub = new FeedPubSub<{ event: number }>(100);
  const slow = pubsub.subscribe("event");
  const fast = pubsub.subscribe("event");
  const got: number[] = [];
  const reading = (async () => {
    for await (const v of fast) {
      got.push(v);
      if (v === 999) return;
    }
  })();
  for (let i = 0; i < 1000; i++) {
    pubsub.publish("event", i);
    if (i % 50 === 49) await new Promise((r) => setImmediate(r)); // the feed yields between pages
  }
  await reading;
  assert.equal(got.length, 1000);
  assert.ok(pubsub.maxBacklog() <= 100);
  await assert.rejects(async () => {
    for await (const _ of slow) void _;
  }, (e: Error & { extensions?: { code?: string } }) => e.extensions?.code === "FEED_SUBSCRIBER_TOO_SLOW");
  assert.equal(pubsub.subscribers("event"), 0, "both detached");
});
