/**
 * The benchmark proper (issue 3, point 7), loaded by bench/run.ts once dependencies and the build are in
 * place. Runs every scenario in one process on this machine, prints progress, and writes docs/benchmarks.md.
 *
 * Environment knobs:
 *   BENCH_QUICK=1          smoke run (~2 min): fewer/shorter rounds, smaller data sets; figures indicative only
 *   BENCH_ONLY=a,c,e       run only these scenarios (a and b always run together; i, j and s alone need no bench dependencies;
 *                          l = token list at 1M tokens, x = audit export memory, s = tessera scan MB/s, all in the default set;
 *                          g and h = limits and credits in Redis, two servers, always run together, need redis-server;
 *                          w = webhook deliveries/s and a 100,000-event backlog vs API p99, also in the default set)
 *   BENCH_F_POSTGRES=0     skip the PostgreSQL half of scenario f (loading a million rows takes a while)
 *   BENCH_PG_URL=…         admin URL for throw-away databases (default postgres://postgres@127.0.0.1:5432/postgres)
 *   BENCH_CPU_PROF=<dir>   every Tessera server writes a V8 CPU profile into <dir> (node --cpu-prof)
 *   BENCH_OUT=<file>       where to write the report (default docs/benchmarks.md)
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { installSignalCleanup, onCleanup, runAllCleanups } from "./lib/cleanup.js";
import type { BenchContext } from "./lib/context.js";
import { closeHttpClient } from "./lib/http.js";
import { describeMachine, newSection, renderReport, type Section } from "./lib/report.js";
import { ADMIN_PG_URL, postgresAvailable } from "./lib/tessera.js";
import { REPO_ROOT } from "./lib/tessera-server.js";

const quick = process.env.BENCH_QUICK === "1" || process.env.BENCH_QUICK === "true";
const only = new Set(
  (process.env.BENCH_ONLY ?? "a,b,c,d,e,f,g,h,i,j,l,x,s,w")
    .split(",")
    .map((x) => x.trim().toLowerCase())
    .filter(Boolean),
);
const outFile = resolve(REPO_ROOT, process.env.BENCH_OUT ?? "docs/benchmarks.md");
const started = performance.now();
const cores = describeMachine().cores;
/** Highest 1-minute load average seen at a scenario boundary. */
let maxLoad = 0;

function log(message: string): void {
  const t = ((performance.now() - started) / 1000).toFixed(0).padStart(4);
  console.log(`[${t} s] ${message}`);
}

/** Runs one scenario; a failure becomes an error entry in the report instead of ending the run. */
async function attempt(id: string, title: string, run: () => Promise<Section | Section[]>): Promise<Section[]> {
  const t0 = performance.now();
  const loadBefore = loadavg()[0]!;
  log(`── ${title} (load average ${loadBefore.toFixed(2)})`);
  const noteLoad = (sections: Section[]): void => {
    const loadAfter = loadavg()[0]!;
    // Other processes competing for the cores make every figure noisier; say so next to the figures.
    for (const s of sections) {
      s.notes.push(
        `1-minute load average of the machine: ${loadBefore.toFixed(2)} before the scenario, ${loadAfter.toFixed(2)} after (${cores} cores).`,
      );
    }
    maxLoad = Math.max(maxLoad, loadBefore, loadAfter);
  };
  try {
    const result = await run();
    const sections = Array.isArray(result) ? result : [result];
    for (const s of sections) s.wallSeconds = (performance.now() - t0) / 1000 / sections.length;
    noteLoad(sections);
    for (const s of sections)
      for (const b of s.bars) log(`   ${b.pass ? "PASS" : "FAIL"}  ${b.what}: ${b.measured} (target ${b.target})`);
    return sections;
  } catch (error) {
    const s = newSection(id, title);
    s.error = error instanceof Error ? (error.stack ?? error.message) : String(error);
    s.wallSeconds = (performance.now() - t0) / 1000;
    noteLoad([s]);
    log(`   ERROR in ${title}: ${s.error}`);
    return [s];
  }
}

