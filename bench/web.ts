/**
 * `npm run bench web`: the browser app's weight and its time to interactive.
 *
 *   build     vite build (the app's own config) into a temporary directory, with a manifest; its time
 *   weight    JS of the first page, gzip -9 (and brotli): every script index.html loads eagerly (module script and
 *             modulepreload links) and their static imports (vite's manifest), plus the first route's lazy chunks
 *             (what the browser fetched before the ready marker beyond those) and their static imports; the total of
 *             all chunks; target < 300 KB gzipped for the first page
 *   TTI       the real stack (scripts/start.mjs through test/e2e/web/stack.ts) with its web server (web/server.ts)
 *             serving that build on a temporary port; chromium (Debian's) loads the page BENCH_WEB_RUNS (5) times,
 *             each in a fresh browser context (cold cache): navigation start -> the app's ready marker
 *             (document.documentElement.dataset.ready = "1": the market page rendered its first data or its empty
 *             state); without the marker, DOMContentLoaded followed by the first 500 ms free of long tasks. The JS
 *             the browser actually fetched before ready (transfer size, the server's brotli) is measured too.
 *
 * Writes bench/results/web.md.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { launchBrowser } from "../test/e2e/web/browser";
import { startStack } from "../test/e2e/web/stack";

const ROOT = path.resolve(__dirname, "..");
const RUNS = Number(process.env.BENCH_WEB_RUNS ?? 5);
const TARGET_KB = 300;
const READY_TIMEOUT_MS = 30_000;

interface ManifestChunk {
  file: string;
  src?: string;
  name?: string;
  isEntry?: boolean;
  isDynamicEntry?: boolean;
  imports?: string[];
  dynamicImports?: string[];
  css?: string[];
}

interface Sized {
  file: string;
  raw: number;
  gzip: number;
  brotli: number;
}

const kb = (bytes: number) => (bytes / 1024).toFixed(1);

function size(dir: string, file: string): Sized {
  const body = fs.readFileSync(path.join(dir, file));
  return {
    file,
    raw: body.length,
    gzip: zlib.gzipSync(body, { level: 9 }).length,
    brotli: zlib.brotliCompressSync(body, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
  };
}

function sum(items: Sized[]) {
  return items.reduce((a, b) => ({ raw: a.raw + b.raw, gzip: a.gzip + b.gzip, brotli: a.brotli + b.brotli }), { raw: 0, gzip: 0, brotli: 0 });
}

function allFiles(dir: string, base = dir): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? allFiles(full, base) : [path.relative(base, full).split(path.sep).join("/")];
  });
}

/** The static-import closure of manifest keys `keys` (dynamic imports excluded). */
function closure(manifest: Record<string, ManifestChunk>, keys: string[]): Set<string> {
  const seen = new Set<string>();
  const visit = (key: string) => {
    if (seen.has(key) || !manifest[key]) return;
    seen.add(key);
    for (const k of manifest[key]!.imports ?? []) visit(k);
  };
  keys.forEach(visit);
  return seen;
}

