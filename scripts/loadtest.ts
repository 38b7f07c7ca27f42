/**
 * Load with faults (`npm run loadtest`): two Tessera server processes on one fresh PostgreSQL database,
 * sustained verification traffic on both plus management traffic, a revocation every second on
 * alternating instances (the other instance is polled until it answers REVOKED), and instance B
 * restarted gracefully (SIGTERM, start again on the same port) halfway through.
 *
 *   LOADTEST_SECONDS       duration (default 300)
 *   LOADTEST_CONNECTIONS   concurrent verification loops per instance (default 8)
 *   LOADTEST_OUT           where to write the figures as JSON (default: none)
 *   TESSERA_TEST_PG_URL    the PostgreSQL server (default postgres://postgres@127.0.0.1:5432/postgres)
 *
 * Everything binds and connects to 127.0.0.1. The servers, the database and the temporary directory
 * are removed at the end, on failure and on Ctrl-C.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import { join } from "node:path";
import { loadConfig } from "../src/config.js";
import { systemMeta } from "../src/services/request-meta.js";
import { createStore } from "../src/store/database.js";
import { createTessera } from "../src/tessera.js";
import { createPostgresDatabase, type TestDatabase } from "../test/support/databases.js";
import {
  killAllServers,
  percentile,
  type Reply,
  request,
  type ServerProcess,
  seedStorage,
  sleep,
  startServer,
} from "../test/support/processes.js";

const SECONDS = Number(process.env.LOADTEST_SECONDS ?? 300);
const CONNECTIONS = Number(process.env.LOADTEST_CONNECTIONS ?? 8);
const STEADY_TOKENS = 100;
const BOUND_MS = 1_000;

type Name = "A" | "B";

interface InstanceStats {
  verifications: number;
  latencies: number[];
  codes: Record<string, number>;
  fiveXxDuringRestart: number;
  fiveXxOther: number;
  connectionErrorsDuringRestart: number;
  connectionErrorsOther: number;
  /** Connection errors by code (ECONNREFUSED while the instance is down, ECONNRESET if a request is cut). */
  connectionErrorCodes: Record<string, number>;
  management: number;
  managementLatencies: number[];
  managementFailures: string[];
}

