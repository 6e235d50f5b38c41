/**
 * The SSE parser behind every streamed hop (workers/shared/sse.ts): the events and their exact bytes whatever the
 * pieces the stream arrives in, CRLF upstreams read as LF when asked, comments as empty events, an endless event
 * refused, and linear cost for a peer that trickles one long event (it was quadratic: ~70 s for 1 MB in 10-byte
 * pieces, now milliseconds; the bound below is loose on purpose).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { SseParser } from "../../workers/shared/sse";

const STREAM = Array.from({ length: 200 }, (_, i) => (i % 7 === 0 ? `event: e${i}\n` : "") + `data: ${"y".repeat(i % 13)}${i}\n\n`).join("");

function feed(parser: SseParser, text: string, maxPiece: number) {
  const events = [];
  for (let i = 0; i < text.length; ) {
    const n = 1 + Math.floor(Math.random() * maxPiece);
    events.push(...parser.push(text.slice(i, i + n)));
    i += n;
  }
  return events;
}

describe("SseParser", () => {
  test("any split gives the same events and, joined, exactly the bytes sent", () => {
    for (let trial = 0; trial < 200; trial++) {
      const events = feed(new SseParser(), STREAM, 9);
      assert.equal(events.length, 200);
      assert.equal(events.map((e) => e.raw).join(""), STREAM);
      assert.equal(events[7]!.event, "e7");
      assert.equal(events[8]!.data, "yyyyyyyy8");
    }
  });

  test("CRLF and comments from an upstream", () => {
    const crlf = Array.from({ length: 50 }, (_, i) => `data: ${i}\r\n\r\n`).join("") + ": keep-alive\r\n\r\n";
    for (let trial = 0; trial < 100; trial++) {
      const events = feed(new SseParser(1 << 20, true), crlf, 5);
      assert.deepEqual(events.map((e) => e.data), [...Array.from({ length: 50 }, (_, i) => String(i)), ""]);
    }
    assert.equal(new SseParser().push("data: a\r\n\r\n").length, 0, "without normalising, CRLF is not an event end");
  });

  test("an endless event is refused; a long one trickled costs linear time", () => {
    const p = new SseParser(1000);
    assert.throws(() => p.push("data: " + "x".repeat(2000)), /more than 1000 bytes/);
    const big = "data: " + "x".repeat(1_000_000) + "\n\n";
    const parser = new SseParser(2 << 20);
    const t0 = performance.now();
    let events = 0;
    for (let i = 0; i < big.length; i += 10) events += parser.push(big.slice(i, i + 10)).length;
    const ms = performance.now() - t0;
    assert.equal(events, 1);
    assert.ok(ms < 5_000, `${ms.toFixed(0)} ms for 1 MB in 10-byte pieces`);
  });
});