async function main(): Promise<void> {
  installSignalCleanup();
  const machine = describeMachine();
  const tmp = mkdtempSync(join(tmpdir(), "tessera-bench-"));
  // Registered first, so it runs last: after the servers using it have stopped.
  onCleanup("temporary directory", () => rmSync(tmp, { recursive: true, force: true }));
  const postgres = await postgresAvailable();
  const cpuProfileDir = process.env.BENCH_CPU_PROF ? resolve(process.env.BENCH_CPU_PROF) : undefined;
  if (cpuProfileDir) mkdirSync(cpuProfileDir, { recursive: true });
  const ctx: BenchContext = { quick, tmp, postgres, cpuProfileDir, log };
  log(
    `Tessera benchmark (${quick ? "BENCH_QUICK smoke run" : "full run"}) on ${machine.cores} cores, ${machine.cpu}, ` +
      `${machine.memory}, node ${machine.node}; PostgreSQL ${postgres ? "available" : "NOT reachable"} at ${new URL(ADMIN_PG_URL).host}`,
  );

  const sections: Section[] = [];
  try {
    // Scenarios are imported when selected: most need the bench package's dependencies (autocannon,
    // better-auth), and a run of scenario i alone must not.
    if (only.has("a") || only.has("b")) {
      const { inProcessScenarios } = await import("./scenarios/in-process.js");
      sections.push(...(await attempt("a", "a/b. In-process verification", () => inProcessScenarios(ctx))));
    }
    if (only.has("c")) {
      const { httpScenario } = await import("./scenarios/http.js");
      sections.push(...(await attempt("c", "c. HTTP POST /v1/verify vs bare node:http", () => httpScenario(ctx))));
    }
    if (only.has("d")) {
      const { coldScenario } = await import("./scenarios/cold.js");
      sections.push(...(await attempt("d", "d. Cold verify", () => coldScenario(ctx))));
    }
    if (only.has("g") || only.has("h")) {
      const { limitsScenario } = await import("./scenarios/limits.js");
      sections.push(...(await attempt("g", "g/h. Limits and credits in Redis (two servers)", () => limitsScenario(ctx))));
    }
    if (only.has("e")) {
      const { revocationScenario } = await import("./scenarios/revocation.js");
      sections.push(...(await attempt("e", "e. Cross-instance revocation delay", () => revocationScenario(ctx))));
    }
    if (only.has("f")) {
      const withPg = process.env.BENCH_F_POSTGRES !== "0";
      const { millionScenario } = await import("./scenarios/million.js");
      sections.push(...(await attempt("f", "f. One million tokens", () => millionScenario(ctx, { postgres: withPg }))));
    }
    if (only.has("l")) {
      const { tokenListScenario } = await import("./scenarios/token-list.js");
      sections.push(...(await attempt("l", "l. Token list at 1M tokens", () => tokenListScenario(ctx))));
    }
    if (only.has("x")) {
      const { auditExportScenario } = await import("./scenarios/audit-export.js");
      sections.push(...(await attempt("x", "x. Audit export memory", () => auditExportScenario(ctx))));
    }
    if (only.has("s")) {
      const { scanScenario } = await import("./scenarios/scan.js");
      sections.push(...(await attempt("s", "s. tessera scan throughput", () => scanScenario(ctx))));
    }
    if (only.has("w")) {
      const { webhooksScenario } = await import("./scenarios/webhooks.js");
      sections.push(...(await attempt("w", "w. Webhook delivery", () => webhooksScenario(ctx))));
    }
    if (only.has("j")) {
      const { embedScenario } = await import("./scenarios/embed.js");
      sections.push(...(await attempt("j", "j. Embed sessions", () => embedScenario(ctx))));
    }
    if (only.has("i")) {
      const { floodScenario } = await import("./scenarios/flood.js");
      sections.push(...(await attempt("i", "i. POST /v1/verify under a hostile flood", () => floodScenario(ctx))));
    }
  } finally {
    await runAllCleanups();
    closeHttpClient();
  }

  const wallSeconds = (performance.now() - started) / 1000;
  const command = `${quick ? "BENCH_QUICK=1 " : ""}${process.env.BENCH_ONLY ? `BENCH_ONLY=${process.env.BENCH_ONLY} ` : ""}npm run bench`;
  const report = renderReport({
    machine,
    command,
    mode: quick ? "smoke run: short rounds, small data sets — indicative figures only" : "full run",
    wallSeconds,
    sections,
    settings: [
      "Servers: `node bin/tessera.js serve` from the build made at the start of the run (`npm run build:server`), " +
        "127.0.0.1, `TESSERA_LOG_LEVEL=warn` (Fastify's per-request info log off), other settings default unless a scenario says otherwise.",
      "Load generator: autocannon 8 in the benchmark process; servers under test in their own processes.",
      `Highest 1-minute load average seen between scenarios: ${maxLoad.toFixed(2)} on ${cores} cores` +
        (maxLoad > Number(cores)
          ? " — **the machine was busy with other work during the run; absolute figures are depressed and noisier than on an idle machine** (ratios from alternating rounds are less affected)."
          : "."),
    ],
  });
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, report);
  const failed = sections.flatMap((s) => s.bars.filter((b) => !b.pass).map((b) => `${s.id}: ${b.what}`));
  const errors = sections.filter((s) => s.error).map((s) => s.id);
  log(`Report written to ${outFile} (${(wallSeconds / 60).toFixed(1)} min).`);
  if (failed.length > 0) log(`Bars not met: ${failed.join("; ")}`);
  if (errors.length > 0) log(`Scenarios that failed to run: ${errors.join(", ")}`);
  // The benchmark measures; it does not gate. Exit 1 only if a scenario could not run at all.
  process.exitCode = errors.length > 0 ? 1 : 0;
}

await main();
