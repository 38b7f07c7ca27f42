/**
 * Scenarios a and b: Tessera's in-process verifier (`tessera.verifier.verify`, warm cache) against
 *  a. the limit — a bare loop of SHA-256 (node:crypto) + Map lookup over the same tokens;
 *  b. better-auth's `verifyApiKey` (@better-auth/api-key 1.7.5 on SQLite, rate limiting off).
 * All three run in this process, one after another, in alternating rounds.
 */
import { createHash } from "node:crypto";
import { createBetterAuthBaseline } from "../baselines/better-auth.js";
import { type BenchContext, pick, tempDir } from "../lib/context.js";
import { int, ms, newSection, ratio, type Section } from "../lib/report.js";
import { runAlternatingRounds } from "../lib/stats.js";
import { bulkInsertServiceTokens, openTessera, seedInstance } from "../lib/tessera.js";
import { measureAsync, measureAsyncLoop, measureSync } from "../lib/throughput.js";

const LIMIT_BAR = 0.4;
const BETTER_AUTH_BAR = 100;

export async function inProcessScenarios(ctx: BenchContext): Promise<Section[]> {
  const a = newSection("a", "a. In-process warm verify vs the limit (SHA-256 + Map)");
  const b = newSection("b", "b. In-process: Tessera vs better-auth verifyApiKey");
  const tokenCount = pick(ctx, 1000, 1000);
  const rounds = pick(ctx, 5, 3);
  const durationMs = pick(ctx, 2000, 500);
  const warmupMs = pick(ctx, 300, 100);

  const tessera = await openTessera({ dataDir: tempDir(ctx, "in-process") });
  try {
    const { orgId } = await seedInstance(tessera);
    const tokens = await bulkInsertServiceTokens(tessera, orgId, tokenCount);
    const verifier = tessera.verifier;
    // Fill the cache and prove every token verifies before timing anything.
    for (const token of tokens) {
      const r = await verifier.verify({ token });
      if (r.code !== "VALID") throw new Error(`seeded token answered ${r.code}`);
    }
    const n = tokens.length;
    const verifyOp = (i: number) => verifier.verify({ token: tokens[i % n]! });

    // ---- a -------------------------------------------------------------------------------------------
    const byHash = new Map(tokens.map((t, i) => [createHash("sha256").update(t).digest("hex"), i]));
    const limitOp = (i: number) =>
      byHash.get(
        createHash("sha256")
          .update(tokens[i % n]!)
          .digest("hex"),
      );
    a.method.push(
      `${int(n)} service tokens in SQLite, all in the verifier's cache. Tessera: \`await tessera.verifier.verify({ token })\` ` +
        `in a sequential loop (clock read once per 256 calls, like the limit loop), rotating over the tokens (parse + checksum, SHA-256, cache, status/expiry/IP/scope checks, ` +
        'usage recorded in memory, metrics counter). Limit: a synchronous loop of `createHash("sha256").update(token).digest("hex")` ' +
        `+ \`Map.get\` over the same tokens. ${rounds} rounds of ${durationMs / 1000} s each (after ${warmupMs} ms of warm-up), ` +
        "the order flipping every round; the bar applies to the median of the per-round ratios.",
    );
    ctx.log(`a: ${rounds} rounds × ${durationMs} ms, Tessera verify vs SHA-256 + Map`);
    const missesBefore = verifier.stats.misses;
    const resA = await runAlternatingRounds({
      rounds,
      a: { name: "tessera", run: () => measureAsyncLoop(verifyOp, { durationMs, warmupMs }) },
      b: {
        name: "limit",
        run: async () => {
          measureSync(limitOp, { durationMs: warmupMs });
          return measureSync(limitOp, { durationMs });
        },
      },
      valueA: (r) => r.opsPerSec,
      valueB: (r) => r.opsPerSec,
      onRound: (r) =>
        ctx.log(
          `  round ${r.round}: Tessera ${int(r.a.opsPerSec)}/s, limit ${int(r.b.opsPerSec)}/s → ${(r.ratio * 100).toFixed(1)} %`,
        ),
    });
    const misses = verifier.stats.misses - missesBefore;
    a.tables.push({
      headers: ["round", "first", "Tessera verify/s", "limit ops/s", "Tessera / limit"],
      rows: [
        ...resA.rounds.map((r) => [
          String(r.round),
          r.first === "a" ? "Tessera" : "limit",
          int(r.a.opsPerSec),
          int(r.b.opsPerSec),
          `${(r.ratio * 100).toFixed(1)} %`,
        ]),
        ["**median**", "", int(resA.medianA), int(resA.medianB), `**${(resA.medianRatio * 100).toFixed(1)} %**`],
      ],
    });
    a.bars.push({
      what: "Tessera in-process warm verify / bare SHA-256 + Map loop (median of per-round ratios)",
      target: `≥ ${LIMIT_BAR * 100} %`,
      measured: `${(resA.medianRatio * 100).toFixed(1)} % (${int(resA.medianA)} vs ${int(resA.medianB)} per s; rounds ${(resA.minRatio * 100).toFixed(1)}–${(resA.maxRatio * 100).toFixed(1)} %)`,
      pass: resA.medianRatio >= LIMIT_BAR,
    });
    a.notes.push(
      `Cache misses during the measurement: ${int(misses)} (entries older than the cache TTL, 10 s by default, are re-read once), ` +
        "i.e. the loop is warm.",
    );

    // ---- b -------------------------------------------------------------------------------------------
    const baKeys = pick(ctx, 1000, 200);
    ctx.log(`b: building the better-auth baseline (${baKeys} keys via createApiKey)…`);
    const ba = await createBetterAuthBaseline({ keys: baKeys, dir: tempDir(ctx, "better-auth") });
    try {
      if (!(await ba.verify(ba.keys[0]!))) throw new Error("better-auth did not verify its own key");
      const baOp = (i: number) => ba.verify(ba.keys[i % ba.keys.length]!);
      const bRounds = pick(ctx, 3, 2);
      b.method.push(
        `Same process, same run. better-auth 1.7.5 + @better-auth/api-key 1.7.5 on a SQLite file (better-sqlite3, WAL, ` +
          `synchronous=NORMAL, rate limiting off), ${int(ba.keys.length)} keys made by \`auth.api.createApiKey\`, verified with ` +
          "`auth.api.verifyApiKey({ body: { key } })` (one SELECT and two UPDATEs per call, no cache). Tessera as in a. " +
          `Both at the same concurrency: sequential awaits, then 16 calls in flight; ${bRounds} alternating rounds of ` +
          `${durationMs / 1000} s per concurrency.`,
      );
      const rows: string[][] = [];
      for (const concurrency of [1, 16]) {
        ctx.log(`b: ${bRounds} rounds, concurrency ${concurrency}, Tessera vs better-auth`);
        const res = await runAlternatingRounds({
          rounds: bRounds,
          a: { name: "tessera", run: () => measureAsync(verifyOp, { durationMs, warmupMs, concurrency }) },
          b: { name: "better-auth", run: () => measureAsync(baOp, { durationMs, warmupMs, concurrency }) },
          valueA: (r) => r.opsPerSec,
          valueB: (r) => r.opsPerSec,
          onRound: (r) =>
            ctx.log(
              `  round ${r.round}: Tessera ${int(r.a.opsPerSec)}/s, better-auth ${int(r.b.opsPerSec)}/s → ${ratio(r.ratio, 0)}`,
            ),
        });
        for (const r of res.rounds) {
          rows.push([
            concurrency === 1 ? "sequential" : `${concurrency} in flight`,
            String(r.round),
            int(r.a.opsPerSec),
            `${ms(r.a.p50, 4)} / ${ms(r.a.p99, 4)}`,
            int(r.b.opsPerSec),
            `${ms(r.b.p50, 3)} / ${ms(r.b.p99, 3)}`,
            ratio(r.ratio, 0),
          ]);
        }
        rows.push([
          `**median** (${concurrency === 1 ? "sequential" : `${concurrency} in flight`})`,
          "",
          int(res.medianA),
          "",
          int(res.medianB),
          "",
          `**${ratio(res.medianRatio, 0)}**`,
        ]);
        b.bars.push({
          what: `Tessera / better-auth verifyApiKey, ${concurrency === 1 ? "sequential awaits" : `${concurrency} in flight`} (median ratio)`,
          target: `≥ ${BETTER_AUTH_BAR}×`,
          measured: `${ratio(res.medianRatio, 0)} (${int(res.medianA)} vs ${int(res.medianB)} per s)`,
          pass: res.medianRatio >= BETTER_AUTH_BAR,
        });
      }
      b.tables.push({
        headers: [
          "concurrency",
          "round",
          "Tessera verify/s",
          "Tessera p50 / p99",
          "better-auth verify/s",
          "better-auth p50 / p99",
          "ratio",
        ],
        rows,
      });
    } finally {
      await ba.close();
    }
  } finally {
    await tessera.dispose();
  }
  return [a, b];
}
