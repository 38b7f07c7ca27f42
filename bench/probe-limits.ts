/**
 * Where the CPU goes in scenario g: per verification, the CPU time of each Tessera server's threads, of
 * the private redis-server, of PostgreSQL's processes and of the load generator, read from /proc while
 * both servers are loaded, for tokens without limits ("plain") and with one Redis-backed limit and
 * credits ("limited"). CPU per request is far less disturbed by other work on the machine than
 * throughput is. Not part of `npm run bench`: `cd bench && npx tsx probe-limits.ts [seconds] [rounds]`.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runAllCleanups } from "./lib/cleanup.js";
import type { BenchContext } from "./lib/context.js";
import { commandCpu, threadCpu } from "./lib/proc.js";
import { loadBoth, twoServers } from "./scenarios/limits.js";

const threads = threadCpu;
const allNamed = commandCpu;

/** PostgreSQL's counters over every database: commits, rows updated, inserted, fetched. */
function pgStats(): number[] {
  const out = execFileSync(
    "psql",
    [
      "-h",
      "127.0.0.1",
      "-U",
      "postgres",
      "-d",
      "postgres",
      "-Atc",
      "select sum(xact_commit), sum(tup_updated), sum(tup_inserted), sum(tup_fetched), sum(tup_returned) from pg_stat_database",
    ],
    { encoding: "utf8" },
  );
  return out.trim().split("|").map(Number);
}

const total = (m: Map<string, number>) => [...m.values()].reduce((s, v) => s + v, 0);

const seconds = Number(process.argv[2] ?? 5);
const rounds = Number(process.argv[3] ?? 2);
const ctx: BenchContext = {
  quick: false,
  tmp: mkdtempSync(join(tmpdir(), "probe-limits-")),
  postgres: true,
  cpuProfileDir: process.env.PROBE_PROF,
  log: (m) => console.log(m),
};
try {
  const setup = await twoServers(ctx, "probe", 200);
  const { plain, limited } = setup.tokens;
  await loadBoth(setup, plain, 50, 1);
  await loadBoth(setup, limited, 50, 1);
  for (let r = 0; r < rounds; r++) {
    for (const [kind, tokens] of [
      ["plain", plain],
      ["limited", limited],
    ] as const) {
      if (process.env.PROBE_ONLY && kind !== process.env.PROBE_ONLY) continue;
      const a0 = threads(setup.a.pid);
      const b0 = threads(setup.b.pid);
      const r0 = total(threads(setup.redisPid));
      const p0 = allNamed("postgres");
      const pg0 = pgStats();
      const self0 = process.cpuUsage();
      const res = await loadBoth(setup, tokens, 50, seconds);
      const self = process.cpuUsage(self0);
      const n = res.rps * seconds;
      await new Promise((r) => setTimeout(r, 700));
      const pg1 = pgStats();
      console.log(
        `  pg per 1,000 requests: ${["commits", "updated", "inserted", "fetched", "returned"].map((k, i) => `${k} ${((1000 * (pg1[i]! - pg0[i]!)) / n).toFixed(1)}`).join(", ")}`,
      );
      const a1 = threads(setup.a.pid);
      const b1 = threads(setup.b.pid);
      const per = (after: Map<string, number>, before: Map<string, number>) =>
        [...after].map(([k, v]) => [k, (v - (before.get(k) ?? 0)) / n] as const).filter(([, v]) => v > 0.05);
      const fmt = (parts: (readonly [string, number])[]) =>
        `${parts.reduce((s, [, v]) => s + v, 0).toFixed(1)} [${parts.map(([k, v]) => `${k} ${v.toFixed(1)}`).join(", ")}]`;
      console.log(
        `${kind.padEnd(8)} ${Math.round(res.rps)} req/s p99 ${res.p99} ms  A ${fmt(per(a1, a0))}  B ${fmt(per(b1, b0))}  ` +
          `redis ${((total(threads(setup.redisPid)) - r0) / n).toFixed(1)}  postgres ${((allNamed("postgres") - p0) / n).toFixed(1)}  ` +
          `loadgen ${((self.user + self.system) / n).toFixed(1)} µs/req`,
      );
    }
  }
  for (const server of [setup.a, setup.b]) {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    console.log(
      text
        .split("\n")
        .filter((l) => /^tessera_limits_|^tessera_verifier_cache/.test(l))
        .join("  "),
    );
  }
  await Promise.all([setup.a.close(), setup.b.close()]);
} finally {
  await runAllCleanups();
}
process.exit(0);
