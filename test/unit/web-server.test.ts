/**
 * The web server (web/server.ts) against a tiny fake upstream on 127.0.0.1 (GraphQL API, orchestrator and JSON-RPC
 * in one) and a temporary dist and deployments directory: static files with their caching and compression, the SPA
 * fallback, traversal refused, /config.json's shape, the proxy (JSON, x-prsm-* headers, X-Forwarded-For, an SSE
 * stream whose first event arrives before the upstream finishes, a client disconnect reaching the upstream), 413,
 * 502, /health, /metrics, startup errors naming the variable, and SIGTERM with a stream open.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { createWebServer, type WebServer } from "../../web/server/app";
import { loadWebConfig, buildAppConfig } from "../../web/server/config";
import { negotiateEncoding, safeRelativePath } from "../../web/server/static";
import { createLogger } from "../../workers/shared/logger";

const ROOT = path.resolve(__dirname, "..", "..");
const ADDRESSES = {
  FTNSToken: "0x1111111111111111111111111111111111111111",
  ModelMarketplace: "0x2222222222222222222222222222222222222222",
  FTNSGovernor: "0x3333333333333333333333333333333333333333",
  ProtocolTimelock: "0x4444444444444444444444444444444444444444",
  FederationCommittee: "0x5555555555555555555555555555555555555555",
};
const BIG_JS = `export const x = ${JSON.stringify("console.log('prsm');".repeat(400))};\n`;

let tmp: string;
let dist: string;
let deployments: string;
let upstream: http.Server;
let upstreamUrl: string;
let web: WebServer;
let base: string;
const seen: { method?: string; url?: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
/** Resolves the SSE stream the fake upstream holds open. */
let finishStream: () => void = () => undefined;
let streamClosedByClient: Promise<void> = Promise.resolve();

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    NETWORK: "localhost",
    WEB_PORT: "0",
    WEB_API_URL: `${upstreamUrl}/graphql`,
    WEB_ORCHESTRATOR_URL: upstreamUrl,
    WEB_RPC_URL: `${upstreamUrl}/rpc`,
    WEB_DIST: dist,
    WEB_DEPLOYMENTS_DIR: deployments,
    WEB_MAX_BODY_BYTES: String(64 * 1024),
    ...extra,
  };
}

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** A raw GET whose path is sent exactly as written (fetch would normalise `..`). */
function rawGet(port: number, target: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let data = "";
    socket.on("data", (d) => (data += d));
    socket.on("end", () => resolve({ status: Number(data.split(" ")[1]), body: data.split("\r\n\r\n").slice(1).join("\r\n\r\n") }));
    socket.on("error", reject);
  });
}

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "prsm-web-"));
  dist = path.join(tmp, "dist");
  fs.mkdirSync(path.join(dist, "assets"), { recursive: true });
  fs.writeFileSync(path.join(dist, "index.html"), `<!doctype html><html><head><script type="module" src="/assets/index-abc123.js"></script></head><body><div id="root"></div>${" ".repeat(600)}</body></html>`);
  fs.writeFileSync(path.join(dist, "assets", "index-abc123.js"), BIG_JS);
  fs.writeFileSync(path.join(dist, "assets", "logo-def456.png"), Buffer.from([0x89, 0x50, 0x4e, 0x47]));
  fs.writeFileSync(path.join(dist, "favicon.svg"), `<svg xmlns="http://www.w3.org/2000/svg"/>`);
  fs.writeFileSync(path.join(tmp, "secret.txt"), "outside the dist directory");
  fs.symlinkSync(path.join(tmp, "secret.txt"), path.join(dist, "link.txt"));
  deployments = path.join(tmp, "deployments");
  fs.mkdirSync(path.join(deployments, "localhost"), { recursive: true });
  for (const [name, address] of Object.entries(ADDRESSES)) fs.writeFileSync(path.join(deployments, "localhost", `${name}.json`), JSON.stringify({ address, abi: [] }));

  upstream = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, body });
      if (req.url === "/rpc") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ jsonrpc: "2.0", id: JSON.parse(body).id, result: "0x7a69" }));
      } else if (req.url!.includes("stream")) {
        res.writeHead(200, { "content-type": "text/event-stream", "x-prsm-listing": "9" });
        res.write(`data: {"n":1}\n\n`);
        streamClosedByClient = new Promise((resolve) => res.on("close", () => resolve()));
        finishStream = () => {
          res.write(`data: [DONE]\n\n`);
          res.end();
        };
      } else {
        res.writeHead(201, { "content-type": "application/json", "x-prsm-units": "66", connection: "keep-alive" });
        res.end(JSON.stringify({ echoed: body, url: req.url }));
      }
    });
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as net.AddressInfo).port}`;
  web = await createWebServer(loadWebConfig(env()), createLogger("web-test", {}));
  await web.listen();
  base = web.url();
});

after(async () => {
  await web?.close();
  upstream.closeAllConnections();
  await new Promise<void>((r) => upstream.close(() => r()));
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("web server: static files", () => {
  test("hashed assets are immutable, compressed when accepted, with their content type", async () => {
    const plain = await fetch(`${base}/assets/index-abc123.js`, { headers: { "accept-encoding": "identity" } });
    assert.equal(plain.status, 200);
    assert.equal(plain.headers.get("cache-control"), "public, max-age=31536000, immutable");
    assert.equal(plain.headers.get("content-type"), "text/javascript; charset=utf-8");
    assert.equal(plain.headers.get("content-encoding"), null);
    assert.equal(await plain.text(), BIG_JS);

    for (const [encoding, decode] of [["gzip", zlib.gunzipSync], ["br", zlib.brotliDecompressSync]] as const) {
      const raw = await new Promise<{ headers: http.IncomingHttpHeaders; body: Buffer }>((resolve) =>
        http.get(`${base}/assets/index-abc123.js`, { headers: { "accept-encoding": encoding } }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c) => chunks.push(c));
          res.on("end", () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
        }),
      );
      assert.equal(raw.headers["content-encoding"], encoding);
      assert.equal(raw.headers.vary, "accept-encoding");
      assert.ok(raw.body.length < BIG_JS.length / 4, `${encoding}: ${raw.body.length} bytes`);
      assert.equal(decode(raw.body).toString(), BIG_JS);
    }
    const png = await fetch(`${base}/assets/logo-def456.png`);
    assert.equal(png.headers.get("content-type"), "image/png");
    assert.equal(png.headers.get("content-encoding"), null);
    const svg = await fetch(`${base}/favicon.svg`);
    assert.equal(svg.headers.get("content-type"), "image/svg+xml");
    assert.equal(svg.headers.get("cache-control"), "public, max-age=3600");
  });

  test("index.html is revalidated (ETag, 304) and answers every app route; missing assets are 404", async () => {
    const index = await fetch(`${base}/`);
    assert.equal(index.status, 200);
    assert.equal(index.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(index.headers.get("cache-control"), "no-cache");
    const html = await index.text();
    assert.match(html, /<div id="root">/);
    const etag = index.headers.get("etag")!;
    assert.equal((await fetch(`${base}/`, { headers: { "if-none-match": etag } })).status, 304);
    for (const route of ["/market", "/listing/9", "/governance/proposals/123?tab=votes", "/escrow/1/"]) {
      const res = await fetch(`${base}${route}`);
      assert.equal(res.status, 200, route);
      assert.equal(await res.text(), html, route);
    }
    assert.equal((await fetch(`${base}/assets/gone-000.js`)).status, 404);
    const head = await fetch(`${base}/assets/index-abc123.js`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), "");
    assert.equal((await fetch(`${base}/`, { method: "POST" })).status, 405);
  });

  test("directory traversal is refused, a symlink out of the dist directory is not followed", async () => {
    const port = Number(new URL(base).port);
    for (const target of ["/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt", "/assets/..%5c..%5csecret.txt", "/a%00b"]) {
      const res = await rawGet(port, target);
      assert.equal(res.status, 400, target);
      assert.doesNotMatch(res.body, /outside the dist/, target);
    }
    const link = await rawGet(port, "/link.txt");
    assert.doesNotMatch(link.body, /outside the dist/);
    assert.equal(safeRelativePath("/assets/./a.js"), "assets/a.js");
    assert.equal(safeRelativePath("/a/%2E%2E/b"), "bad");
    assert.equal(negotiateEncoding("gzip, deflate, br;q=0"), "gzip");
    assert.equal(negotiateEncoding("br;q=0.5, gzip"), "br");
    assert.equal(negotiateEncoding("*"), "br");
    assert.equal(negotiateEncoding("identity"), "identity");
  });
});

describe("web server: config.json", () => {
  test("has the documented shape, with the chain from the RPC and the addresses from the deployment files", async () => {
    const res = await fetch(`${base}/config.json`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/json; charset=utf-8");
    assert.deepEqual(await res.json(), {
      network: "localhost",
      chainId: 31337,
      chainName: "Hardhat (local)",
      rpcUrl: `${upstreamUrl}/rpc`,
      blockExplorerUrl: null,
      nativeCurrency: { name: "POL", symbol: "POL", decimals: 18 },
      contracts: { token: ADDRESSES.FTNSToken, marketplace: ADDRESSES.ModelMarketplace, governor: ADDRESSES.FTNSGovernor, timelock: ADDRESSES.ProtocolTimelock, committee: ADDRESSES.FederationCommittee },
      apiUrl: "/graphql",
      orchestratorUrl: "/v1",
      usdPerFtns: 0.1,
    });
  });

  test("Amoy and Polygon get their public chain values; WEB_PUBLIC_RPC_URL overrides the RPC", async () => {
    for (const [network, chainId] of [["amoy", 80002], ["polygon", 137]] as const) {
      fs.cpSync(path.join(deployments, "localhost"), path.join(deployments, network), { recursive: true });
      const config = await buildAppConfig(loadWebConfig(env({ NETWORK: network, WEB_RPC_URL: "" })));
      assert.equal(config.chainId, chainId);
      assert.match(config.chainName, network === "amoy" ? /Amoy/ : /Polygon Mainnet/);
      assert.match(config.rpcUrl, /^https:\/\//);
      assert.match(config.blockExplorerUrl!, /^https:\/\/(amoy\.)?polygonscan\.com$/);
      assert.deepEqual(config.nativeCurrency, { name: "POL", symbol: "POL", decimals: 18 });
      const custom = await buildAppConfig(loadWebConfig(env({ NETWORK: network, WEB_RPC_URL: "", WEB_PUBLIC_RPC_URL: "https://rpc.example.org/key" })));
      assert.equal(custom.rpcUrl, "https://rpc.example.org/key");
    }
    // The RPC of another chain than the network's is a configuration error.
    await assert.rejects(buildAppConfig(loadWebConfig(env({ NETWORK: "polygon" }))), /WEB_RPC_URL: .* is chain 31337, but network "polygon" is chain 137/);
  });

  test("a missing or invalid variable stops the start with its name", async () => {
    assert.throws(() => loadWebConfig(env({ WEB_API_URL: "" })), /WEB_API_URL: is required/);
    assert.throws(() => loadWebConfig(env({ WEB_ORCHESTRATOR_URL: "ftp://x" })), /WEB_ORCHESTRATOR_URL: must be an http\(s\) URL/);
    assert.throws(() => loadWebConfig(env({ WEB_PORT: "http" })), /WEB_PORT: must be an integer/);
    assert.throws(() => loadWebConfig(env({ NETWORK: "mynet", WEB_RPC_URL: "" })), /WEB_RPC_URL: is required for network "mynet"/);
    assert.throws(() => loadWebConfig(env({ WEB_DIST: path.join(tmp, "nowhere") })), /WEB_DIST: .*run npm run build:web/);
    await assert.rejects(buildAppConfig(loadWebConfig(env({ NETWORK: "e2e" }))), /NETWORK: no deployment of FTNSToken for network "e2e"/);
    const down = `http://127.0.0.1:${await closedPort()}`;
    await assert.rejects(buildAppConfig(loadWebConfig(env({ WEB_RPC_URL: down }))), /WEB_RPC_URL: eth_chainId on .* failed/);
    // The process itself: one line naming the problem, exit 1.
    const run = spawnSync(process.execPath, ["--import", "tsx", path.join(ROOT, "web", "server.ts")], {
      cwd: ROOT,
      env: { ...process.env, ...env({ WEB_DIST: path.join(tmp, "nowhere") }) },
      encoding: "utf8",
    });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /web server failed to start: WEB_DIST: .*run npm run build:web/);
  });
});

