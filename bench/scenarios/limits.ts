/**
 * Scenarios g and h (issue 13): limits and credits in Redis, two Tessera servers on one PostgreSQL.
 *
 * g. HTTP `POST /v1/verify` throughput and p99 with a Redis-backed rate limit and credits on every token
 *    vs the same number of tokens without, both servers loaded at once, rounds alternating, one run:
 *    bars ≥ 0.6× the throughput and ≤ 2× the p99.
 * h. Exactness under load: one token with 10,000 credits, 50 connections spread over both servers,
 *    more requests than credits: exactly 10,000 VALID.
 */
import { execFileSync, spawn } from "node:child_process";
import { createServer } from "node:net";
import { systemMeta } from "../../dist/services/request-meta.js";
import { runAutocannon, verifyRequests } from "../lib/autocannon.js";
import { onCleanup } from "../lib/cleanup.js";
import { type BenchContext, pick, sleep, tempDir } from "../lib/context.js";
import { postJson } from "../lib/http.js";
import { int, ms, newSection, ratio, type Section } from "../lib/report.js";
import { median } from "../lib/stats.js";
import { createPgDatabase, openTessera, seedInstance, type Tessera } from "../lib/tessera.js";
import { startTesseraServer, type TesseraServer } from "../lib/tessera-server.js";

const THROUGHPUT_BAR = 0.6;
const P99_BAR = 2;
const H_CREDITS = 10_000;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A private redis-server (no persistence) on a free port, stopped by the bench's cleanup. */
async function startRedis(ctx: BenchContext): Promise<{ url: string; pid: number }> {
  execFileSync("redis-server", ["--version"], { stdio: "ignore" });
  const port = await freePort();
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: ["ignore", "pipe", "ignore"],
  });
  onCleanup("redis-server (g/h)", async () => {
    if (child.exitCode === null) child.kill("SIGTERM");
  });
  let out = "";
  child.stdout?.on("data", (c: Buffer) => {
    out += c.toString("utf8");
  });
  for (let i = 0; !out.includes("Ready to accept connections"); i++) {
    if (i > 200 || child.exitCode !== null) throw new Error(`redis-server did not start: ${out}`);
    await sleep(25);
  }
  ctx.log(`g/h: redis-server on 127.0.0.1:${port}`);
  return { url: `redis://127.0.0.1:${port}`, pid: child.pid ?? 0 };
}

export interface Setup {
  /** The private redis-server's process. */
  redisPid: number;
  a: TesseraServer;
  b: TesseraServer;
  orgId: string;
  rootToken: string;
}

export interface Tokens {
  plain: string[];
  limited: string[];
  budgeted: string;
}

/** Tokens made in process before the servers start (a loaded machine's servers may refuse 503 meanwhile). */
async function makeTokens(tessera: Tessera, orgId: string, count: number): Promise<Tokens> {
  const access = await tessera.orgs.access({ type: "system" }, orgId);
  const make = async (i: number, extra: Record<string, unknown>) =>
    (
      await tessera.tokens.create(
        access,
        { name: `limits-${i}`, kind: "service", scopes: ["tokens:read"], ...extra },
        systemMeta(),
      )
    ).secret;
  const plain: string[] = [];
  const limited: string[] = [];
  for (let i = 0; i < count; i++) plain.push(await make(i, {}));
  for (let i = 0; i < count; i++) {
    limited.push(
      await make(count + i, {
        rateLimits: [{ name: "minute", limit: 1_000_000_000, windowSeconds: 60 }],
        credits: { remaining: 1_000_000_000_000 },
      }),
    );
  }
  return { plain, limited, budgeted: await make(2 * count, { credits: { remaining: H_CREDITS } }) };
}

