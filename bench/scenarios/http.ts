/**
 * Scenario c: `POST /v1/verify` on a Tessera server (child process, SQLite, warm cache) against the bare
 * node:http limit (child process), both under autocannon with 50 connections, in alternating rounds.
 */
import { spawnBareVerifyServer } from "../baselines/bare-http.js";
import { type AutocannonSummary, runAutocannon, verifyRequests } from "../lib/autocannon.js";
import { type BenchContext, pick, tempDir } from "../lib/context.js";
import { postJson, runPool } from "../lib/http.js";
import { int, ms, newSection, ratio, type Section } from "../lib/report.js";
import { median, runAlternatingRounds } from "../lib/stats.js";
import { bulkInsertServiceTokens, openTessera, seedInstance } from "../lib/tessera.js";
import { startTesseraServer } from "../lib/tessera-server.js";

const RATIO_BAR = 0.7;
const P99_BAR_MS = 10;
const CONNECTIONS = 50;

export interface VerifyAnswer {
  valid: boolean;
  code: string;
}

/** Asserts a server answers VALID for `token` (a benchmark of error answers would be meaningless). */
export async function expectValid(url: string, token: string, bearer?: string): Promise<void> {
  const r = await postJson<VerifyAnswer>(url, "/v1/verify", { token }, bearer);
  if (r.status !== 200 || r.body.code !== "VALID")
    throw new Error(`${url}: expected VALID, got ${r.status} ${JSON.stringify(r.body)}`);
}

/** ", Tessera: 3 non-2xx, 2 errors, 1 timeouts" or "" when the run was clean. */
export function problems(r: AutocannonSummary, who: string): string {
  return r.non2xx + r.errors + r.timeouts > 0 ? `, ${who}: ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts` : "";
}

export async function httpScenario(ctx: BenchContext): Promise<Section> {
  const s = newSection("c", "c. HTTP POST /v1/verify vs bare node:http (autocannon, 50 connections)");
  const tokenCount = 1000;
  const rounds = pick(ctx, 5, 2);
  const durationSeconds = pick(ctx, 10, 3);
  const warmupSeconds = pick(ctx, 2, 1);

  const dataDir = tempDir(ctx, "http");
  const seed = await openTessera({ dataDir });
  let rootToken: string;
  let tokens: string[];
  try {
    const seeded = await seedInstance(seed);
    rootToken = seeded.rootToken;
    tokens = await bulkInsertServiceTokens(seed, seeded.orgId, tokenCount);
  } finally {
    await seed.dispose();
  }

  const profiling = ctx.cpuProfileDir !== undefined;
  const server = await startTesseraServer({
    label: "tessera (c)",
    dataDir,
    cpuProfileDir: ctx.cpuProfileDir,
  });
  const bare = await spawnBareVerifyServer(tokens);
  try {
    await expectValid(server.url, tokens[0]!, rootToken);
    await expectValid(bare.url, tokens[0]!);
    // Warm Tessera's cache with every token once (the bare server holds them all from the start).
    await runPool(tokens.length, 16, (i) => expectValid(server.url, tokens[i]!, rootToken));

    s.method.push(
      `Tessera: \`node bin/tessera.js serve\` (compiled build) in a child process, SQLite, default cache ` +
        `(100,000 entries, 10 s TTL), \`TESSERA_LOG_LEVEL=warn\`, ${int(tokenCount)} service tokens all cached. ` +
        "Each request carries a root token as `Authorization: Bearer` (verified by the same verifier, so each " +
        'request is two verifications) and a body `{"token": …}` rotating over the tokens. ' +
        "Bare: `bench/baselines/bare-http.ts` in a child process — node:http, JSON.parse, SHA-256, Map lookup, " +
        "JSON.stringify of the same response shape, no authentication. " +
        `autocannon runs in the benchmark process with ${CONNECTIONS} keep-alive connections; ${rounds} rounds, each ` +
        `${durationSeconds} s per server after ${warmupSeconds} s of unmeasured warm-up, the order flipping every round. ` +
        "Latencies are exact per-response times of 2xx answers.",
    );

    const run = (url: string, bearer?: string) =>
      runAutocannon({
        url,
        connections: CONNECTIONS,
        durationSeconds,
        warmupSeconds,
        requests: verifyRequests(tokens, bearer ? { authorization: `Bearer ${bearer}` } : {}),
      });
    ctx.log(`c: ${rounds} rounds × ${durationSeconds} s (+${warmupSeconds} s warm-up), Tessera vs bare node:http`);
    const res = await runAlternatingRounds({
      rounds,
      a: { name: "tessera", run: () => run(server.url, rootToken) },
      b: { name: "bare", run: () => run(bare.url) },
      valueA: (r) => r.rps,
      valueB: (r) => r.rps,
      pauseMs: 1000,
      onRound: (r) =>
        ctx.log(
          `  round ${r.round}: Tessera ${int(r.a.rps)} req/s p99 ${ms(r.a.p99)}, bare ${int(r.b.rps)} req/s p99 ${ms(r.b.p99)} → ${ratio(r.ratio)}` +
            problems(r.a, "Tessera") +
            problems(r.b, "bare"),
        ),
    });
    const bad = res.rounds.reduce((n, r) => n + r.a.non2xx + r.a.errors + r.b.non2xx + r.b.errors, 0);
    const p99s = res.rounds.map((r) => r.a.p99);
    const medianP99 = median(p99s);
    s.tables.push({
      headers: [
        "round",
        "first",
        "Tessera req/s",
        "Tessera p50",
        "Tessera p99",
        "bare req/s",
        "bare p50",
        "bare p99",
        "Tessera / bare",
      ],
      rows: [
        ...res.rounds.map((r) => [
          String(r.round),
          r.first === "a" ? "Tessera" : "bare",
          int(r.a.rps),
          ms(r.a.p50),
          ms(r.a.p99),
          int(r.b.rps),
          ms(r.b.p50),
          ms(r.b.p99),
          ratio(r.ratio),
        ]),
        [
          "**median**",
          "",
          int(res.medianA),
          ms(median(res.rounds.map((r) => r.a.p50))),
          ms(medianP99),
          int(res.medianB),
          ms(median(res.rounds.map((r) => r.b.p50))),
          ms(median(res.rounds.map((r) => r.b.p99))),
          `**${ratio(res.medianRatio)}**`,
        ],
      ],
    });
    s.bars.push({
      what: "Tessera / bare node:http throughput (median of per-round ratios)",
      target: `≥ ${RATIO_BAR.toFixed(2)}×`,
      measured: `${ratio(res.medianRatio)} (${int(res.medianA)} vs ${int(res.medianB)} req/s; rounds ${ratio(res.minRatio)}–${ratio(res.maxRatio)})`,
      pass: res.medianRatio >= RATIO_BAR,
    });
    s.bars.push({
      what: "Tessera p99 latency under 50 connections (median of rounds)",
      target: `≤ ${P99_BAR_MS} ms`,
      measured: `${ms(medianP99)} (rounds ${ms(Math.min(...p99s))}–${ms(Math.max(...p99s))})`,
      pass: medianP99 <= P99_BAR_MS,
    });
    s.notes.push(`Non-2xx answers and connection errors over all rounds: ${bad}.`);
    s.notes.push(
      "On a 2-core machine autocannon and the server each take about one core, so the absolute figures are bounded " +
        "by the load generator too; the ratio compares both servers under the same load generator.",
    );
  } finally {
    await bare.close();
    await server.close();
  }
  if (profiling) s.notes.push(`CPU profiles of the Tessera servers written to ${ctx.cpuProfileDir} (BENCH_CPU_PROF).`);
  return s;
}