describe("web server: proxy", () => {
  test("JSON to /graphql and /v1: body, status, x-prsm-* headers both ways, X-Forwarded-For appended", async () => {
    const res = await fetch(`${base}/graphql?op=1`, { method: "POST", headers: { "content-type": "application/json", "x-forwarded-for": "203.0.113.7" }, body: `{"query":"{ listings { items { id } } }"}` });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get("x-prsm-units"), "66");
    assert.deepEqual(await res.json(), { echoed: `{"query":"{ listings { items { id } } }"}`, url: "/graphql?op=1" });
    const gql = seen.at(-1)!;
    assert.equal(gql.headers["x-forwarded-for"], "203.0.113.7, 127.0.0.1");
    assert.equal(gql.headers.host, new URL(upstreamUrl).host);

    const chat = await fetch(`${base}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", "x-prsm-authorization": "abc", "x-prsm-acknowledgement": "def" }, body: "{}" });
    assert.equal(chat.status, 201);
    assert.equal(((await chat.json()) as { url: string }).url, "/v1/chat/completions");
    const forwarded = seen.at(-1)!;
    assert.equal(forwarded.headers["x-prsm-authorization"], "abc");
    assert.equal(forwarded.headers["x-prsm-acknowledgement"], "def");
    assert.equal(forwarded.headers["x-forwarded-for"], "127.0.0.1");
    const models = await fetch(`${base}/v1/models`);
    assert.equal(((await models.json()) as { url: string }).url, "/v1/models");
  });

  test("an SSE stream is passed through unbuffered, and a client that leaves aborts the upstream", async () => {
    for (const url of [`${base}/graphql/stream?query=subscription`, `${base}/v1/stream`]) {
      const controller = new AbortController();
      const res = await fetch(url, { headers: { accept: "text/event-stream" }, signal: controller.signal });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), "text/event-stream");
      assert.equal(res.headers.get("x-prsm-listing"), "9");
      const reader = res.body!.getReader();
      // The upstream has not finished: the first event must arrive anyway.
      const first = await Promise.race([reader.read(), new Promise<"late">((r) => setTimeout(() => r("late"), 3_000))]);
      assert.notEqual(first, "late", "the first event did not arrive before the upstream finished");
      assert.match(Buffer.from((first as { value: Uint8Array }).value).toString(), /data: \{"n":1\}/);
      if (url.includes("/v1/")) {
        finishStream();
        let rest = "";
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          rest += Buffer.from(value).toString();
        }
        assert.match(rest, /\[DONE\]/);
      } else {
        const closed = streamClosedByClient;
        controller.abort();
        await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error("upstream not told the client left")), 3_000))]);
      }
    }
  });

  test("a body over the bound is 413 with a JSON error; an upstream that is down is 502 UPSTREAM_UNAVAILABLE", async () => {
    const big = await fetch(`${base}/graphql`, { method: "POST", headers: { "content-type": "application/json" }, body: "x".repeat(64 * 1024 + 1) });
    assert.equal(big.status, 413);
    assert.equal(((await big.json()) as { error: { code: string } }).error.code, "BODY_TOO_LARGE");

    const downUrl = `http://127.0.0.1:${await closedPort()}`;
    const down = await createWebServer(loadWebConfig(env({ WEB_API_URL: `${downUrl}/graphql`, WEB_ORCHESTRATOR_URL: downUrl })), createLogger("web-test", {}));
    await down.listen();
    try {
      for (const pathname of ["/graphql", "/v1/chat/completions"]) {
        const res = await fetch(`${down.url()}${pathname}`, { method: "POST", body: "{}" });
        assert.equal(res.status, 502);
        const body = (await res.json()) as { error: { code: string; message: string } };
        assert.equal(body.error.code, "UPSTREAM_UNAVAILABLE");
        assert.match(body.error.message, /unavailable/);
      }
    } finally {
      await down.close();
    }
  });
});