export async function twoServers(ctx: BenchContext, label: string, tokenCount: number): Promise<Setup & { tokens: Tokens }> {
  const redis = await startRedis(ctx);
  const db = await createPgDatabase();
  const seed = await openTessera({ dataDir: tempDir(ctx, `${label}-seed`), databaseUrl: db.url });
  let seeded: { orgId: string; rootToken: string };
  let tokens: Tokens;
  try {
    seeded = await seedInstance(seed);
    tokens = await makeTokens(seed, seeded.orgId, tokenCount);
  } finally {
    await seed.dispose();
  }
  const env = { TESSERA_REDIS_URL: redis.url };
  const [a, b] = await Promise.all(
    ["A", "B"].map((n) =>
      startTesseraServer({
        label: `tessera ${n} (${label})`,
        dataDir: tempDir(ctx, `${label}-${n}`),
        databaseUrl: db.url,
        cpuProfileDir: ctx.cpuProfileDir,
        env,
      }),
    ),
  );
  return { redisPid: redis.pid, a: a!, b: b!, ...seeded, tokens };
}

/** `tessera_limits_fallbacks_total` of both servers. */
async function fallbacksOf(setup: Setup): Promise<number> {
  let sum = 0;
  for (const server of [setup.a, setup.b]) {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith("tessera_limits_fallbacks_total "));
    sum += Number(line?.split(" ")[1] ?? 0);
  }
  return sum;
}

/** Both servers loaded at once (half the connections each); throughput summed, p99 the worse of the two. */
export async function loadBoth(setup: Setup, tokens: string[], connections: number, seconds: number) {
  const requests = verifyRequests(tokens, { authorization: `Bearer ${setup.rootToken}` });
  const [x, y] = await Promise.all(
    [setup.a, setup.b].map((server) =>
      runAutocannon({ url: server.url, connections: connections / 2, durationSeconds: seconds, requests, warmupSeconds: 0 }),
    ),
  );
  return { rps: x!.rps + y!.rps, p99: Math.max(x!.p99, y!.p99), non2xx: x!.non2xx + y!.non2xx, errors: x!.errors + y!.errors };
}