const blank = (): InstanceStats => ({
  verifications: 0,
  latencies: [],
  codes: {},
  fiveXxDuringRestart: 0,
  fiveXxOther: 0,
  connectionErrorsDuringRestart: 0,
  connectionErrorsOther: 0,
  connectionErrorCodes: {},
  management: 0,
  managementLatencies: [],
  managementFailures: [],
});

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(os.tmpdir(), "tessera-loadtest-"));
  let database: TestDatabase | undefined;
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    killAllServers();
    await database?.drop().catch((error) => console.error(`could not drop the database: ${String(error)}`));
    rmSync(dataDir, { recursive: true, force: true });
  };
  const interrupted = () => {
    console.error("interrupted: cleaning up");
    void cleanup().finally(() => process.exit(130));
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  // A last resort: nothing outlives the planned duration by more than two minutes.
  const watchdog = setTimeout(
    () => {
      console.error("watchdog: the load test overran; cleaning up");
      void cleanup().finally(() => process.exit(2));
    },
    (SECONDS + 120) * 1000,
  );

  try {
    database = await createPostgresDatabase();
    const seed = await seedStorage({ dataDir, databaseUrl: database.url });
    const tokensPath = `/v1/orgs/${seed.orgId}/tokens`;

    // Tokens the verification traffic uses (made through the service, like the CLI would).
    const steady: { id: string; secret: string }[] = [];
    let verifierSecret = "";
    {
      const t = await createTessera(
        loadConfig({ TESSERA_DATA_DIR: dataDir, TESSERA_LOG_LEVEL: "silent" }, { databaseUrl: database.url }),
      );
      try {
        const access = await t.orgs.access({ type: "system" }, seed.orgId);
        const meta = systemMeta();
        for (let i = 0; i < STEADY_TOKENS; i++) {
          const made = await t.tokens.create(access, { name: `steady ${i}`, kind: "service", scopes: ["tokens:read"] }, meta);
          steady.push({ id: made.token.id, secret: made.secret });
        }
        verifierSecret = (
          await t.tokens.create(access, { name: "backend verifier", kind: "service", scopes: ["tokens:verify"] }, meta)
        ).secret;
      } finally {
        await t.close();
      }
    }

    const env = { TESSERA_DATA_DIR: dataDir, TESSERA_DATABASE_URL: database.url, TESSERA_LOG_LEVEL: "warn" };
    const servers: Record<Name, ServerProcess> = { A: await startServer(env), B: await startServer(env) };
    const up: Record<Name, boolean> = { A: true, B: true };
    const stats: Record<Name, InstanceStats> = { A: blank(), B: blank() };
    let restartWindow: { from: number; to: number } | undefined;
    const inRestart = (name: Name, at: number) =>
      name === "B" && restartWindow !== undefined && at >= restartWindow.from && at <= restartWindow.to;

    const observedValid = new Map<string, number>();
    const recentlyRevoked: { secret: string; ackAt: number }[] = [];
    let revokedAcceptedAfterBound = 0;
    let revokedAcceptedWithinBound = 0;
    const propagation: number[] = [];
    let revocations = 0;
    let revocationsSkipped = 0;
    const revocationFailures: string[] = [];

    const started = Date.now();
    const deadline = started + SECONDS * 1000;
    const running = () => Date.now() < deadline;

    const verifyLoop = async (name: Name, agent: http.Agent) => {
      while (running()) {
        const s = stats[name];
        const useRevoked = recentlyRevoked.length > 0 && Math.random() < 0.05;
        const revoked = useRevoked ? recentlyRevoked[Math.floor(Math.random() * recentlyRevoked.length)]! : undefined;
        const token = revoked ? undefined : steady[Math.floor(Math.random() * steady.length)]!;
        let res: Reply;
        try {
          res = await request(servers[name].base, "POST", "/v1/verify", {
            bearer: verifierSecret,
            body: { token: revoked ? revoked.secret : token!.secret },
            agent,
            timeoutMs: 10_000,
          });
        } catch (error) {
          if (inRestart(name, Date.now())) s.connectionErrorsDuringRestart++;
          else s.connectionErrorsOther++;
          const code = String((error as { code?: string }).code ?? "other");
          s.connectionErrorCodes[code] = (s.connectionErrorCodes[code] ?? 0) + 1;
          await sleep(up[name] ? 5 : 50);
          continue;
        }
        const at = Date.now();
        s.verifications++;
        s.latencies.push(res.ms);
        const code = res.status === 200 ? String(res.body?.code) : `HTTP ${res.status}`;
        s.codes[code] = (s.codes[code] ?? 0) + 1;
        if (res.status >= 500) {
          if (inRestart(name, at)) s.fiveXxDuringRestart++;
          else s.fiveXxOther++;
        }
        if (res.body?.code === "VALID") {
          if (revoked) {
            if (at > revoked.ackAt + BOUND_MS) revokedAcceptedAfterBound++;
            else revokedAcceptedWithinBound++;
          } else {
            observedValid.set(token!.id, (observedValid.get(token!.id) ?? 0) + 1);
          }
        }
      }
    };

    const managementLoop = async (name: Name) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      for (let i = 0; running(); i++) {
        const s = stats[name];
        try {
          const res =
            i % 2 === 0
              ? await request(servers[name].base, "POST", tokensPath, {
                  bearer: seed.rootSecret,
                  body: { name: `load ${name} ${i}`, kind: "service", scopes: ["tokens:read"] },
                  agent,
                })
              : await request(servers[name].base, "GET", `${tokensPath}?limit=20`, { bearer: seed.rootSecret, agent });
          s.management++;
          s.managementLatencies.push(res.ms);
          if (res.status >= 500) {
            if (inRestart(name, Date.now())) s.fiveXxDuringRestart++;
            else s.fiveXxOther++;
          }
          if (res.status >= 300 && !inRestart(name, Date.now()))
            s.managementFailures.push(`${res.status} ${res.raw.slice(0, 200)}`);
        } catch (error) {
          if (inRestart(name, Date.now())) s.connectionErrorsDuringRestart++;
          else s.connectionErrorsOther++;
          const code = String((error as { code?: string }).code ?? "other");
          s.connectionErrorCodes[code] = (s.connectionErrorCodes[code] ?? 0) + 1;
          await sleep(50);
        }
        await sleep(25);
      }
      agent.destroy();
    };

    const checks: Promise<void>[] = [];
    const watch = async (i: number, here: Name, there: Name, secret: string, ackAt: number, agent: http.Agent) => {
      let delay: number | undefined;
      try {
        while (Date.now() < ackAt + (delay === undefined ? 5_000 : BOUND_MS + 200)) {
          const res = await request(servers[there].base, "POST", "/v1/verify", {
            bearer: verifierSecret,
            body: { token: secret },
            agent,
          });
          const at = Date.now();
          if (res.body?.code === "VALID") {
            if (delay !== undefined || at > ackAt + BOUND_MS) revokedAcceptedAfterBound++;
            else revokedAcceptedWithinBound++;
          } else if (res.body?.code === "REVOKED") {
            delay ??= at - ackAt;
          }
          await sleep(10);
        }
      } catch (error) {
        if (up[there]) revocationFailures.push(`revocation ${i}: checking ${there}: ${String(error)}`);
        else revocationsSkipped++;
        return;
      }
      if (delay === undefined) revocationFailures.push(`revocation ${i} on ${here} never reached ${there} within 5 s`);
      else propagation.push(delay);
    };

    /** Every second: a fresh token, cached on the other instance, revoked here; how long until there it is REVOKED. */
    const revocationLoop = async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
      for (let i = 0; running(); i++) {
        const tick = Date.now();
        const here: Name = i % 2 === 0 ? "A" : "B";
        const there: Name = here === "A" ? "B" : "A";
        try {
          if (!up[here] || !up[there]) {
            revocationsSkipped++;
            continue;
          }
          const made = await request(servers[here].base, "POST", tokensPath, {
            bearer: seed.rootSecret,
            body: { name: `revoked ${i}`, kind: "service", scopes: ["tokens:read"] },
            agent,
          });
          if (made.status !== 201) throw new Error(`create → ${made.status} ${made.raw}`);
          const secret = made.body.secret as string;
          const cached = await request(servers[there].base, "POST", "/v1/verify", {
            bearer: verifierSecret,
            body: { token: secret },
            agent,
          });
          if (cached.body?.code !== "VALID") throw new Error(`first verification on ${there} → ${cached.status} ${cached.raw}`);
          const revoke = await request(servers[here].base, "POST", `${tokensPath}/${made.body.token.id}/revoke`, {
            bearer: seed.rootSecret,
            body: { reason: "load test" },
            agent,
          });
          if (revoke.status !== 200) throw new Error(`revoke → ${revoke.status} ${revoke.raw}`);
          const ackAt = Date.now();
          revocations++;
          recentlyRevoked.push({ secret, ackAt });
          if (recentlyRevoked.length > 20) recentlyRevoked.shift();
          // The other instance is polled in the background (the next revocation comes a second later):
          // until REVOKED, and on until 1.2 s to catch any later VALID.
          checks.push(watch(i, here, there, secret, ackAt, agent));
        } catch (error) {
          if (up[here] && up[there]) revocationFailures.push(`revocation ${i}: ${String(error)}`);
          else revocationsSkipped++;
        } finally {
          await sleep(Math.max(0, tick + 1000 - Date.now()));
        }
      }
      await Promise.all(checks);
      agent.destroy();
    };

    /** Halfway: B stops gracefully and starts again on the same port and storage. */
    const restart = async () => {
      await sleep(Math.max(0, started + (SECONDS * 1000) / 2 - Date.now()));
      if (!running()) return;
      restartWindow = { from: Date.now(), to: Number.POSITIVE_INFINITY };
      up.B = false;
      const exit = await servers.B.stop("SIGTERM");
      const stoppedIn = Date.now() - restartWindow.from;
      servers.B = await startServer(env, servers.B.port);
      restartWindow.to = Date.now();
      up.B = true;
      console.error(
        `restarted B: exited ${JSON.stringify(exit)} after ${stoppedIn} ms, listening again after ${restartWindow.to - restartWindow.from} ms`,
      );
      return { exit, stoppedInMs: stoppedIn, downMs: restartWindow.to - restartWindow.from };
    };

    const progress = setInterval(() => {
      const t = Math.round((Date.now() - started) / 1000);
      console.error(
        `${t}s: A ${stats.A.verifications} B ${stats.B.verifications} verifications, ${revocations} revocations, ${revokedAcceptedAfterBound} late accepts`,
      );
    }, 30_000);
    const agents = {
      A: new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS }),
      B: new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS }),
    };
    const [, , , , restarted] = await Promise.all([
      Promise.all(Array.from({ length: CONNECTIONS }, () => verifyLoop("A", agents.A))),
      Promise.all(Array.from({ length: CONNECTIONS }, () => verifyLoop("B", agents.B))),
      Promise.all([managementLoop("A"), managementLoop("B")]),
      revocationLoop(),
      restart(),
    ]);
    clearInterval(progress);
    agents.A.destroy();
    agents.B.destroy();
    const elapsed = (Date.now() - started) / 1000;

    // Both stop gracefully (flushing usage); then the stored counts are read directly.
    const exits = await Promise.all([servers.A.stop("SIGTERM"), servers.B.stop("SIGTERM")]);
    const store = createStore({ databaseUrl: database.url, dataDir });
    let stored: Map<string, number>;
    try {
      const rows = await store.db
        .selectFrom("tokens")
        .select(["id", "usage_count"])
        .where(
          "id",
          "in",
          steady.map((s) => s.id),
        )
        .execute();
      stored = new Map(rows.map((r) => [r.id, Number(r.usage_count)]));
    } finally {
      await store.close();
    }
    let observedTotal = 0;
    let storedTotal = 0;
    let tokensDiffering = 0;
    let maxDiff = 0;
    for (const s of steady) {
      const o = observedValid.get(s.id) ?? 0;
      const d = stored.get(s.id) ?? 0;
      observedTotal += o;
      storedTotal += d;
      if (o !== d) tokensDiffering++;
      maxDiff = Math.max(maxDiff, Math.abs(o - d));
    }

    const summary = (name: Name) => {
      const s = stats[name];
      const sorted = s.latencies.sort((x, y) => x - y);
      const mgmt = s.managementLatencies.sort((x, y) => x - y);
      return {
        verifications: s.verifications,
        perSecond: Math.round(s.verifications / elapsed),
        p50Ms: round(percentile(sorted, 50)),
        p99Ms: round(percentile(sorted, 99)),
        maxMs: round(sorted[sorted.length - 1] ?? Number.NaN),
        codes: s.codes,
        fiveXxDuringRestart: s.fiveXxDuringRestart,
        fiveXxOther: s.fiveXxOther,
        connectionErrorsDuringRestart: s.connectionErrorsDuringRestart,
        connectionErrorsOther: s.connectionErrorsOther,
        connectionErrorCodes: s.connectionErrorCodes,
        managementRequests: s.management,
        managementP50Ms: round(percentile(mgmt, 50)),
        managementP99Ms: round(percentile(mgmt, 99)),
        managementFailures: s.managementFailures.slice(0, 10),
        managementFailureCount: s.managementFailures.length,
      };
    };
    const prop = propagation.sort((x, y) => x - y);
    const result = {
      date: new Date().toISOString(),
      machine: {
        cpus: os.cpus().length,
        cpuModel: os.cpus()[0]?.model ?? "unknown",
        memoryGiB: Math.round(os.totalmem() / 2 ** 30),
        node: process.version,
        platform: `${os.type()} ${os.release()}`,
      },
      seconds: Math.round(elapsed),
      connectionsPerInstance: CONNECTIONS,
      instances: { A: summary("A"), B: summary("B") },
      restart: restarted ?? null,
      revocations: {
        acknowledged: revocations,
        skipped: revocationsSkipped,
        propagationP50Ms: percentile(prop, 50),
        propagationP99Ms: percentile(prop, 99),
        propagationMaxMs: prop[prop.length - 1] ?? null,
        revokedAcceptedWithinBound,
        revokedAcceptedAfterBound,
        failures: revocationFailures.slice(0, 10),
        failureCount: revocationFailures.length,
      },
      usage: {
        tokens: steady.length,
        observedValid: observedTotal,
        stored: storedTotal,
        lost: observedTotal - storedTotal,
        tokensDiffering,
        maxPerTokenDifference: maxDiff,
      },
      exits,
    };
    console.log(JSON.stringify(result, null, 2));
    if (process.env.LOADTEST_OUT) writeFileSync(process.env.LOADTEST_OUT, `${JSON.stringify(result, null, 2)}\n`);

    const problems: string[] = [];
    if (revokedAcceptedAfterBound > 0) problems.push(`${revokedAcceptedAfterBound} revoked tokens accepted after ${BOUND_MS} ms`);
    if (stats.A.fiveXxOther + stats.B.fiveXxOther > 0) problems.push("5xx outside the restarted instance's restart");
    if (stats.A.connectionErrorsOther + stats.B.connectionErrorsOther > 0) problems.push("connection errors outside the restart");
    if (revocationFailures.length > 0) problems.push(`${revocationFailures.length} revocation checks failed`);
    if (observedTotal !== storedTotal) problems.push(`usage: ${observedTotal} VALID observed, ${storedTotal} stored`);
    if (problems.length > 0) {
      console.error(`FAILED: ${problems.join("; ")}`);
      process.exitCode = 1;
    } else {
      console.error("OK: no revoked token accepted after the bound, no 5xx outside the restart, no usage lost");
    }
  } finally {
    clearTimeout(watchdog);
    process.off("SIGINT", interrupted);
    process.off("SIGTERM", interrupted);
    await cleanup();
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

await main();
