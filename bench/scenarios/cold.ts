/**
 * Scenario d: cold verification — every verified token is outside the cache, so each answer needs a
 * storage read — on SQLite and on PostgreSQL: in-process (cache disabled) and over HTTP (a tiny cache,
 * many more tokens than fit).
 */
import { runAutocannon, verifyRequests } from "../lib/autocannon.js";
import { type BenchContext, pick, tempDir } from "../lib/context.js";
import { int, ms, newSection, type Section } from "../lib/report.js";
import { median } from "../lib/stats.js";
import { bulkInsertServiceTokens, createPgDatabase, openTessera, seedInstance } from "../lib/tessera.js";
import { startTesseraServer } from "../lib/tessera-server.js";
import { measureAsync } from "../lib/throughput.js";
import { expectValid } from "./http.js";

const CONNECTIONS = 50;
/** Holds the caller's root token (used on every request, so never evicted) and nothing the rotation reuses. */
const TINY_CACHE = 1000;

export async function coldScenario(ctx: BenchContext): Promise<Section> {
  const s = newSection("d", "d. Cold verify (tokens beyond the cache), SQLite and PostgreSQL");
  const tokenCount = pick(ctx, 50_000, 10_000);
  const rounds = pick(ctx, 3, 1);
  const durationSeconds = pick(ctx, 10, 3);
  const inProcessMs = pick(ctx, 2000, 500);
  s.method.push(
    `Each database holds ${int(tokenCount)} active service tokens (bulk-inserted). ` +
      `In-process: a second Tessera instance with \`TESSERA_CACHE_SIZE=0\` calls \`verifier.verify\` rotating over the tokens ` +
      `(sequential awaits, then 16 in flight), ${rounds} rounds of ${inProcessMs / 1000} s. ` +
      `HTTP: a Tessera server with \`TESSERA_CACHE_SIZE=${TINY_CACHE}\` under autocannon (${CONNECTIONS} connections, root bearer), ` +
      `each connection cycling through its own share of the tokens (${int(Math.ceil(tokenCount / CONNECTIONS))}): a token comes back only after ` +
      `~${int(tokenCount)} other requests, long after a ${int(TINY_CACHE)}-entry LRU evicted it, so every verified token is ` +
      `read from storage (the caller's root token stays cached, as it would in production). ${rounds} rounds of ${durationSeconds} s after 1 s of warm-up.`,
  );
  const table = {
    headers: ["storage", "mode", "rounds (verify/s)", "median verify/s", "p50", "p99"],
    rows: [] as string[][],
  };
  s.tables.push(table);

  const backends: ("sqlite" | "postgres")[] = ctx.postgres ? ["sqlite", "postgres"] : ["sqlite"];
  if (!ctx.postgres) s.notes.push("PostgreSQL was not reachable: only SQLite was measured.");
  for (const backend of backends) {
    const dataDir = tempDir(ctx, `cold-${backend}`);
    const db = backend === "postgres" ? await createPgDatabase() : undefined;
    try {
      ctx.log(`d: ${backend}: seeding ${int(tokenCount)} tokens`);
      let rootToken: string;
      let tokens: string[];
      const seed = await openTessera({ dataDir, databaseUrl: db?.url });
      try {
        const seeded = await seedInstance(seed);
        rootToken = seeded.rootToken;
        tokens = await bulkInsertServiceTokens(seed, seeded.orgId, tokenCount);
      } finally {
        await seed.dispose();
      }

      // In-process, cache disabled.
      const cold = await openTessera({ dataDir, databaseUrl: db?.url, cacheSize: 0 });
      try {
        const op = async (i: number) => {
          const r = await cold.verifier.verify({ token: tokens[i % tokens.length]! });
          if (r.code !== "VALID") throw new Error(`cold in-process verify answered ${r.code}`);
        };
        for (const concurrency of [1, 16]) {
          ctx.log(`d: ${backend}: in-process, cache off, concurrency ${concurrency}`);
          const results = [];
          for (let r = 0; r < rounds; r++)
            results.push(await measureAsync(op, { durationMs: inProcessMs, warmupMs: 200, concurrency }));
          const queries = cold.store.stats.queries;
          table.rows.push([
            backend,
            `in-process, cache off, ${concurrency === 1 ? "sequential" : `${concurrency} in flight`}`,
            results.map((r) => int(r.opsPerSec)).join(", "),
            int(median(results.map((r) => r.opsPerSec))),
            ms(median(results.map((r) => r.p50)), 3),
            ms(median(results.map((r) => r.p99)), 3),
          ]);
          if (queries === 0) throw new Error("cold in-process run made no storage reads: the cache was not off");
        }
      } finally {
        await cold.dispose();
      }

      // HTTP, tiny cache.
      const server = await startTesseraServer({
        label: `tessera (d, ${backend})`,
        dataDir,
        databaseUrl: db?.url,
        cacheSize: TINY_CACHE,
        cpuProfileDir: ctx.cpuProfileDir,
      });
      try {
        await expectValid(server.url, tokens[0]!, rootToken);
        ctx.log(`d: ${backend}: HTTP, ${rounds} rounds × ${durationSeconds} s`);
        const results = [];
        let bad = 0;
        for (let r = 0; r < rounds; r++) {
          // Each round starts from a different point of the rotation, so no round reuses the previous one's tokens early.
          const shift = Math.floor((r * tokens.length) / (rounds + 1));
          const rotated = [...tokens.slice(shift), ...tokens.slice(0, shift)];
          const res = await runAutocannon({
            url: server.url,
            connections: CONNECTIONS,
            durationSeconds,
            warmupSeconds: 1,
            split: true,
            requests: verifyRequests(rotated, { authorization: `Bearer ${rootToken}` }),
          });
          bad += res.non2xx + res.errors;
          ctx.log(`  round ${r + 1}: ${int(res.rps)} req/s, p50 ${ms(res.p50)}, p99 ${ms(res.p99)}`);
          results.push(res);
        }
        table.rows.push([
          backend,
          `HTTP, cache ${int(TINY_CACHE)}, ${CONNECTIONS} connections`,
          results.map((r) => int(r.rps)).join(", "),
          int(median(results.map((r) => r.rps))),
          ms(median(results.map((r) => r.p50))),
          ms(median(results.map((r) => r.p99))),
        ]);
        if (bad > 0) s.notes.push(`${backend} HTTP: ${bad} non-2xx answers or connection errors.`);
      } finally {
        await server.close();
      }
    } finally {
      await db?.drop();
    }
  }
  s.notes.push(
    "Compare with scenario c (same endpoint, warm): the difference is the price of one storage read per verification. " +
      "No bar is set for cold verification; the figures are reported.",
  );
  return s;
}
