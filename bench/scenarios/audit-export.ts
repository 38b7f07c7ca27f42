/**
 * Scenario x: `GET /v1/orgs/{orgId}/audit/export` over a million audit events (issue 11): the server's
 * resident memory sampled while it streams the whole log, to show it stays flat (the export reads a
 * page at a time and writes as the client reads).
 */
import { request } from "node:http";
import { type BenchContext, pick, tempDir } from "../lib/context.js";
import { int, mib, newSection, type Section, secs } from "../lib/report.js";
import { openTessera, seedInstance } from "../lib/tessera.js";
import { startTesseraServer } from "../lib/tessera-server.js";

/** The RSS may grow by at most this much while streaming (a leak or a buffered export would grow by hundreds of MiB). */
const RSS_GROWTH_BAR = 64 * 1024 * 1024;

export async function auditExportScenario(ctx: BenchContext): Promise<Section> {
  const total = pick(ctx, 1_000_000, 50_000);
  const s = newSection("x", `x. Audit export of ${int(total)} events: server memory`);
  s.method.push(
    `${int(total)} audit events bulk-loaded (one INSERT … SELECT over a recursive CTE, SQLite) into one organisation, with ` +
      "seq/prevHash/hash filled as an export carries them (not a valid chain: the export does not check it). A Tessera " +
      "server then streams `GET /v1/orgs/{orgId}/audit/export?format=csv` and `?format=ndjson` to a client that reads " +
      "as fast as it can; the server's VmRSS is sampled every 100 ms.",
  );
  const table = {
    headers: ["format", "bytes", "time", "RSS before", "RSS max while streaming", "RSS after"],
    rows: [] as string[][],
  };
  s.tables.push(table);
  const dataDir = tempDir(ctx, "audit-export");
  const seeded = await openTessera({ dataDir });
  let orgId: string;
  let rootToken: string;
  try {
    ({ orgId, rootToken } = await seedInstance(seeded));
    const { sql } = await import("kysely");
    const t0 = performance.now();
    await sql
      .raw(
        `insert into audit_events (id, at, org_id, action, actor_type, actor_id, actor_name, target_type, target_id, target_name,
           ip, user_agent, trace_id, details, seq, prev_hash, hash)
         with recursive s(g) as (select 1 union all select g + 1 from s where g < ${total})
         select 'evt_' || printf('%022d', g), ${Date.now() - total} + g, '${orgId}', 'token.updated', 'user', 'usr_bench',
           'Bench "quoted", person', 'token', 'tok_' || printf('%022d', g % 1000), 'token ' || g, '203.0.113.' || (g % 250),
           'Mozilla/5.0 (X11; Linux x86_64)', printf('%032x', g),
           '{"changes":{"name":{"from":"a","to":"b"}},"note":"line one\\nline two"}', 1000 + g,
           printf('%064x', g - 1), printf('%064x', g)
         from s`,
      )
      .execute(seeded.store.db);
    ctx.log(`   ${int(total)} events loaded in ${secs((performance.now() - t0) / 1000)}`);
  } finally {
    await seeded.dispose();
  }
  const server = await startTesseraServer({ label: "audit-export", dataDir });
  try {
    for (const format of ["csv", "ndjson"]) {
      // The previous export may have left the event loop late enough for the pressure guard to refuse
      // (503) for a moment: wait until /readyz answers 200 again, and say how long that took.
      const waited = await untilReady(server.url);
      if (waited > 0) s.notes.push(`Before the ${format} export /readyz answered 503 (event loop late) for ${secs(waited)}.`);
      const before = server.rssBytes();
      let max = before;
      const sampler = setInterval(() => {
        max = Math.max(max, server.rssBytes());
      }, 100);
      const t0 = performance.now();
      const bytes = await new Promise<number>((resolve, reject) => {
        const req = request(
          `${server.url}/v1/orgs/${orgId}/audit/export?format=${format}`,
          { headers: { authorization: `Bearer ${rootToken}` } },
          (res) => {
            const failed = res.statusCode !== 200;
            const body: Buffer[] = [];
            let n = 0;
            res.on("data", (chunk: Buffer) => {
              n += chunk.length;
              if (failed) body.push(chunk);
            });
            res.on("end", () =>
              failed ? reject(new Error(`export ${format} → ${res.statusCode}: ${Buffer.concat(body).toString()}`)) : resolve(n),
            );
            res.on("error", reject);
          },
        );
        req.on("error", reject);
        req.end();
      }).finally(() => clearInterval(sampler));
      const seconds = (performance.now() - t0) / 1000;
      const after = server.rssBytes();
      table.rows.push([format, mib(bytes), secs(seconds), mib(before), mib(max), mib(after)]);
      ctx.log(`   ${format}: ${mib(bytes)} in ${secs(seconds)}, RSS ${mib(before)} → max ${mib(max)} → ${mib(after)}`);
      s.bars.push({
        what: `${format}: RSS growth while streaming ${mib(bytes)}`,
        target: `≤ ${mib(RSS_GROWTH_BAR)}`,
        measured: mib(max - before),
        pass: max - before <= RSS_GROWTH_BAR,
      });
    }
  } finally {
    await server.close();
  }
  return s;
}

/** Seconds until `GET /readyz` answers 200 (at most 60). */
async function untilReady(url: string): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const res = await fetch(`${url}/readyz`).catch(() => undefined);
    await res?.body?.cancel();
    if (res?.status === 200) return (performance.now() - t0) / 1000;
    if (performance.now() - t0 > 60_000) throw new Error("the server did not become ready within 60 s");
    await new Promise((r) => setTimeout(r, 250));
  }
}
