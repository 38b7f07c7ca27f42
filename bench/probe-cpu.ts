/**
 * Where the CPU goes in scenario c: per request, the CPU time of each thread of the Tessera server (and
 * of the bare server) and of the load generator, read from /proc while autocannon runs. CPU time per
 * request is far less disturbed by other work on the machine than throughput is. Not part of
 * `npm run bench`: `cd bench && npx tsx probe-cpu.ts [seconds] [rounds]`. Knobs: PROBE_ONLY=tessera|bare,
 * PROBE_PROF=<dir> (a V8 CPU profile of the Tessera server, Tessera rounds only), BARE_PROF=<dir> (the
 * same of the bare server), PROBE_STRACE=1 (`strace -c -f` of each server during its measured window, in
 * /tmp/strace-<name>.txt), PROBE_RATE=<req/s> (paced load instead of as fast as possible: CPU per request
 * then no longer depends on how the two processes happen to batch each other's work, which at full speed
 * moves it by ±15 % from one run to the next, so small changes can be compared).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnBareVerifyServer } from "./baselines/bare-http.js";
import { runAutocannon, verifyRequests } from "./lib/autocannon.js";
import { runPool } from "./lib/http.js";
import { threadCpu } from "./lib/proc.js";
import { bulkInsertServiceTokens, openTessera, seedInstance } from "./lib/tessera.js";
import { startTesseraServer } from "./lib/tessera-server.js";
import { expectValid } from "./scenarios/http.js";

const threads = threadCpu;
const seconds = Number(process.argv[2] ?? 8);
const rounds = Number(process.argv[3] ?? 2);
const dataDir = mkdtempSync(join(tmpdir(), "probe-cpu-"));
const seed = await openTessera({ dataDir });
const seeded = await seedInstance(seed);
const tokens = await bulkInsertServiceTokens(seed, seeded.orgId, 1000);
await seed.dispose();
const server = await startTesseraServer({ label: "probe", dataDir, env: {}, cpuProfileDir: process.env.PROBE_PROF });
const bare = await spawnBareVerifyServer(tokens);
const barePid = bare.pid;
await runPool(tokens.length, 16, (i) => expectValid(server.url, tokens[i]!, seeded.rootToken));
for (let r = 0; r < rounds; r++) {
  for (const [name, url, pid, bearer] of [
    ["tessera", server.url, server.pid, seeded.rootToken],
    ["bare", bare.url, barePid, undefined],
  ] as const) {
    if (process.env.PROBE_PROF && name === "bare") continue;
    if (process.env.PROBE_ONLY && name !== process.env.PROBE_ONLY) continue;
    await runAutocannon({
      url,
      connections: 50,
      durationSeconds: 2,
      requests: verifyRequests(tokens, bearer ? { authorization: `Bearer ${bearer}` } : {}),
    });
    const tracer =
      process.env.PROBE_STRACE && pid
        ? (await import("node:child_process")).spawn("strace", ["-c", "-f", "-p", String(pid), "-o", `/tmp/strace-${name}.txt`], {
            stdio: "ignore",
          })
        : undefined;
    if (tracer) await new Promise((r) => setTimeout(r, 500));
    const before = pid ? threads(pid) : new Map();
    const self0 = process.cpuUsage();
    const res = await runAutocannon({
      url,
      connections: 50,
      durationSeconds: seconds,
      rate: process.env.PROBE_RATE ? Number(process.env.PROBE_RATE) : undefined,
      requests: verifyRequests(tokens, bearer ? { authorization: `Bearer ${bearer}` } : {}),
    });
    const self = process.cpuUsage(self0);
    const after = pid ? threads(pid) : new Map();
    if (tracer) {
      tracer.kill("SIGINT");
      await new Promise((r) => tracer.once("exit", r));
      console.log(`strace of ${name}: /tmp/strace-${name}.txt, ${Math.round(res.rps * seconds)} requests`);
    }
    const n = res.rps * seconds;
    const parts = [...after].map(([k, v]) => [k, (v - (before.get(k) ?? 0)) / n] as const).filter(([, v]) => v > 0.05);
    const total = parts.reduce((s, [, v]) => s + v, 0);
    console.log(
      `${name.padEnd(8)} ${Math.round(res.rps)} req/s  server ${total.toFixed(1)} us/req [${parts.map(([k, v]) => `${k} ${v.toFixed(1)}`).join(", ")}]  loadgen ${((self.user + self.system) / n).toFixed(1)} us/req`,
    );
  }
}
await server.close();
await bare.close();
process.exit(0);