export async function limitsScenario(ctx: BenchContext): Promise<Section[]> {
  const g = newSection("g", "g. HTTP verify with a Redis-backed limit and credits vs without (two servers)");
  const h = newSection("h", "h. Credits exact under load (two servers, 50 connections)");
  if (!ctx.postgres) {
    g.error = h.error = "PostgreSQL is not reachable (BENCH_PG_URL); scenario skipped.";
    return [g, h];
  }
  const tokenCount = pick(ctx, 200, 50);
  const setup = await twoServers(ctx, "g-h", tokenCount);
  const { a, b } = setup;
  const { plain, limited, budgeted } = setup.tokens;
  try {
    // ---- g -------------------------------------------------------------------------------------------
    const seconds = pick(ctx, 5, 2);
    const rounds = pick(ctx, 3, 1);
    const connections = 50;
    g.method.push(
      `Two servers (\`node bin/tessera.js serve\`) on one fresh PostgreSQL database and one redis-server (no persistence) on this ` +
        `machine, \`TESSERA_REDIS_URL\` set on both. ${tokenCount} service tokens without limits ("plain") and ${tokenCount} with one ` +
        'named rate limit (10⁹ per 60 s, never reached) and credits (10¹²) ("limited": every verification runs the limits script in ' +
        `Redis, one EVALSHA). autocannon, ${connections} keep-alive connections (${connections / 2} per server, both servers at once), ` +
        `each connection cycling over the tokens; ${rounds} round(s) of ${seconds} s per kind, alternating, after a warm-up round of each. ` +
        "Throughput is the sum of both servers; p99 the worse server's.",
    );
    ctx.log(`g: ${tokenCount} tokens per kind, ${rounds} × ${seconds} s rounds, both servers`);
    await loadBoth(setup, plain, connections, 1);
    await loadBoth(setup, limited, connections, 1);
    const runs: { kind: string; rps: number; p99: number; non2xx: number; errors: number }[] = [];
    for (let r = 0; r < rounds; r++) {
      for (const [kind, tokens] of [
        ["plain", plain],
        ["limited", limited],
      ] as const) {
        const run = await loadBoth(setup, tokens, connections, seconds);
        runs.push({ kind, ...run });
        ctx.log(`  ${kind}: ${int(run.rps)} req/s, p99 ${ms(run.p99)}`);
      }
    }
    const of = (kind: string) => runs.filter((r) => r.kind === kind);
    const rps = (kind: string) => median(of(kind).map((r) => r.rps));
    const p99 = (kind: string) => median(of(kind).map((r) => r.p99));
    g.tables.push({
      headers: ["round", "kind", "req/s (both servers)", "p99 (worse server)", "non-2xx", "errors"],
      rows: runs.map((r, i) => [String(Math.floor(i / 2) + 1), r.kind, int(r.rps), ms(r.p99), int(r.non2xx), int(r.errors)]),
    });
    const throughputRatio = rps("limited") / rps("plain");
    const p99Ratio = p99("limited") / p99("plain");
    g.bars.push(
      {
        what: "throughput with a Redis-backed limit and credits / without (median of rounds)",
        target: `≥ ${THROUGHPUT_BAR}×`,
        measured: ratio(throughputRatio),
        pass: throughputRatio >= THROUGHPUT_BAR,
      },
      {
        what: "p99 with a Redis-backed limit and credits / without (median of rounds)",
        target: `≤ ${P99_BAR}×`,
        measured: ratio(p99Ratio),
        pass: p99Ratio <= P99_BAR,
      },
    );

    // ---- h -------------------------------------------------------------------------------------------
    const total = H_CREDITS + pick(ctx, 5_000, 2_000);
    const hConnections = 50;
    h.method.push(
      `The same two servers. One token with ${int(H_CREDITS)} credits; ${int(total)} \`POST /v1/verify\` of it from ${hConnections} ` +
        "concurrent keep-alive workers, alternating servers (25 per server), each sending its next request when the last is answered. " +
        "Every answer is read: the VALID ones are counted, and each VALID answer's `credits.remaining` must be distinct (no unit spent twice).",
    );
    ctx.log(`h: ${int(total)} verifications of a token with ${int(H_CREDITS)} credits over both servers`);
    const codes = new Map<string, number>();
    const seen = new Set<number>();
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: hConnections }, async (_, worker) => {
        const server = worker % 2 === 0 ? a : b;
        while (next < total) {
          next++;
          const res = await postJson<{ code: string; credits?: { remaining: number } }>(
            server.url,
            "/v1/verify",
            { token: budgeted },
            setup.rootToken,
          );
          const code = res.status === 200 ? res.body.code : `HTTP ${res.status}`;
          codes.set(code, (codes.get(code) ?? 0) + 1);
          if (code === "VALID" && res.body.credits) seen.add(res.body.credits.remaining);
        }
      }),
    );
    const elapsed = (performance.now() - t0) / 1000;
    const valid = codes.get("VALID") ?? 0;
    const fallbacks = await fallbacksOf(setup);
    h.tables.push({
      headers: [
        "verifications",
        "VALID",
        "USAGE_EXCEEDED",
        "other",
        "distinct balances seen",
        "req/s",
        "checks answered without Redis (both servers, whole run)",
      ],
      rows: [
        [
          int(total),
          int(valid),
          int(codes.get("USAGE_EXCEEDED") ?? 0),
          int(total - valid - (codes.get("USAGE_EXCEEDED") ?? 0)),
          int(seen.size),
          int(total / elapsed),
          int(fallbacks),
        ],
      ],
    });
    if (fallbacks > 0) {
      h.notes.push(
        `${int(fallbacks)} checks were answered by the per-instance fallback because Redis did not answer within ` +
          "TESSERA_REDIS_TIMEOUT_MS (100 ms) on this machine (TESSERA_LIMITS_ON_REDIS_DOWN=open): exactness holds only for checks " +
          "Redis answers in time (docs/architecture.md, Limits and credits, Faults).",
      );
    }
    h.bars.push({
      what: `VALID answers for a token with ${int(H_CREDITS)} credits`,
      target: `exactly ${int(H_CREDITS)}`,
      measured: int(valid),
      pass: valid === H_CREDITS && seen.size === H_CREDITS,
    });
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
  return [g, h];
}
