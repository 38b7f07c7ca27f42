import autocannon from "autocannon";
import { latencySummary } from "./stats.js";

export interface HttpRequestSpec {
  method: "POST" | "GET";
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface RunAutocannonOptions {
  /** Origin of the server under test; must be http://127.0.0.1:<port>. */
  url: string;
  /** Concurrent keep-alive connections (the HTTP scenario uses 50). */
  connections?: number;
  durationSeconds: number;
  /**
   * Requests each connection cycles through, in order. Pass one request per token to rotate over tokens
   * (see {@link verifyRequests}). Each connection starts at a different offset in the list, so 50
   * connections are not all asking for the same token at the same moment (that would turn a cold-cache
   * run into a warm one after the first miss).
   */
  requests: HttpRequestSpec[];
  /** Per-request timeout in seconds (autocannon's default is 10). */
  timeoutSeconds?: number;
  /** A short unmeasured run first (JIT, connection setup, caches). Default 0. */
  warmupSeconds?: number;
  /**
   * Give each connection its own contiguous share of `requests` (connection k cycles through share k)
   * instead of a rotation of the whole list. Use it for long lists (cold runs over 10,000s of tokens):
   * autocannon builds every request of a connection's list up front, so rotations of the whole list would
   * cost connections × requests builds before the first request is sent.
   */
  split?: boolean;
  /** Requests per second over all connections (autocannon's `overallRate`); unpaced when omitted. */
  rate?: number;
}

export interface AutocannonSummary {
  /** Mean of autocannon's per-second request counts (what autocannon prints as "Req/Sec Avg"). */
  rps: number;
  /** Latency percentiles of 2xx responses in milliseconds, exact (computed from every response time). */
  p50: number;
  p99: number;
  max: number;
  /** autocannon's own percentiles: its histogram has 1 ms resolution, kept for cross-checking. */
  autocannonP50: number;
  autocannonP99: number;
  totalRequests: number;
  non2xx: number;
  /** Connection errors, including timeouts. */
  errors: number;
  timeouts: number;
  durationSeconds: number;
}

/** Builds one `POST <path>` with body `{"token": …}` per token, for {@link RunAutocannonOptions.requests}. */
export function verifyRequests(
  tokens: readonly string[],
  opts: { path?: string; authorization?: string } = {},
): HttpRequestSpec[] {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (opts.authorization) headers.authorization = opts.authorization;
  return tokens.map((token) => ({
    method: "POST",
    path: opts.path ?? "/v1/verify",
    headers,
    body: JSON.stringify({ token }),
  }));
}

function assertLoopback(url: string): URL {
  const parsed = new URL(url);
  // The benchmark must never be pointed at anything but this machine.
  if (parsed.protocol !== "http:" || parsed.hostname !== "127.0.0.1") {
    throw new Error(`runAutocannon only targets http://127.0.0.1, got ${url}`);
  }
  return parsed;
}

/**
 * Runs autocannon in this process (no worker threads) against a local server and summarises the run.
 *
 * The server under test should live in another process (see `spawnBareVerifyServer`): on a 2-core
 * machine the load generator and the server then each get a core instead of sharing one event loop.
 */
export async function runAutocannon(opts: RunAutocannonOptions): Promise<AutocannonSummary> {
  const origin = assertLoopback(opts.url).origin;
  if (opts.requests.length === 0) throw new Error("runAutocannon needs at least one request");
  if (!(opts.durationSeconds > 0)) throw new RangeError("durationSeconds must be > 0");
  if (opts.warmupSeconds && opts.warmupSeconds > 0) {
    await runOnce({ ...opts, durationSeconds: opts.warmupSeconds }, origin);
  }
  return runOnce(opts, origin);
}

async function runOnce(opts: RunAutocannonOptions, origin: string): Promise<AutocannonSummary> {
  const connections = opts.connections ?? 50;
  const requests: autocannon.Request[] = opts.requests.map((r) => ({ ...r }));
  const stride = Math.max(1, Math.floor(requests.length / connections));
  const share = Math.ceil(requests.length / connections);
  let clientIndex = 0;

  // Exact latencies of 2xx responses (autocannon's histogram rounds to whole milliseconds).
  let latencies = new Float64Array(1 << 17);
  let count = 0;

  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: origin,
        connections,
        duration: opts.durationSeconds,
        timeout: opts.timeoutSeconds ?? 10,
        ...(opts.rate ? { overallRate: opts.rate } : {}),
        // With `split`, each client starts from a one-request list (built once per client) and gets its share below.
        requests: opts.split ? requests.slice(0, 1) : requests,
        // Called synchronously once per connection as it is created: rotate its copy of the list, or give it its share.
        setupClient: (client) => {
          if (opts.split) {
            const start = ((clientIndex++ * share) % requests.length) | 0;
            client.setRequests(requests.slice(start, start + share));
            return;
          }
          const offset = ((clientIndex++ * stride) % requests.length) | 0;
          if (offset > 0) client.setRequests([...requests.slice(offset), ...requests.slice(0, offset)]);
        },
      },
      (err, res) => {
        clearTimeout(watchdog);
        if (err) reject(err instanceof Error ? err : new Error(String(err)));
        else resolve(res);
      },
    );
    instance.on("response", (_client, statusCode, _bytes, responseTime) => {
      if (statusCode < 200 || statusCode >= 300) return;
      if (count === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[count++] = responseTime;
    });
    // autocannon stops by itself after `duration`; this only guards against a wedged run.
    const watchdog = setTimeout(() => instance.stop(), (opts.durationSeconds + 30) * 1000);
    watchdog.unref();
  });

  const exact = count > 0 ? latencySummary(latencies.subarray(0, count)) : { p50: NaN, p99: NaN, max: NaN };
  return {
    rps: result.requests.mean,
    ...exact,
    autocannonP50: result.latency.p50,
    autocannonP99: result.latency.p99,
    totalRequests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    durationSeconds: result.duration,
  };
}
