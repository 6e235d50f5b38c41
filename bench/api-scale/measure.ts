/**
 * Measuring the API from outside: one GraphQL request (latency, status, error code), a sequential series, a
 * 20-connection autocannon run with a fresh query per request, a hostile query sent while a second client keeps
 * sending a normal one, and the API process's resident memory sampled throughout.
 */
import fs from "node:fs";
import autocannon from "autocannon";

export interface Reply {
  ms: number;
  status: number;
  bytes: number;
  /** The first error's extensions.code (or its message when it has none); undefined when there is none. */
  code?: string;
  message?: string;
  hasData: boolean;
  /** The parsed body (undefined for a network failure or a body that is not JSON). */
  body?: { data?: unknown; errors?: { message: string; extensions?: { code?: string } }[] };
  failure?: string;
}

/** A GraphQL request: a document alone, or a document with variables (how the web app and typed clients ask). */
export type GraphqlRequest = string | { query: string; variables: Record<string, unknown> };
const bodyOf = (request: GraphqlRequest) => JSON.stringify(typeof request === "string" ? { query: request } : request);

export async function post(url: string, query: GraphqlRequest, timeoutMs = 60_000, headers: Record<string, string> = {}): Promise<Reply> {
  const t0 = performance.now();
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json", ...headers },
      body: bodyOf(query),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    const ms = performance.now() - t0;
    let body: Reply["body"];
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    const error = body?.errors?.[0];
    return {
      ms,
      status: res.status,
      bytes: text.length,
      code: error ? (error.extensions?.code ?? error.message.slice(0, 80)) : undefined,
      message: error?.message,
      hasData: body?.data !== undefined && body?.data !== null,
      body,
    };
  } catch (error) {
    return { ms: performance.now() - t0, status: 0, bytes: 0, hasData: false, failure: (error as Error).name === "TimeoutError" ? `no answer in ${timeoutMs} ms` : (error as Error).message };
  }
}

export interface Stats {
  n: number;
  p50: number;
  p95: number;
  max: number;
}

export function stats(values: number[]): Stats {
  const xs = [...values].sort((a, b) => a - b);
  const at = (p: number) => (xs.length ? xs[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)] : NaN);
  return { n: xs.length, p50: round(at(50)), p95: round(at(95)), max: round(xs[xs.length - 1] ?? NaN) };
}

export const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

export interface Sequential extends Stats {
  errors: number;
  firstError?: string;
  bytes: number;
}

/** `runs` requests one after the other (after `warmup` unmeasured ones), stopping early after `maxSeconds`. */
export async function sequential(url: string, make: (i: number) => GraphqlRequest, runs: number, warmup: number, maxSeconds: number): Promise<Sequential> {
  for (let i = 0; i < warmup; i++) await post(url, make(i));
  const latencies: number[] = [];
  let errors = 0, bytes = 0;
  let firstError: string | undefined;
  const deadline = performance.now() + maxSeconds * 1000;
  for (let i = 0; i < runs && (i < 10 || performance.now() < deadline); i++) {
    const r = await post(url, make(warmup + i));
    latencies.push(r.ms);
    bytes = Math.max(bytes, r.bytes);
    if (r.failure || r.code || r.status !== 200) {
      errors++;
      firstError ??= r.failure ?? `HTTP ${r.status} ${r.code ?? ""} ${r.message ?? ""}`.trim();
    }
  }
  return { ...stats(latencies), errors, firstError, bytes };
}

export interface Concurrent {
  /** Answered (HTTP 2xx) requests per second. */
  requestsPerSecond: number;
  /** Every response, refusals included. */
  totalPerSecond: number;
  statusCodes: Record<string, number>;
  /** 2xx responses whose body carries GraphQL errors. */
  graphqlErrors: number;
  p50: number;
  p97_5: number;
  p99: number;
  max: number;
  errors: number;
  non2xx: number;
  timeouts: number;
}

/**
 * autocannon for `seconds` with `connections` connections, each request a fresh query from `make` and the headers
 * of `headers` (e.g. its client's X-Forwarded-For).
 */
export async function concurrent(url: string, make: (i: number) => GraphqlRequest, connections: number, seconds: number, headers: (i: number) => Record<string, string> = () => ({})): Promise<Concurrent> {
  let i = 0;
  let graphqlErrors = 0;
  const r = await autocannon({
    url,
    connections,
    duration: seconds,
    timeout: 30,
    requests: [
      {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        setupRequest: (req) => {
          const n = i++;
          return { ...req, headers: { ...req.headers, ...headers(n) }, body: bodyOf(make(n)) };
        },
        onResponse: (status: number, body: string) => {
          if (status >= 200 && status < 300 && body.includes('"errors":')) graphqlErrors++;
        },
      },
    ],
  });
  const statusCodes: Record<string, number> = {};
  for (const [code, s] of Object.entries(r.statusCodeStats ?? {})) statusCodes[code] = s.count ?? 0;
  return {
    requestsPerSecond: Math.round(r["2xx"] / (r.duration || seconds)),
    totalPerSecond: Math.round(r.requests.average),
    statusCodes,
    graphqlErrors,
    p50: r.latency.p50,
    p97_5: r.latency.p97_5,
    p99: r.latency.p99,
    max: r.latency.max,
    errors: r.errors,
    non2xx: r.non2xx,
    timeouts: r.timeouts,
  };
}

