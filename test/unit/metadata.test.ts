/**
 * The listing metadata decoder (indexer/lib/metadata.ts): the launch listings' own data: URIs, percent-encoded and
 * base64 payloads, and every way a provider's URI can be wrong (bad base64, bad UTF-8, bad or non-object JSON,
 * characters Postgres cannot store, huge or deeply nested documents, unknown schemes), plus ipfs:// through a local
 * HTTP "gateway" with its timeout and size cap. Failures are values with a code, never exceptions.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { DEMO_MODEL, LAUNCH_MODELS, listingMetadata } from "../../config/launch-models";
import { decodeDataUri, decodeMetadataUri, ipfsUrl, MAX_METADATA_BYTES, parseMetadata, resolveMetadata } from "../../indexer/lib/metadata";

const code = (error: string | null) => error?.split(":")[0];
const b64 = (text: string) => `data:application/json;base64,${Buffer.from(text).toString("base64")}`;

describe("listing metadata: data: URIs", () => {
  test("every launch listing's URI decodes to its name, vendor and description", () => {
    for (const model of [...LAUNCH_MODELS, DEMO_MODEL]) {
      const decoded = decodeMetadataUri(listingMetadata(model).uri);
      assert.equal(decoded.error, null, model.name);
      assert.deepEqual([decoded.name, decoded.vendor, decoded.description], [model.name, model.vendor, model.description]);
      assert.equal(decoded.metadata?.category, model.category);
      assert.equal(decoded.metadata?.unit, model.unit);
    }
  });

  test("percent-encoded and plain payloads, any media type, base64 with whitespace or without padding", () => {
    const doc = { name: "Ünïcode model ✓", vendor: "V" };
    const json = JSON.stringify(doc);
    assert.deepEqual(decodeMetadataUri(`data:application/json,${encodeURIComponent(json)}`).metadata, doc);
    assert.deepEqual(decodeMetadataUri(`data:,{"name":"plain"}`).name, "plain");
    assert.deepEqual(decodeMetadataUri(`data:text/plain;charset=utf-8;base64,${Buffer.from(json).toString("base64")}`).metadata, doc);
    const unpadded = Buffer.from('{"name":"ab"}').toString("base64").replace(/=+$/, "");
    assert.notEqual(unpadded.length % 4, 0, "the fixture really lacks padding");
    assert.equal(decodeMetadataUri(`data:application/json;base64,${unpadded}`).name, "ab");
    const spaced = Buffer.from(json).toString("base64").replace(/(.{8})/g, "$1 \n");
    assert.deepEqual(decodeMetadataUri(`data:application/json;base64,${spaced}`).metadata, doc);
    assert.equal(decodeMetadataUri(`  DATA:application/json;BASE64,${Buffer.from(json).toString("base64")}  `).name, doc.name);
    // a UTF-8 byte order mark is not part of the JSON
    assert.equal(decodeMetadataUri(`data:application/json;base64,${Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(json)]).toString("base64")}`).name, doc.name);
  });

  test("bad base64 is refused, not silently skipped (Buffer.from would drop the bad characters)", () => {
    for (const payload of ["eyJuYW1lIjoiYSJ9!!", "eyJuYW1l*IjoiYSJ9", "e", "eyJ=uYW1lIjoiYSJ9", "eyJuYW1lIjoiYSJ9===", "eyJuYW1lIjoiYSJ9-_"]) {
      const decoded = decodeMetadataUri(`data:application/json;base64,${payload}`);
      assert.equal(code(decoded.error), "invalid-base64", payload);
      assert.deepEqual([decoded.name, decoded.metadata], [null, null]);
    }
    assert.equal(code(decodeMetadataUri("data:application/json;base64").error), "invalid-data-uri", "no comma");
  });

  test("bad JSON, bad UTF-8 and JSON that is not an object get their codes", () => {
    assert.equal(code(decodeMetadataUri(b64('{"name": "unterminated')).error), "not-json");
    assert.equal(code(decodeMetadataUri(b64("")).error), "not-json");
    assert.equal(code(decodeMetadataUri("data:application/json;base64," + Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString("base64")).error), "invalid-utf8");
    for (const [json, what] of [["[1,2]", "an array"], ['"GPT"', "a string"], ["42", "a number"], ["null", "null"], ["true", "a boolean"]]) {
      const decoded = decodeMetadataUri(b64(json));
      assert.equal(code(decoded.error), "not-object", json);
      assert.match(decoded.error!, new RegExp(what));
      assert.equal(decoded.metadata, null);
    }
  });

  test("missing or mistyped fields are null without an error; strings are trimmed", () => {
    const decoded = decodeMetadataUri(b64(JSON.stringify({ name: 42, vendor: "  ", description: " about it ", extra: [1] })));
    assert.equal(decoded.error, null);
    assert.deepEqual([decoded.name, decoded.vendor, decoded.description], [null, null, "about it"]);
    assert.deepEqual(decoded.metadata, { name: 42, vendor: "  ", description: " about it ", extra: [1] });
    const empty = decodeMetadataUri(b64("{}"));
    assert.deepEqual(empty, { name: null, vendor: null, description: null, metadata: {}, error: null });
  });

  test("characters Postgres cannot store (NUL, lone surrogates) are removed or replaced, keys included", () => {
    const decoded = decodeMetadataUri(b64('{"name":"a\\u0000b","vendor":"x\\ud800y","k\\u0000ey":"\\udc00"}'));
    assert.equal(decoded.error, null);
    assert.equal(decoded.name, "ab");
    assert.equal(decoded.vendor, "x\ufffdy");
    assert.deepEqual(Object.keys(decoded.metadata!), ["name", "vendor", "key"]);
    assert.equal(decoded.metadata!.key, "\ufffd");
    // a well-formed pair stays as it is
    assert.equal(decodeMetadataUri(b64('{"name":"\\ud83d\\ude00"}')).name, "😀");
  });

  test("huge input is refused before it is decoded, and nesting is bounded", () => {
    const huge = "A".repeat(10 * 1024 * 1024);
    const started = performance.now();
    assert.equal(code(decodeMetadataUri(`data:application/json;base64,${huge}`).error), "too-large");
    assert.equal(code(decodeMetadataUri(`data:application/json,${huge}`).error), "too-large");
    assert.ok(performance.now() - started < 200, "refused by length, without decoding 10 MB");
    // just over the cap once decoded
    const over = JSON.stringify({ name: "x", pad: "y".repeat(MAX_METADATA_BYTES) });
    assert.equal(code(decodeMetadataUri(b64(over)).error), "too-large");
    const under = JSON.stringify({ name: "x", pad: "y".repeat(MAX_METADATA_BYTES - 100) });
    assert.equal(decodeMetadataUri(b64(under)).name, "x");
    assert.throws(() => decodeDataUri(`data:,${"z".repeat(200)}`, 100), /too-large/);
    const deep = `{"a":${"[".repeat(5_000)}${"]".repeat(5_000)}}`;
    assert.equal(code(decodeMetadataUri(b64(deep)).error), "too-deep");
    assert.equal(decodeMetadataUri(b64(`{"a":${"[".repeat(20)}${"]".repeat(20)}}`)).error, null);
  });

  test("unknown schemes, non-URIs and empty URIs; ipfs:// without a gateway", () => {
    for (const uri of ["https://example.com/model.json", "ar://abc", "file:///etc/passwd", "javascript:alert(1)"]) {
      assert.equal(code(decodeMetadataUri(uri).error), "unsupported-uri", uri);
    }
    assert.equal(code(decodeMetadataUri("just some text").error), "unsupported-uri");
    assert.equal(code(decodeMetadataUri("").error), "empty");
    assert.equal(code(decodeMetadataUri("   ").error), "empty");
    assert.equal(code(decodeMetadataUri("ipfs://bafyexample").error), "no-ipfs-gateway");
  });

  test("parseMetadata takes bytes directly", () => {
    assert.equal(parseMetadata(new TextEncoder().encode('{"name":"n"}')).name, "n");
    assert.equal(code(parseMetadata(new Uint8Array(MAX_METADATA_BYTES + 1)).error), "too-large");
  });
});

describe("listing metadata: ipfs:// through a gateway", () => {
  let server: http.Server;
  let gateway: string;
  const requests: string[] = [];

  before(async () => {
    server = http.createServer((req, res) => {
      requests.push(req.url ?? "");
      const path = req.url ?? "";
      if (path === "/ipfs/bafygood") return res.end(JSON.stringify({ name: "From IPFS", vendor: "Gateway Co" }));
      if (path === "/ipfs/bafydir/meta%20data.json") return res.end(JSON.stringify({ name: "In a directory" }));
      if (path === "/ipfs/bafyslow") return setTimeout(() => res.end("{}"), 2_000);
      if (path === "/ipfs/bafyhuge") {
        // No content-length: the cap must hold while streaming.
        res.writeHead(200, { "content-type": "application/json" });
        const chunk = Buffer.alloc(16 * 1024, 0x20);
        let sent = 0;
        const pump = () => {
          while (sent < 100 && res.write(chunk)) sent++;
          if (sent < 100) res.once("drain", pump);
          else res.end();
        };
        res.on("error", () => undefined);
        return pump();
      }
      if (path === "/ipfs/bafydeclared") {
        res.writeHead(200, { "content-length": String(MAX_METADATA_BYTES * 2) });
        return res.end(Buffer.alloc(MAX_METADATA_BYTES * 2, 0x20));
      }
      res.writeHead(404).end("not found");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    gateway = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test("a document is fetched from <gateway>/ipfs/<cid>[/path] and decoded", async () => {
    const good = await resolveMetadata("ipfs://bafygood", { ipfsGateway: gateway });
    assert.deepEqual([good.name, good.vendor, good.error], ["From IPFS", "Gateway Co", null]);
    assert.equal((await resolveMetadata("ipfs://ipfs/bafygood", { ipfsGateway: `${gateway}/` })).name, "From IPFS", "legacy ipfs://ipfs/ form");
    assert.equal((await resolveMetadata("ipfs://bafydir/meta%20data.json", { ipfsGateway: gateway })).name, "In a directory");
    // data: URIs need no gateway even when one is set
    assert.equal((await resolveMetadata(b64('{"name":"inline"}'), { ipfsGateway: gateway })).name, "inline");
  });

  test("missing content, a slow gateway, an unreachable one and oversized answers are recorded, not thrown", async () => {
    assert.match((await resolveMetadata("ipfs://bafymissing", { ipfsGateway: gateway })).error!, /^fetch-failed: .*404/);
    const started = Date.now();
    assert.match((await resolveMetadata("ipfs://bafyslow", { ipfsGateway: gateway, timeoutMs: 200 })).error!, /^fetch-failed: no .*200 ms/);
    assert.ok(Date.now() - started < 1_500, "the timeout cut the wait");
    assert.equal(code((await resolveMetadata("ipfs://bafyhuge", { ipfsGateway: gateway })).error), "too-large");
    assert.equal(code((await resolveMetadata("ipfs://bafydeclared", { ipfsGateway: gateway })).error), "too-large");
    assert.equal(code((await resolveMetadata("ipfs://bafygood", { ipfsGateway: "http://127.0.0.1:1" })).error), "fetch-failed");
    assert.equal(code((await resolveMetadata("ipfs://bafygood", { ipfsGateway: "not a url" })).error), "fetch-failed");
  });

  test("URIs cannot steer the request off the gateway's /ipfs/ path", async () => {
    assert.equal(ipfsUrl("https://gw.example/base/", "ipfs://bafyX/a b/c?x=1#f"), "https://gw.example/base/ipfs/bafyX/a%20b/c");
    assert.equal(code((await resolveMetadata("ipfs://../../admin", { ipfsGateway: gateway })).error), "unsupported-uri");
    assert.equal(code((await resolveMetadata("ipfs://bafy/../../admin", { ipfsGateway: gateway })).error), "unsupported-uri");
    assert.equal(code((await resolveMetadata("ipfs://", { ipfsGateway: gateway })).error), "unsupported-uri");
    assert.equal(code((await resolveMetadata("ipfs://bafy%2F..%2F..%2Fadmin", { ipfsGateway: gateway })).error), "unsupported-uri");
    assert.equal(code((await resolveMetadata("ipfs://bafy/%2E%2E/%2e%2E/admin", { ipfsGateway: gateway })).error), "unsupported-uri");
    // an encoded slash inside a segment stays inside it
    assert.equal(ipfsUrl("https://gw.example", "ipfs://bafyX/a%2Fb"), "https://gw.example/ipfs/bafyX/a%2Fb");
    assert.ok(requests.every((r) => r.startsWith("/ipfs/")), requests.join(", "));
  });
});
