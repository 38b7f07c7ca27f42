/**
 * Scenario e: two Tessera servers (A and B) on one PostgreSQL database. For each of ≥ 50 tokens: create
 * it on A, verify it on B until B has it cached, revoke it on A, then poll B's /v1/verify back to back and
 * record the time from A's revoke response to B's first non-VALID answer.
 */
import { type BenchContext, pick, sleep, tempDir } from "../lib/context.js";
import { postJson } from "../lib/http.js";
import { int, ms, newSection, type Section } from "../lib/report.js";
import { latencySummary, median } from "../lib/stats.js";
import { createPgDatabase, openTessera, seedInstance } from "../lib/tessera.js";
import { startTesseraServer } from "../lib/tessera-server.js";
import type { VerifyAnswer } from "./http.js";

const P99_BAR_MS = 1000;
const AIM_MS = 100;
/** A poll loop longer than this is recorded as a failure (the TTL fallback alone would answer within 10 s). */
const GIVE_UP_MS = 15_000;

export async function revocationScenario(ctx: BenchContext): Promise<Section> {
  const s = newSection("e", "e. Cross-instance revocation delay (two servers, one PostgreSQL)");
  if (!ctx.postgres) {
    s.error = "PostgreSQL is not reachable (BENCH_PG_URL); scenario skipped.";
    return s;
  }
  const revocations = pick(ctx, 100, 50);
  const db = await createPgDatabase();
  try {
    const seed = await openTessera({ dataDir: tempDir(ctx, "revocation-seed"), databaseUrl: db.url });
    let orgId: string;
    let rootToken: string;
    try {
      ({ orgId, rootToken } = await seedInstance(seed));
    } finally {
      await seed.dispose();
    }
    const a = await startTesseraServer({
      label: "tessera A (e)",
      dataDir: tempDir(ctx, "revocation-a"),
      databaseUrl: db.url,
      cpuProfileDir: ctx.cpuProfileDir,
    });
    const b = await startTesseraServer({
      label: "tessera B (e)",
      dataDir: tempDir(ctx, "revocation-b"),
      databaseUrl: db.url,
      cpuProfileDir: ctx.cpuProfileDir,
    });
    try {
      s.method.push(
        "Servers A and B: `node bin/tessera.js serve`, each its own process and port, both on one fresh PostgreSQL database " +
          "(default cache: 100,000 entries, 10 s TTL; invalidation over LISTEN/NOTIFY). " +
          `For each of ${revocations} tokens: \`POST /v1/orgs/{org}/tokens\` on A (root bearer); \`POST /v1/verify\` on B until it ` +
          "answers VALID twice in a row (the token is now in B's cache); `POST /v1/orgs/{org}/tokens/{id}/revoke` on A; as soon as A's " +
          "response has arrived, `POST /v1/verify` on B back to back (one keep-alive connection, next request as soon as the answer " +
          "arrives) until the answer is not VALID. The delay is from A's revoke response to B's first non-VALID answer, so it " +
          "includes one B round trip.",
      );
      const verifyB = (token: string) => postJson<VerifyAnswer>(b.url, "/v1/verify", { token }, rootToken);
      const delays: number[] = [];
      const staleAnswers: number[] = [];
      const finalCodes = new Map<string, number>();
      const pollRoundTrips: number[] = [];
      let failures = 0;
      ctx.log(`e: ${revocations} revocations, A → B`);
      for (let i = 0; i < revocations; i++) {
        const created = await postJson<{ token: { id: string }; secret: string }>(
          a.url,
          `/v1/orgs/${orgId}/tokens`,
          { name: `revoke-${i}`, kind: "service", scopes: ["tokens:read"] },
          rootToken,
        );
        if (created.status !== 201) throw new Error(`create on A: ${created.status} ${JSON.stringify(created.body)}`);
        const { token, secret } = created.body;
        let validInARow = 0;
        for (let attempt = 0; validInARow < 2; attempt++) {
          if (attempt > 100) throw new Error(`B never answered VALID for a token created on A (last: ${validInARow})`);
          const t0 = performance.now();
          const r = await verifyB(secret);
          pollRoundTrips.push(performance.now() - t0);
          validInARow = r.body.code === "VALID" ? validInARow + 1 : 0;
        }
        const revoked = await postJson<{ status: string }>(a.url, `/v1/orgs/${orgId}/tokens/${token.id}/revoke`, {}, rootToken);
        const revokedAt = performance.now();
        if (revoked.status !== 200) throw new Error(`revoke on A: ${revoked.status} ${JSON.stringify(revoked.body)}`);
        let stale = 0;
        for (;;) {
          const r = await verifyB(secret);
          const now = performance.now();
          if (r.body.code !== "VALID") {
            delays.push(now - revokedAt);
            finalCodes.set(r.body.code, (finalCodes.get(r.body.code) ?? 0) + 1);
            break;
          }
          stale++;
          if (now - revokedAt > GIVE_UP_MS) {
            failures++;
            delays.push(now - revokedAt);
            break;
          }
        }
        staleAnswers.push(stale);
        // A short, varying pause so the revocations do not fall into lockstep with the servers' timers.
        await sleep(5 + (i % 7) * 3);
      }
      const summary = latencySummary(delays);
      const sorted = [...delays].sort((x, y) => x - y);
      const staleTotal = staleAnswers.reduce((n, x) => n + x, 0);
      ctx.log(`  delay p50 ${ms(summary.p50)}, p99 ${ms(summary.p99)}, max ${ms(summary.max)}`);
      s.tables.push({
        headers: [
          "revocations",
          "p50",
          "p99",
          "max",
          "min",
          "B answers still VALID after the revoke response",
          "B's first non-VALID code",
        ],
        rows: [
          [
            int(delays.length),
            ms(summary.p50),
            ms(summary.p99),
            ms(summary.max),
            ms(sorted[0]!),
            `${staleTotal} in total (${staleAnswers.filter((x) => x > 0).length} of ${delays.length} revocations)`,
            [...finalCodes].map(([code, n]) => `${code} × ${n}`).join(", "),
          ],
        ],
      });
      s.tables.push({
        caption: "Every delay, in order (ms)",
        headers: ["delays"],
        rows: [[delays.map((d) => d.toFixed(1)).join(", ")]],
      });
      s.bars.push({
        what: `Revocation delay A → B, p99 over ${delays.length} revocations`,
        target: `≤ ${P99_BAR_MS} ms (aim ≤ ${AIM_MS} ms)`,
        measured: `${ms(summary.p99)} (p50 ${ms(summary.p50)}, max ${ms(summary.max)})${summary.p99 <= AIM_MS ? ", within the aim" : ""}`,
        pass: summary.p99 <= P99_BAR_MS && failures === 0,
      });
      s.notes.push(
        `Median round trip of one POST /v1/verify to B from the benchmark process: ${ms(median(pollRoundTrips), 3)} ` +
          "(the resolution of the delay figures).",
      );
      if (failures > 0) s.notes.push(`${failures} revocation(s) still answered VALID on B after ${GIVE_UP_MS / 1000} s.`);
    } finally {
      await b.close();
      await a.close();
    }
  } finally {
    await db.drop();
  }
  return s;
}
