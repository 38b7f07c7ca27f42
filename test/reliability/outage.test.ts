import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateToken } from "../../src/core/token-format.js";
import { ADMIN_PG_URL, createPostgresDatabase, postgresAvailable, type TestDatabase } from "../support/databases.js";
import {
  killAllServers,
  type Reply,
  request,
  type Seed,
  type ServerProcess,
  seedStorage,
  sleep,
  startServer,
  TcpProxy,
  until,
} from "../support/processes.js";

/**
 * A PostgreSQL outage seen by two real server processes, without stopping the machine's PostgreSQL
 * (other suites use it): both instances reach their database through a TCP proxy in this test, and
 * "PostgreSQL stops" when the proxy stops listening and cuts its connections.
 *
 * During the outage: /readyz 503; management calls 503 `service_unavailable` within a few seconds;
 * a token verified just before keeps verifying VALID from the cache until TESSERA_CACHE_TTL_MS, then
 * 503; an unknown token 503, never VALID; a token revoked before the outage never VALID. After it:
 * readiness, management and cross-instance invalidation (LISTEN) come back by themselves.
 */

const TTL_MS = 3_000;
/** "Not a hang": every answer during the outage comes within this. */
const PROMPT_MS = 3_000;

describe.skipIf(!(await postgresAvailable()))("PostgreSQL outage (through a proxy) on two instances", () => {
  let dataDir: string;
  let database: TestDatabase;
  let proxy: TcpProxy;
  let seed: Seed;
  let a: ServerProcess;
  let b: ServerProcess;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "tessera-outage-"));
    database = await createPostgresDatabase();
    seed = await seedStorage({ dataDir, databaseUrl: database.url });
    const admin = new URL(ADMIN_PG_URL);
    proxy = new TcpProxy({ host: admin.hostname, port: Number(admin.port || 5432) });
    await proxy.start();
    const proxied = new URL(database.url);
    proxied.hostname = "127.0.0.1";
    proxied.port = String(proxy.port);
    const env = {
      TESSERA_DATA_DIR: dataDir,
      TESSERA_DATABASE_URL: proxied.toString(),
      TESSERA_CACHE_TTL_MS: String(TTL_MS),
      TESSERA_LOG_LEVEL: "silent",
    };
    [a, b] = await Promise.all([startServer(env, undefined, 120_000), startServer(env, undefined, 120_000)]);
    // Two processes compiling through tsx on a busy 2-core machine may take over a minute to listen.
  }, 150_000);

  afterAll(async () => {
    await Promise.all([a?.stop("SIGKILL"), b?.stop("SIGKILL")]);
    killAllServers();
    await proxy?.stop();
    await database?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const tokens = () => `/v1/orgs/${seed.orgId}/tokens`;
  const create = async (on: ServerProcess, name: string) => {
    const res = await request(on.base, "POST", tokens(), {
      bearer: seed.rootSecret,
      body: { name, kind: "service", scopes: ["tokens:verify"] },
    });
    expect(res.status, res.raw).toBe(201);
    return { id: res.body.token.id as string, secret: res.body.secret as string };
  };
  const verify = (on: ServerProcess, token: string) =>
    request(on.base, "POST", "/v1/verify", { bearer: seed.rootSecret, body: { token }, timeoutMs: 10_000 });
  const revoke = (on: ServerProcess, id: string) =>
    request(on.base, "POST", `${tokens()}/${id}/revoke`, { bearer: seed.rootSecret, body: { reason: "outage test" } });
  const expectUnavailable = (res: Reply) => {
    expect(res.status, res.raw).toBe(503);
    expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ code: "service_unavailable", status: 503, detail: expect.stringMatching(/storage/i) });
    expect(res.ms).toBeLessThan(PROMPT_MS);
  };

  it("answers 503 (never a false VALID) while PostgreSQL is away, serves cached tokens until the TTL, and recovers by itself", {
    timeout: 60_000,
  }, async () => {
    const cached = await create(a, "cached before the outage");
    const revokedEarly = await create(a, "revoked before the outage");
    const unknown = generateToken("tsr", "live").secret;

    // Both instances have both tokens cached as VALID; then one is revoked on A and B hears of it.
    for (const on of [a, b]) {
      for (const t of [cached, revokedEarly]) expect((await verify(on, t.secret)).body.code).toBe("VALID");
    }
    expect((await revoke(a, revokedEarly.id)).status).toBe(200);
    for (const on of [a, b]) {
      await until(
        async () => ((await verify(on, revokedEarly.secret)).body.code === "REVOKED" ? true : undefined),
        1_000,
        "REVOKED",
      );
    }
    // The last moment anything was cached: the TTL runs from here at the latest.
    const cachedAt = Date.now();
    for (const on of [a, b]) expect((await verify(on, cached.secret)).body.code).toBe("VALID");

    await proxy.stop();
    const outageAt = Date.now();

    for (const on of [a, b]) {
      const ready = await request(on.base, "GET", "/readyz", { timeoutMs: 10_000 });
      expect(ready.status).toBe(503);
      expect(ready.ms).toBeLessThan(PROMPT_MS);
      // The root token is cached (it authenticated the verifications above); the list needs storage.
      expectUnavailable(await request(on.base, "GET", tokens(), { bearer: seed.rootSecret, timeoutMs: 10_000 }));
      expectUnavailable(
        await request(on.base, "GET", `${tokens()}/${cached.id}`, { bearer: seed.rootSecret, timeoutMs: 10_000 }),
      );
      expectUnavailable(await verify(on, unknown));
      const stillCached = await verify(on, cached.secret);
      expect(Date.now() - cachedAt).toBeLessThan(TTL_MS);
      expect(stillCached.status).toBe(200);
      expect(stillCached.body).toMatchObject({ valid: true, code: "VALID" });
      const early = await verify(on, revokedEarly.secret);
      expect(early.body?.code).not.toBe("VALID");
      expect(early.status === 503 || early.body.code === "REVOKED", early.raw).toBe(true);
    }

    // Past the TTL nothing is trusted from memory: the cached token, the revoked one and the unknown one
    // all answer 503 until storage is back (the root bearer itself can no longer be checked either).
    await sleep(Math.max(0, cachedAt + TTL_MS + 200 - Date.now()));
    for (const on of [a, b]) {
      for (const secret of [cached.secret, revokedEarly.secret, unknown]) {
        const res = await verify(on, secret);
        expect(res.body?.valid).not.toBe(true);
        expectUnavailable(res);
      }
      expect((await request(on.base, "GET", "/readyz")).status).toBe(503);
    }
    // Some seconds of outage: the LISTEN connections' reconnect backoff has grown meanwhile.
    await sleep(Math.max(0, outageAt + 5_000 - Date.now()));

    await proxy.start();
    const backAt = Date.now();
    for (const on of [a, b]) {
      await until(
        async () => ((await request(on.base, "GET", "/readyz")).status === 200 ? true : undefined),
        10_000,
        "ready again",
      );
      const list = await request(on.base, "GET", tokens(), { bearer: seed.rootSecret });
      expect(list.status, list.raw).toBe(200);
      expect((await verify(on, cached.secret)).body.code).toBe("VALID");
      expect((await verify(on, revokedEarly.secret)).body.code).toBe("REVOKED");
      expect((await verify(on, unknown)).body.code).toBe("NOT_FOUND");
    }
    const readyIn = Date.now() - backAt;

    // Cross-instance invalidation is live again: a revocation on A reaches B within 1 s (after the
    // LISTEN connection has reconnected, which its backoff allows to take up to 5 s), then B → A too.
    const propagates = async (from: ServerProcess, to: ServerProcess): Promise<number | undefined> => {
      const probe = await create(from, "probe");
      expect((await verify(to, probe.secret)).body.code).toBe("VALID");
      expect((await revoke(from, probe.id)).status).toBe(200);
      const revokedAt = Date.now();
      while (Date.now() - revokedAt < 1_000) {
        if ((await verify(to, probe.secret)).body.code === "REVOKED") return Date.now() - revokedAt;
        await sleep(20);
      }
      return undefined;
    };
    let reconnectedIn: number | undefined;
    for (let done = 0; done < 2; ) {
      const delay = await propagates(a, b);
      if (delay !== undefined) {
        reconnectedIn ??= Date.now() - backAt;
        done++;
      } else {
        done = 0;
        expect(Date.now() - backAt, "B's LISTEN connection did not come back within 10 s").toBeLessThan(10_000);
      }
    }
    expect(await propagates(b, a)).toBeLessThan(1_000);
    expect(readyIn).toBeLessThan(10_000);
    expect(reconnectedIn).toBeLessThan(10_000);
  });
  /**
   * A PostgreSQL that stops answering (hung, or a network path dropping packets) rather than refusing,
   * then its connections cut while queries are in flight on checked-out clients. Every wait is bounded
   * by TESSERA_DB_TIMEOUT_MS (default 2 s, src/store/pg-pool.ts), so answers come within PROMPT_MS.
   */
  it("answers 503 within seconds when PostgreSQL hangs, and survives its connections being cut mid-query", {
    timeout: 60_000,
  }, async () => {
    const cached = await create(a, "cached before the hang");
    expect((await verify(a, cached.secret)).body.code).toBe("VALID");
    proxy.freeze();
    const unknown = generateToken("tsr", "live").secret;
    const [ready, list, unseen, stillCached] = await Promise.all([
      request(a.base, "GET", "/readyz", { timeoutMs: 20_000 }),
      request(a.base, "GET", tokens(), { bearer: seed.rootSecret, timeoutMs: 20_000 }),
      verify(a, unknown),
      verify(a, cached.secret),
    ]);
    expect(ready.status).toBe(503);
    expect(ready.ms).toBeLessThan(PROMPT_MS);
    for (const res of [list, unseen]) {
      expect(res.status, res.raw).toBe(503);
      expect(res.body).toMatchObject({ code: "service_unavailable" });
      expect(res.ms).toBeLessThan(PROMPT_MS);
    }
    expect(stillCached.body.code).toBe("VALID");
    console.info(
      `frozen PostgreSQL → /readyz ${Math.round(ready.ms)} ms, token list ${Math.round(list.ms)} ms, unknown token ${Math.round(unseen.ms)} ms, cached token ${Math.round(stillCached.ms)} ms`,
    );

    // Queries in flight on checked-out clients when PostgreSQL's connections drop.
    const inFlight = [
      request(a.base, "GET", tokens(), { bearer: seed.rootSecret, timeoutMs: 20_000 }),
      request(a.base, "GET", "/readyz", { timeoutMs: 20_000 }),
    ];
    await sleep(500);
    await proxy.stop();
    const cut = await Promise.all(inFlight);
    expect(cut.map((r) => r.status)).toEqual([503, 503]);
    await sleep(200);
    expect(a.child.exitCode, a.output()).toBeNull();

    await proxy.start();
    await until(async () => ((await request(a.base, "GET", "/readyz")).status === 200 ? true : undefined), 10_000, "ready again");
    expect((await request(a.base, "GET", tokens(), { bearer: seed.rootSecret })).status).toBe(200);
  });
});
