import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPostgresDatabase, postgresAvailable, type TestDatabase } from "../support/databases.js";
import {
  killAllServers,
  type Reply,
  request,
  type Seed,
  type ServerProcess,
  seedStorage,
  sleep,
  startServer,
  until,
} from "../support/processes.js";
import { type RedisServer, redisServerAvailable, startRedisServer } from "../support/redis.js";

/**
 * Issue 13, as judged: two real Tessera processes on one PostgreSQL and one (private) Redis.
 * - a 50-per-10-s limit hit from both admits exactly 50;
 * - 100 credits spent by 300 concurrent verifications across both admit exactly 100;
 * - an organisation limit is shared by its tokens, whichever instance verifies them;
 * - Redis killed mid-load: the configured behaviour (`open`: per-instance), then recovery without a
 *   restart; no credit spent is granted again (neither what Redis lost nor what the fallback took), and
 *   the balance survives Tessera's restart.
 */

const ready = (await postgresAvailable()) && redisServerAvailable();

describe.skipIf(!ready)("limits across two instances (PostgreSQL + Redis)", () => {
  let dataDir: string;
  let database: TestDatabase;
  let redis: RedisServer;
  let seed: Seed;
  let a: ServerProcess;
  let b: ServerProcess;
  let env: Record<string, string>;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "tessera-limits-"));
    database = await createPostgresDatabase();
    seed = await seedStorage({ dataDir, databaseUrl: database.url });
    redis = await startRedisServer();
    env = {
      TESSERA_DATA_DIR: dataDir,
      TESSERA_DATABASE_URL: database.url,
      TESSERA_REDIS_URL: redis.url,
      TESSERA_CREDITS_FLUSH_MS: "200",
      // 1 s (the most allowed) rather than the default 100 ms: on a loaded 2-core CI machine Redis itself
      // may wait that long for a core, and a check answered without Redis is per instance (the fault
      // suite keeps 100 ms; see also whileRedisAnswers).
      TESSERA_REDIS_TIMEOUT_MS: "1000",
      TESSERA_LOG_LEVEL: "silent",
    };
    [a, b] = await Promise.all([startServer(env, undefined, 120_000), startServer(env, undefined, 120_000)]);
  }, 150_000);

  afterAll(async () => {
    agent.destroy();
    await Promise.all([a?.stop("SIGKILL"), b?.stop("SIGKILL")]);
    killAllServers();
    await redis?.stop();
    await database?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const create = async (body: Record<string, unknown>) => {
    const res = await request(a.base, "POST", `/v1/orgs/${seed.orgId}/tokens`, {
      bearer: seed.rootSecret,
      body: { name: "limited", kind: "service", scopes: ["tokens:verify"], ...body },
    });
    expect(res.status, res.raw).toBe(201);
    return { id: res.body.token.id as string, secret: res.body.secret as string };
  };
  const verify = (on: ServerProcess, token: string): Promise<Reply> =>
    request(on.base, "POST", "/v1/verify", { bearer: seed.rootSecret, body: { token }, agent, timeoutMs: 30_000 });
  /** `n` verifications, alternating instances, all in flight at once. */
  const burst = (n: number, token: string | ((i: number) => string)) =>
    Promise.all(Array.from({ length: n }, (_, i) => verify(i % 2 === 0 ? a : b, typeof token === "string" ? token : token(i))));
  const valid = (replies: Reply[]) => replies.filter((r) => r.status === 200 && r.body.valid).length;
  /** Checks the two instances answered without Redis so far (from their metrics). */
  const fallbacks = async () => {
    let total = 0;
    for (const on of [a, b]) {
      const m = /tessera_limits_fallbacks_total (\d+)/.exec((await request(on.base, "GET", "/metrics")).raw);
      total += Number(m?.[1]);
    }
    return total;
  };
  /**
   * Runs a scenario until Redis answered every one of its checks in time, at most three tries. A check
   * answered without Redis is per instance by design (TESSERA_LIMITS_ON_REDIS_DOWN), so a run with one
   * says nothing about cluster-wide exactness; on a loaded CI machine this private redis-server can miss
   * even a 1 s timeout (CI: 165 of 100 credits admitted, every check after the first timeout falling back).
   */
  const whileRedisAnswers = async <T>(run: (attempt: number) => Promise<T>): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      for (const on of [a, b]) {
        await until(
          async () => ((await request(on.base, "GET", "/readyz")).body.status === "ready" ? true : undefined),
          15_000,
          "Redis reachable",
        );
      }
      const before = await fallbacks();
      const result = await run(attempt);
      const missed = (await fallbacks()) - before;
      if (missed === 0) return result;
      expect(attempt, `${missed} checks answered without Redis in each of three tries`).toBeLessThan(3);
    }
  };

  it("a 50-per-10-s limit hit from both instances admits exactly 50", async () => {
    const replies = await whileRedisAnswers(async () => {
      const { secret } = await create({ rateLimits: [{ name: "ten", limit: 50, windowSeconds: 10 }] });
      // Warm both caches (cost 0 takes nothing), then start right after a window opens, so the burst
      // (150 requests) stays inside one fixed window.
      await Promise.all(
        [a, b].map((on) =>
          request(on.base, "POST", "/v1/verify", { bearer: seed.rootSecret, body: { token: secret, cost: 0 }, agent }),
        ),
      );
      await sleep(10_000 - (Date.now() % 10_000) + 50);
      const started = Date.now();
      const answered = await burst(150, secret);
      expect(Date.now() - started + 50, "the burst finished inside its window").toBeLessThan(10_000);
      return answered;
    });
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect(valid(replies)).toBe(50);
    expect(replies.filter((r) => r.body.code === "RATE_LIMITED")).toHaveLength(100);
    for (const r of replies) expect(r.body.ratelimits[0].name).toBe("ten");
  });

  it("100 credits, 300 concurrent verifications across both: exactly 100 admitted, balance 0 in storage", async () => {
    const { id, replies } = await whileRedisAnswers(async () => {
      const { id, secret } = await create({ credits: { remaining: 100 } });
      return { id, replies: await burst(300, secret) };
    });
    expect(valid(replies)).toBe(100);
    expect(replies.filter((r) => r.body.code === "USAGE_EXCEEDED")).toHaveLength(200);
    const remaining = replies.filter((r) => r.body.valid).map((r) => r.body.credits.remaining as number);
    expect(new Set(remaining).size).toBe(100); // every admitted verification saw its own balance
    await until(
      async () => {
        const view = await request(b.base, "GET", `/v1/orgs/${seed.orgId}/tokens/${id}`, { bearer: seed.rootSecret });
        return view.body.credits.remaining === 0 ? true : undefined;
      },
      10_000,
      "the balance written behind",
    );
  });

  it("an organisation limit is shared by its tokens on both instances", async () => {
    const { name, replies } = await whileRedisAnswers(async (attempt) => {
      // A fresh limit name per try: a new counter.
      const name = `plan${attempt}`;
      const patched = await request(a.base, "PATCH", `/v1/orgs/${seed.orgId}`, {
        bearer: seed.rootSecret,
        body: { rateLimits: [{ name, limit: 30, windowSeconds: 3600 }] },
      });
      expect(patched.status, patched.raw).toBe(200);
      const [x, y] = [await create({}), await create({})];
      return { name, replies: await burst(80, (i) => (i % 4 < 2 ? x.secret : y.secret)) };
    });
    expect(valid(replies)).toBe(30);
    expect(replies.find((r) => r.body.valid)?.body.ratelimits[0]).toMatchObject({ name: `org:${name}`, limit: 30 });
    const cleared = await request(a.base, "PATCH", `/v1/orgs/${seed.orgId}`, {
      bearer: seed.rootSecret,
      body: { rateLimits: [] },
    });
    expect(cleared.status).toBe(200);
    await sleep(1_500); // both instances hear of the change (cache invalidation) before the next test
  });

  it("Redis killed mid-load: open falls back per instance, recovers without a restart; credits survive Tessera's restart", async () => {
    const { id, secret } = await create({ credits: { remaining: 1000 } });
    // 40 spent through Redis and, straight after, 60 more in flight when Redis is killed: much of what
    // Redis took is not yet written behind (every 200 ms) and dies with it.
    const first = await burst(40, secret);
    const load = burst(60, secret);
    await sleep(20);
    await redis.stop();
    // Two more on each instance once Redis is gone, so that both have met it down whatever the burst
    // did (on a loaded machine all 60 may have been answered before the kill, or all by one instance).
    const replies = [...first, ...(await load), ...(await burst(4, secret))];
    // Nothing hangs and nothing fails: every answer is a verdict.
    expect(replies.every((r) => r.status === 200 && r.ms < 5_000)).toBe(true);
    expect(valid(replies)).toBe(104);
    const degraded = await request(a.base, "GET", "/readyz");
    expect(degraded.body.status).toBe("degraded");
    const metrics = await request(a.base, "GET", "/metrics");
    expect(metrics.raw).toMatch(/tessera_limits_fallbacks_total [1-9]/);
    await redis.restart();
    for (const on of [a, b]) {
      await until(
        async () => ((await request(on.base, "GET", "/readyz")).body.status === "ready" ? true : undefined),
        15_000,
        "recovery",
      );
    }
    // Redis came back empty: re-seeded from storage, then each instance took again what it had spent in
    // Redis that storage did not hold yet, and what its fallback spent: 1000 − 104.
    const after = await verify(a, secret);
    expect(after.body).toMatchObject({ valid: true, credits: { remaining: 895 } });
    // A clean restart of both instances writes everything behind; the balance continues.
    await Promise.all([a.stop("SIGTERM"), b.stop("SIGTERM")]);
    [a, b] = await Promise.all([startServer(env, undefined, 120_000), startServer(env, undefined, 120_000)]);
    const view = await request(a.base, "GET", `/v1/orgs/${seed.orgId}/tokens/${id}`, { bearer: seed.rootSecret });
    expect(view.body.credits.remaining).toBe(895);
    expect((await verify(b, secret)).body.credits).toEqual({ remaining: 894 });
  }, 240_000);
});