describe("web server: health, metrics, shutdown", () => {
  test("/health and /metrics count requests by route class", async () => {
    const health = await fetch(`${base}/health`);
    assert.deepEqual(await health.json(), { status: "ok", network: "localhost", chainId: 31337 });
    const text = await (await fetch(`${base}/metrics`)).text();
    assert.match(text, /prsm_web_requests_total\{route="asset",status="200"\} \d+/);
    assert.match(text, /prsm_web_requests_total\{route="index",status="200"\} \d+/);
    assert.match(text, /prsm_web_requests_total\{route="config",status="200"\} \d+/);
    assert.match(text, /prsm_web_requests_total\{route="graphql",status="201"\} \d+/);
    assert.match(text, /prsm_web_requests_total\{route="orchestrator",status="201"\} \d+/);
    assert.match(text, /prsm_web_requests_total\{route="graphql",status="413"\} 1/);
    assert.match(text, /prsm_web_request_duration_seconds_bucket\{le="0.005",route="asset"\}/);
    assert.match(text, /prsm_web_upstream_errors_total\{upstream="api",code="body-too-large"\} 1/);
    assert.match(text, /prsm_web_process_cpu_seconds_total/);
  });

  test("the process serves, and SIGTERM stops it within 2 s even with a stream open", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "web", "server.ts")], { cwd: ROOT, env: { ...process.env, ...env({ WEB_PORT: String(await closedPort()) }) }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (out += d));
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    try {
      const deadline = Date.now() + 20_000;
      while (!/web server listening/.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const url = JSON.parse(out.split("\n").find((l) => l.includes("web server listening"))!).url as string;
      const stream = await fetch(`${url}/v1/stream`);
      const reader = stream.body!.getReader();
      await reader.read();
      const t0 = Date.now();
      child.kill("SIGTERM");
      assert.equal(await exited, 0, out);
      assert.ok(Date.now() - t0 < 2_500, `took ${Date.now() - t0} ms`);
      await reader.read().catch(() => undefined);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      finishStream();
    }
  });
});
