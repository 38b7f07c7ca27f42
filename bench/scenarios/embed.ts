/**
 * Scenario j: embed sessions (SPEC §9, issue 10) — `POST /v1/embed/sessions`'s use case, in-process, on
 * SQLite and PostgreSQL: a returning host user (nothing to upsert: lookups and the handoff insert) and a
 * new host user each time (user, membership and audit inserts too). Uses only Tessera's build.
 */
import { type BenchContext, pick, tempDir } from "../lib/context.js";
import { int, ms, newSection, type Section } from "../lib/report.js";
import { createPgDatabase, openTessera, seedInstance } from "../lib/tessera.js";
import { measureAsync } from "../lib/throughput.js";

const META = { ip: "127.0.0.1", userAgent: "bench", traceId: "0".repeat(32) };

export async function embedScenario(ctx: BenchContext): Promise<Section> {
  const s = newSection("j", "j. Embed sessions (POST /v1/embed/sessions use case), SQLite and PostgreSQL");
  const durationMs = pick(ctx, 5000, 1500);
  const concurrency = 16;
  s.method.push(
    `In-process \`tessera.embed.createSession\` with a root token (orgs:provision), ${concurrency} calls in flight, ` +
      `${durationMs / 1000} s after 0.5 s of warm-up, per storage: "returning" mints sessions for 100 known host users ` +
      `of one organisation (no change to write: the lookups and one handoff insert); "new user" provisions a new host user ` +
      `each call (user, membership, audit events and the handoff, one transaction).`,
  );
  const table = { headers: ["storage", "case", "sessions/s", "p50", "p99"], rows: [] as string[][] };
  s.tables.push(table);
  const backends: ("sqlite" | "postgres")[] = ctx.postgres ? ["sqlite", "postgres"] : ["sqlite"];
  if (!ctx.postgres) s.notes.push("PostgreSQL was not reachable: only SQLite was measured.");
  for (const backend of backends) {
    const dataDir = tempDir(ctx, `embed-${backend}`);
    const db = backend === "postgres" ? await createPgDatabase() : undefined;
    const tessera = await openTessera({ dataDir, databaseUrl: db?.url });
    try {
      await seedInstance(tessera);
      const { token } = await tessera.tokens.createRoot("bench-embed", META);
      const actor = { type: "token" as const, token, owner: null };
      const input = (user: string, org = `bench-org-${backend}`) => ({
        user: { externalId: user, email: `${user}@host.test`, name: `Host ${user}` },
        organization: { externalId: org, name: "Bench host org" },
        role: "member" as const,
      });
      for (let i = 0; i < 100; i++) await tessera.embed.createSession(actor, input(`known-${i}`), META);
      ctx.log(`j: ${backend}: returning users`);
      const returning = await measureAsync((i) => tessera.embed.createSession(actor, input(`known-${i % 100}`), META), {
        durationMs,
        concurrency,
        warmupMs: 500,
      });
      table.rows.push([backend, "returning user", int(returning.opsPerSec), ms(returning.p50), ms(returning.p99)]);
      ctx.log(`j: ${backend}: new users`);
      // 500 new people per organisation: the members quota (1,000 by default) is never what is measured.
      const fresh = await measureAsync(
        (i) => tessera.embed.createSession(actor, input(`new-${i}`, `bench-new-${backend}-${Math.floor(i / 500)}`), META),
        {
          durationMs,
          concurrency,
          warmupMs: 500,
        },
      );
      table.rows.push([backend, "new user", int(fresh.opsPerSec), ms(fresh.p50), ms(fresh.p99)]);
    } finally {
      await tessera.dispose();
      await db?.drop();
    }
  }
  return s;
}