export interface HostileResult {
  attempts: number;
  /** Every attempt refused: an error, no data. */
  refused: boolean;
  outcome: string;
  statuses: number[];
  codes: string[];
  latency: Stats;
  maxBytes: number;
  firstMessage?: string;
  /** The second client's normal query meanwhile. */
  normal: Stats & { errors: number };
  apiDied: boolean;
}

/**
 * Up to `attempts` sends of a hostile query, one after the other (stopping after `maxSeconds`), while a second
 * client sends `normal()` queries back to back from start to end.
 */
export async function hostile(
  url: string,
  query: string,
  normal: (i: number) => GraphqlRequest,
  attempts: number,
  maxSeconds: number,
  alive: () => boolean,
  clients: { attacker: Record<string, string>; other: Record<string, string> },
): Promise<HostileResult> {
  let running = true;
  const normalLatencies: number[] = [];
  let normalErrors = 0;
  const second = (async () => {
    for (let i = 0; running; i++) {
      const r = await post(url, normal(i), 30_000, clients.other);
      normalLatencies.push(r.ms);
      if (r.failure || r.code || r.status !== 200) normalErrors++;
      if (!alive()) break;
    }
  })();
  await new Promise((r) => setTimeout(r, 200)); // the second client is under way first
  const replies: Reply[] = [];
  const deadline = performance.now() + maxSeconds * 1000;
  let apiDied = false;
  for (let i = 0; i < attempts && (i === 0 || performance.now() < deadline); i++) {
    const r = await post(url, query, 60_000, clients.attacker);
    replies.push(r);
    if (!alive()) {
      apiDied = true;
      break;
    }
  }
  await new Promise((r) => setTimeout(r, 200));
  running = false;
  await second;
  const kinds = replies.map((r) => (r.failure ? "failed" : r.code && !r.hasData ? "refused" : r.code ? "partial" : "answered"));
  const distinct = [...new Set(kinds)];
  return {
    attempts: replies.length,
    refused: kinds.every((k) => k === "refused"),
    outcome: apiDied ? `API process died (${distinct.join("/")})` : distinct.join("/"),
    statuses: [...new Set(replies.map((r) => r.status))],
    codes: [...new Set(replies.map((r) => r.code ?? r.failure ?? "-"))],
    latency: stats(replies.map((r) => r.ms)),
    maxBytes: Math.max(...replies.map((r) => r.bytes)),
    firstMessage: replies.find((r) => r.message || r.failure)?.message ?? replies.find((r) => r.failure)?.failure,
    normal: { ...stats(normalLatencies), errors: normalErrors },
    apiDied,
  };
}

/** Samples a process's VmRSS (MiB) every `everyMs`, overall and per phase; `pid` may change (a restarted API). */
export class RssSampler {
  private timer?: NodeJS.Timeout;
  max = 0;
  phase = "start";
  readonly byPhase: Record<string, number> = {};
  samples = 0;

  constructor(
    private readonly pid: () => number | undefined,
    private readonly everyMs = 100,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.sample(), this.everyMs);
    this.timer.unref();
  }

  stop(): void {
    this.sample();
    clearInterval(this.timer);
  }

  sample(): void {
    const pid = this.pid();
    if (!pid) return;
    let kb: number;
    try {
      const m = fs.readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s+(\d+) kB/m);
      if (!m) return;
      kb = Number(m[1]);
    } catch {
      return; // the process has gone
    }
    const mib = kb / 1024;
    this.samples++;
    this.max = Math.max(this.max, mib);
    this.byPhase[this.phase] = Math.max(this.byPhase[this.phase] ?? 0, mib);
  }
}

/** Waits until the server answers a trivial query quickly again (in-flight work of a previous phase has drained). */
export async function quiet(url: string, maxSeconds = 30): Promise<void> {
  const deadline = performance.now() + maxSeconds * 1000;
  let fast = 0;
  while (fast < 3 && performance.now() < deadline) {
    const r = await post(url, "{ _meta { ready } }", 30_000);
    fast = r.ms < 25 ? fast + 1 : 0;
    await new Promise((res) => setTimeout(res, 100));
  }
}