interface Run {
  readyMs: number;
  marker: boolean;
  dclMs: number;
  loadMs: number;
  fcpMs: number | null;
  jsRequests: number;
  jsTransferred: number;
  jsFiles: string[];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Records, in the page, when the ready marker appears and which long tasks ran. */
const PAGE_PROBE = `(() => {
  window.__prsmBench = { readyAt: null, longTasks: [] };
  const check = () => {
    if (window.__prsmBench.readyAt === null && document.documentElement && document.documentElement.dataset.ready === "1") {
      window.__prsmBench.readyAt = performance.now();
    }
  };
  new MutationObserver(check).observe(document, { attributes: true, subtree: true, attributeFilter: ["data-ready"] });
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__prsmBench.longTasks.push([e.startTime, e.duration]);
    }).observe({ type: "longtask", buffered: true });
  } catch {}
})();`;

async function main() {
  const started = new Date();
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "prsm-bench-web-"));
  console.log(`vite build -> ${out}`);
  const t0 = Date.now();
  const build = spawnSync(path.join(ROOT, "node_modules", ".bin", "vite"), ["build", "--config", path.join("web", "vite.config.ts"), "--outDir", out, "--emptyOutDir", "--manifest", "--logLevel", "warn"], {
    cwd: ROOT,
    encoding: "utf8",
  });
  const buildSeconds = (Date.now() - t0) / 1000;
  if (build.status !== 0) throw new Error(`vite build failed:\n${build.stdout}\n${build.stderr}`);
  console.log(`built in ${buildSeconds.toFixed(1)} s`);

  // --- weight
  const html = fs.readFileSync(path.join(out, "index.html"), "utf8");
  const htmlRefs = [
    ...[...html.matchAll(/<script[^>]*type="module"[^>]*src="([^"]+)"/g)].map((m) => m[1]!),
    ...[...html.matchAll(/<link[^>]*rel="modulepreload"[^>]*href="([^"]+)"/g)].map((m) => m[1]!),
    ...[...html.matchAll(/<link[^>]*href="([^"]+)"[^>]*rel="modulepreload"/g)].map((m) => m[1]!),
  ].map((ref) => ref.replace(/^\//, ""));
  const manifestFile = [path.join(out, ".vite", "manifest.json"), path.join(out, "manifest.json")].find((f) => fs.existsSync(f));
  const manifest: Record<string, ManifestChunk> = manifestFile ? JSON.parse(fs.readFileSync(manifestFile, "utf8")) : {};
  const byFile = new Map(Object.entries(manifest).map(([key, chunk]) => [chunk.file, key]));
  const entryKeys = Object.entries(manifest).filter(([, c]) => c.isEntry).map(([k]) => k);
  const eagerKeys = closure(manifest, [...entryKeys, ...htmlRefs.map((f) => byFile.get(f)).filter((k): k is string => !!k)]);
  const eagerFiles = [...new Set([...htmlRefs.filter((f) => f.endsWith(".js")), ...[...eagerKeys].map((k) => manifest[k]!.file)])];
  const eager = eagerFiles.map((f) => size(out, f));
  const jsAll = allFiles(out).filter((f) => f.endsWith(".js")).map((f) => size(out, f));
  const cssAll = allFiles(out).filter((f) => f.endsWith(".css")).map((f) => size(out, f));
  console.log(`eager JS (index.html + static imports): ${kb(sum(eager).gzip)} KB gzip in ${eager.length} files; all JS ${kb(sum(jsAll).gzip)} KB gzip in ${jsAll.length} chunks`);

  // --- time to interactive, against the real stack
  const browser = await launchBrowser();
  if (!browser) throw new Error("chromium is required");
  const chromiumVersion = browser.version();
  const runs: Run[] = [];
  let stack: Awaited<ReturnType<typeof startStack>> | undefined;
  try {
    stack = await startStack({ env: { WEB_DIST: out } });
    console.log(`stack ready in ${stack.startupSeconds.toFixed(1)} s; web server ${stack.webUrl} serving ${out}`);
    for (let i = 0; i < RUNS; i++) {
      const context = await browser.newContext(); // a fresh profile: empty HTTP cache
      const page = await context.newPage();
      await page.addInitScript(PAGE_PROBE);
      await page.goto(stack.webUrl, { waitUntil: "load" });
      const marker = await page
        .waitForFunction(() => (window as unknown as { __prsmBench: { readyAt: number | null } }).__prsmBench.readyAt !== null, undefined, { timeout: READY_TIMEOUT_MS })
        .then(() => true)
        .catch(() => false);
      if (!marker) await page.waitForTimeout(3_000); // long tasks after load, for the fallback
      const run = (await page.evaluate(`(() => {
        const nav = performance.getEntriesByType("navigation")[0];
        const probe = window.__prsmBench;
        let readyAt = probe.readyAt;
        if (readyAt === null) {
          // DOMContentLoaded, then the first 500 ms window free of long tasks
          let t = nav.domContentLoadedEventEnd;
          for (const [start, duration] of probe.longTasks.sort((a, b) => a[0] - b[0])) {
            if (start < t + 500 && start + duration > t) t = Math.max(t, start + duration);
          }
          readyAt = t;
        }
        const js = performance.getEntriesByType("resource").filter((r) => /\\.m?js(\\?|$)/.test(r.name) && r.startTime <= readyAt);
        const fcp = performance.getEntriesByType("paint").find((p) => p.name === "first-contentful-paint");
        return {
          readyMs: readyAt,
          marker: probe.readyAt !== null,
          dclMs: nav.domContentLoadedEventEnd,
          loadMs: nav.loadEventEnd,
          fcpMs: fcp ? fcp.startTime : null,
          jsRequests: js.length,
          jsTransferred: js.reduce((a, r) => a + r.transferSize, 0),
          jsFiles: js.map((r) => new URL(r.name).pathname),
        };
      })()`)) as Run;
      runs.push(run);
      console.log(`run ${i + 1}: ready ${run.readyMs.toFixed(0)} ms (${run.marker ? "marker" : "fallback"}), DCL ${run.dclMs.toFixed(0)} ms, ${run.jsRequests} JS requests, ${kb(run.jsTransferred)} KB JS transferred`);
      await context.close();
    }
  } finally {
    await browser.close();
    await stack?.stop();
  }
  const stackSeconds = stack!.startupSeconds;
  // The first route's lazy chunks (React.lazy: the app shell and the market page): what the browser fetched before
  // the ready marker beyond the eager files, each with its static imports from the manifest.
  const fetched = [...new Set(runs.flatMap((r) => r.jsFiles.map((f) => f.replace(/^\//, ""))))];
  const lazyKeys = closure(manifest, fetched.map((f) => byFile.get(f)).filter((k): k is string => !!k));
  const routeFiles = [...new Set([...fetched, ...[...lazyKeys].map((k) => manifest[k]!.file)])].filter((f) => f.endsWith(".js") && !eagerFiles.includes(f) && fs.existsSync(path.join(out, f)));
  const route = routeFiles.map((f) => size(out, f));
  const routeNames = routeFiles.map((f) => manifest[byFile.get(f) ?? ""]?.src ?? manifest[byFile.get(f) ?? ""]?.name ?? f);
  const firstPage = sum([...eager, ...route]);

  // --- report
  const cores = os.cpus().length;
  const mem = (os.totalmem() / 2 ** 30).toFixed(0);
  const table = (items: Sized[]) => items.sort((a, b) => b.gzip - a.gzip).map((s) => `| \`${s.file}\` | ${kb(s.raw)} | ${kb(s.gzip)} | ${kb(s.brotli)} |`).join("\n");
  const allSum = sum(jsAll);
  const readys = runs.map((r) => r.readyMs);
  const md = `# Web app: first-page weight and time to interactive

${started.toISOString()} on ${cores} cores, ${mem} GiB, Node ${process.version}, Debian chromium ${chromiumVersion} (headless, playwright-core); \`npm run bench web\`.
Build: vite ${JSON.parse(fs.readFileSync(path.join(ROOT, "node_modules", "vite", "package.json"), "utf8")).version}, \`web/vite.config.ts\`, ${buildSeconds.toFixed(1)} s.

## JS for the first page (target: under ${TARGET_KB} KB gzipped)

| | raw KB | gzip -9 KB | brotli KB |
|---|---|---|---|
| **first page** (eager + first route) | ${kb(firstPage.raw)} | **${kb(firstPage.gzip)}** | ${kb(firstPage.brotli)} |
| eager from index.html (module script, modulepreload, their static imports): ${eager.length} files | ${kb(sum(eager).raw)} | ${kb(sum(eager).gzip)} | ${kb(sum(eager).brotli)} |
| first route: lazy chunks fetched before ready (${routeNames.map((n) => `\`${n}\``).join(", ") || "none"}) and their static imports: ${route.length} files | ${kb(sum(route).raw)} | ${kb(sum(route).gzip)} | ${kb(sum(route).brotli)} |
| all JS chunks (${jsAll.length}) | ${kb(allSum.raw)} | ${kb(allSum.gzip)} | ${kb(allSum.brotli)} |
| all CSS (${cssAll.length}) | ${kb(sum(cssAll).raw)} | ${kb(sum(cssAll).gzip)} | ${kb(sum(cssAll).brotli)} |

Target ${firstPage.gzip / 1024 < TARGET_KB ? "**met**" : "**missed**"}: ${kb(firstPage.gzip)} KB gzipped.

First-page files:

| file | raw KB | gzip KB | brotli KB |
|---|---|---|---|
${table([...eager, ...route])}

## Time to interactive (${RUNS} loads, each with a cold cache)

The real stack (\`scripts/start.mjs\`, ready in ${stackSeconds.toFixed(1)} s) and its web server serving the build above on
127.0.0.1 (no network latency: this is the app's own start-up cost). Ready = navigation start to
\`document.documentElement.dataset.ready = "1"\` (the market page rendered its first data or its empty state)${runs.every((r) => r.marker) ? "" : "; runs marked \"fallback\" had no marker: DOMContentLoaded + the first 500 ms without a long task"}.

| run | ready (ms) | how | first contentful paint (ms) | DOMContentLoaded (ms) | load (ms) | JS requests before ready | JS transferred before ready (KB, brotli) |
|---|---|---|---|---|---|---|---|
${runs.map((r, i) => `| ${i + 1} | **${r.readyMs.toFixed(0)}** | ${r.marker ? "marker" : "fallback"} | ${r.fcpMs === null ? "-" : r.fcpMs.toFixed(0)} | ${r.dclMs.toFixed(0)} | ${r.loadMs.toFixed(0)} | ${r.jsRequests} | ${kb(r.jsTransferred)} |`).join("\n")}

Median ready: **${median(readys).toFixed(0)} ms** (min ${Math.min(...readys).toFixed(0)}, max ${Math.max(...readys).toFixed(0)}).

JS the browser fetched before ready (run 1): ${runs[0]?.jsFiles.map((f) => `\`${f}\``).join(", ") ?? "-"}
`;
  fs.mkdirSync(path.join(ROOT, "bench", "results"), { recursive: true });
  fs.writeFileSync(path.join(ROOT, "bench", "results", "web.md"), md);
  fs.rmSync(out, { recursive: true, force: true });
  console.log(`first page JS: ${kb(firstPage.gzip)} KB gzip (${eager.length} eager + ${route.length} lazy files of the first route)`);
  console.log(`wrote bench/results/web.md (first page ${kb(firstPage.gzip)} KB gzip, median ready ${median(readys).toFixed(0)} ms)`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
