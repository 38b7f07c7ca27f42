import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TokenCredits } from "../../src/core/limits.js";
import { LEASE_MS, RedisLimits } from "../../src/services/redis-limits.js";
import { type CreditsSnapshot, readCredits } from "../../src/store/tokens-repository.js";
import { dialects } from "../support/databases.js";
import { call, createToken, rootToken, seedWorld, startTestApp, type TestApp, type World } from "../support/harness.js";
import { until } from "../support/processes.js";
import { type RedisServer, redisServerAvailable, SlowProxy, startRedisServer } from "../support/redis.js";

/**
 * Redis faults, in process (the two-process exactness suite is redis-limits.test.ts): Redis slowed
 * (a proxy adding latency), stopped and restarted empty, under both TESSERA_LIMITS_ON_REDIS_DOWN
 * settings. No verification waits on Redis longer than its 100 ms timeout (plus scheduling); `/readyz`
 * says degraded; the metrics count fallbacks; recovery needs no restart; credits spent while Redis was
 * down are taken from the Redis balance when it answers again; a Redis that lost its data is re-seeded
 * from storage.
 */

const available = redisServerAvailable();
const [dialect] = await dialects();

describe.skipIf(!available)(`Redis faults (in process, ${dialect})`, () => {
  let redis: RedisServer;
  let proxy: SlowProxy;
  let open: TestApp;
  let closed: TestApp;
  /** Straight to Redis with a 1 s timeout: exactness on a loaded machine, apart from the fault tests' 100 ms. */
  let exact: TestApp;
  let exactOrg: string;
  let exactRoot: string;
  let w: World;
  let root: string;
  let closedRoot: string;

  beforeAll(async () => {
    redis = await startRedisServer();
    proxy = new SlowProxy(redis.port);
    await proxy.start();
    const url = `redis://127.0.0.1:${proxy.port}`;
    open = await startTestApp(dialect!, { redisUrl: url, redisPrefix: "o:", creditsFlushMs: 100, limitsOnRedisDown: "open" });
    w = await seedWorld(open.app);
    root = await rootToken(open.tessera);
    closed = await startTestApp(dialect!, { redisUrl: url, redisPrefix: "c:", creditsFlushMs: 100, limitsOnRedisDown: "closed" });
    await seedWorld(closed.app);
    closedRoot = await rootToken(closed.tessera);
    exact = await startTestApp(dialect!, { redisUrl: redis.url, redisPrefix: "e:", creditsFlushMs: 100, redisTimeoutMs: 1000 });
    exactOrg = (await seedWorld(exact.app)).orgId;
    exactRoot = await rootToken(exact.tessera);
  }, 120_000);

  afterAll(async () => {
    await open?.close();
    await closed?.close();
    await exact?.close();
    await proxy?.stop();
    await redis?.stop();
  });

  const limited = (t: TestApp, r: string, orgId: string, body: Record<string, unknown>) =>
    createToken(t.app, { bearer: r }, orgId, { name: "limited", kind: "service", scopes: ["tokens:read"], ...body });
  const verify = async (t: TestApp, r: string, token: string, extra: Record<string, unknown> = {}) => {
    const started = performance.now();
    const res = await call(t.app, "POST", "/v1/verify", { bearer: r }, { token, ...extra });
    return { ...res, ms: performance.now() - started };
  };
  const metric = async (t: TestApp, name: string) => {
    const text = (await call(t.app, "GET", "/metrics")).raw;
    const line = text.split("\n").find((l) => l.startsWith(`${name} `));
    return Number(line?.split(" ")[1] ?? Number.NaN);
  };

  it("with Redis up: exact, one balance, written behind to storage", async () => {
    const [r, orgId] = [exactRoot, exactOrg];
    const { id, secret } = await limited(exact, r, orgId, {
      rateLimits: [{ name: "hour", limit: 1000, windowSeconds: 3600 }],
      credits: { remaining: 40 },
    });
    const all = await Promise.all(Array.from({ length: 60 }, () => verify(exact, r, secret)));
    expect(await metric(exact, "tessera_limits_fallbacks_total")).toBe(0);
    expect(all.filter((x) => x.body.valid)).toHaveLength(40);
    expect(all.filter((x) => x.body.code === "USAGE_EXCEEDED")).toHaveLength(20);
    await exact.tessera.limits.flush();
    const view = await call(exact.app, "GET", `/v1/orgs/${orgId}/tokens/${id}`, { bearer: r });
    expect(view.body.credits.remaining).toBe(0);
    expect((await call(exact.app, "GET", "/readyz")).body).toEqual({ status: "ready" });
  });

  it("a warm verification is one Redis round trip (one EVALSHA), whatever the number of limits", async () => {
    const [r, orgId] = [exactRoot, exactOrg];
    const { secret } = await limited(exact, r, orgId, {
      rateLimits: [
        { name: "second", limit: 1000, windowSeconds: 1 },
        { name: "hour", limit: 100_000, windowSeconds: 3600 },
      ],
    });
    expect((await verify(exact, r, secret)).body.valid).toBe(true); // warm: cached token, script loaded
    const admin = new Redis(redis.url);
    try {
      await admin.config("RESETSTAT");
      for (let i = 0; i < 20; i++) expect((await verify(exact, r, secret)).body.valid).toBe(true);
      const stats = (await admin.info("commandstats"))
        .split("\r\n")
        .filter((l) => l.startsWith("cmdstat_"))
        .map((l) => [l.slice(8, l.indexOf(":")), Number(/calls=(\d+)/.exec(l)?.[1])] as const)
        .filter(([name]) => name !== "info" && name !== "config|resetstat" && name !== "config");
      // Top-level commands: 20 EVALSHA and nothing else; GET/INCRBY/PEXPIRE are the script's own calls.
      const counts = Object.fromEntries(stats);
      expect(counts.evalsha).toBe(20);
      expect(Object.keys(counts).filter((name) => !["evalsha", "get", "incrby", "pexpire"].includes(name))).toEqual([]);
    } finally {
      admin.disconnect();
    }
  });

  it("the checks of one turn go to Redis in one script call, each decided as if alone and in order", async () => {
    const [r, orgId] = [exactRoot, exactOrg];
    const { id } = await limited(exact, r, orgId, { credits: { remaining: 3 } });
    const { gen } = (await readCredits(exact.tessera.store.db, id))!;
    const credits = { tokenId: id, gen, refill: null };
    const limits = exact.tessera.limits;
    const now = Date.now();
    const hour = [{ key: `t:one-turn-${now}:hour`, name: "hour", limit: 2, windowSeconds: 3600 }];
    // The balance is seeded into Redis by a first check (1 of 3 spent): the batch below finds it there.
    expect((await limits.check({ limits: [], credits, cost: 1, now })).code).toBe("VALID");
    const admin = new Redis(redis.url);
    try {
      await admin.config("RESETSTAT");
      // Six checks made in one turn, interleaved: a limit of 2 and a balance of 2.
      const outcomes = await Promise.all(
        [0, 1, 2].flatMap(() => [
          limits.check({ limits: hour, credits: null, cost: 1, now }),
          limits.check({ limits: [], credits, cost: 1, now }),
        ]),
      );
      expect(outcomes.map((o) => o.code)).toEqual(["VALID", "VALID", "VALID", "VALID", "RATE_LIMITED", "USAGE_EXCEEDED"]);
      expect(outcomes.map((o) => o.ratelimits[0]?.remaining ?? o.credits?.remaining)).toEqual([1, 1, 0, 0, 0, 0]);
      const evalsha = /cmdstat_evalsha:calls=(\d+)/.exec(await admin.info("commandstats"));
      expect(Number(evalsha?.[1])).toBe(1);
    } finally {
      admin.disconnect();
    }
  });

  it("slowed past the timeout: answers come at once from the fallback (open) or refuse (closed); recovery by itself", async () => {
    const a = await limited(open, root, w.orgId, { rateLimits: [{ name: "minute", limit: 5, windowSeconds: 60 }] });
    const closedOrg = (await call(closed.app, "GET", "/v1/orgs", { bearer: closedRoot })).body.items[0].id as string;
    const c = await limited(closed, closedRoot, closedOrg, { rateLimits: [{ name: "minute", limit: 5, windowSeconds: 60 }] });
    expect((await verify(open, root, a.secret)).body.valid).toBe(true);
    expect((await verify(closed, closedRoot, c.secret)).body.valid).toBe(true);
    const before = await metric(open, "tessera_limits_fallbacks_total");
    proxy.delayMs = 400;
    const during = [];
    for (let i = 0; i < 8; i++) during.push(await verify(open, root, a.secret), await verify(closed, closedRoot, c.secret));
    proxy.delayMs = 0;
    // The first request of each app waits the 100 ms command timeout; the rest go straight to the fallback.
    // Generous for a loaded 2-core machine: far below the 400 ms a request would wait on Redis.
    const slowest = Math.max(...during.map((r) => r.ms));
    expect(slowest).toBeLessThan(380);
    const openAnswers = during.filter((_, i) => i % 2 === 0).map((r) => r.body.code);
    const closedAnswers = during.filter((_, i) => i % 2 === 1).map((r) => r.body.code);
    // open: the per-instance window starts empty: 5 admitted, then RATE_LIMITED.
    expect(openAnswers.filter((c) => c === "VALID")).toHaveLength(5);
    expect(closedAnswers.every((c) => c === "RATE_LIMITED")).toBe(true);
    expect(await metric(open, "tessera_limits_fallbacks_total")).toBeGreaterThan(before);
    expect((await call(open.app, "GET", "/readyz")).body).toMatchObject({ status: "degraded" });
    expect(await metric(open, "tessera_limits_redis_up")).toBe(0);
    // Recovery with no restart: the probe finds Redis answering again.
    await until(
      async () => ((await call(open.app, "GET", "/readyz")).body.status === "ready" ? true : undefined),
      10_000,
      "ready",
    );
    await until(
      async () => ((await call(closed.app, "GET", "/readyz")).body.status === "ready" ? true : undefined),
      10_000,
      "ready",
    );
    expect((await verify(closed, closedRoot, c.secret)).body.valid).toBe(true);
    // Redis's own window is the one that counts again: 1 used before the fault, 1 by the check that timed
    // out (Redis still ran it when the slow path delivered it: a timed-out check errs on the side of
    // counting, docs/architecture.md), and this one.
    expect((await verify(open, root, a.secret)).body).toMatchObject({ valid: true, ratelimit: { remaining: 2 } });
  });

  it("stopped, then restarted empty: credits spent meanwhile are not given back; Redis is re-seeded from storage", async () => {
    const { id, secret } = await limited(open, root, w.orgId, { credits: { remaining: 100 } });
    for (let i = 0; i < 10; i++) expect((await verify(open, root, secret)).body.valid).toBe(true);
    await open.tessera.limits.flush();
    await redis.stop();
    const during = [];
    for (let i = 0; i < 5; i++) during.push(await verify(open, root, secret));
    expect(during.every((r) => r.body.valid)).toBe(true);
    expect(Math.max(...during.map((r) => r.ms))).toBeLessThan(1000);
    expect((await call(open.app, "GET", "/readyz")).body.status).toBe("degraded");
    await redis.restart();
    await until(
      async () => ((await call(open.app, "GET", "/readyz")).body.status === "ready" ? true : undefined),
      10_000,
      "ready",
    );
    // 100 − 10 (flushed before) − 5 (spent by the fallback, replayed) − 1 now.
    expect((await verify(open, root, secret)).body.credits).toEqual({ remaining: 84 });
    await open.tessera.limits.flush();
    const view = await call(open.app, "GET", `/v1/orgs/${w.orgId}/tokens/${id}`, { bearer: root });
    expect(view.body.credits.remaining).toBe(84);
  });

  /** Storage as `writeCreditsBehind` keeps it: only forward, never over another generation. */
  const forwardOnlyStore = (stored: Map<string, TokenCredits>) => {
    const write = async (s: CreditsSnapshot) => {
      const c = stored.get(s.tokenId)!;
      if (s.gen !== c.gen || s.seq <= c.seq) return false;
      stored.set(s.tokenId, { ...c, remaining: s.remaining, refilledAt: s.refilledAt, seq: s.seq });
      return true;
    };
    const writeMany = async (snapshots: readonly CreditsSnapshot[]) => {
      const taken = new Set<string>();
      for (const s of snapshots) if (await write(s)) taken.add(s.tokenId);
      return taken;
    };
    return { read: async (tokenId: string) => stored.get(tokenId) ?? null, write, writeMany };
  };

  /**
   * Two limiters ("instances") on the private Redis over one forward-only store holding 100 credits for
   * `tokenId`, writing behind only when the test flushes. Closed by the caller.
   */
  const twoInstances = async (tokenId: string) => {
    const stored = new Map<string, TokenCredits>([[tokenId, { remaining: 100, refill: null, refilledAt: null, gen: 1, seq: 0 }]]);
    const store = forwardOnlyStore(stored);
    const options = {
      url: redis.url,
      prefix: `${tokenId}${Date.now()}:`,
      timeoutMs: 1000,
      onDown: "open" as const,
      flushMs: 600_000,
    };
    const [x, y] = [new RedisLimits(store, options), new RedisLimits(store, options)];
    await Promise.all([x.start(), y.start()]);
    const spec = { tokenId, gen: 1, refill: null };
    const check = (on: RedisLimits, cost = 1) => on.check({ limits: [], credits: spec, cost, now: Date.now() });
    const spend = async (on: RedisLimits, n: number) => {
      for (let i = 0; i < n; i++) expect((await check(on)).code).toBe("VALID");
    };
    /** Redis killed and back empty; both reconnect by themselves (neither sent a command meanwhile, so neither saw it down). */
    const loseRedisData = async () => {
      await redis.restart();
      await until(async () => (x.connected && y.connected ? true : undefined), 10_000, "reconnected");
    };
    const remainingStored = () => stored.get(tokenId)!.remaining;
    return { x, y, check, spend, loseRedisData, remainingStored };
  };

  it("Redis loses its data: spending not yet written behind is taken again, by each instance, exactly once", async () => {
    const { x, y, check, spend, loseRedisData, remainingStored } = await twoInstances("tok_journal");
    try {
      await spend(x, 10);
      await spend(y, 10);
      await x.flush(); // storage: 80
      expect(remainingStored()).toBe(80);
      await spend(x, 5);
      await spend(y, 7);
      await spend(x, 1); // 67 in Redis, 80 in storage
      // Redis killed and back empty before either instance wrote the last 13 behind.
      await loseRedisData();
      // y's next check finds no balance: seeds it from storage (80), takes again its own 7, then spends.
      expect(await check(y)).toMatchObject({ code: "VALID", credits: { remaining: 72 } });
      // x learns of the new incarnation at its next write-behind and takes again its 6.
      await x.flush();
      await y.flush();
      await x.flush();
      expect(remainingStored()).toBe(66);
      expect((await check(x, 0)).credits).toEqual({ remaining: 66 });
      // Once storage holds everything, another loss takes nothing again.
      await loseRedisData();
      expect((await check(x)).credits).toEqual({ remaining: 65 });
      await y.flush();
      await x.flush();
      expect(remainingStored()).toBe(65);
    } finally {
      await Promise.all([x.close(), y.close()]);
    }
  });

  it("Redis loses its data before anything was written behind: the next incarnation still tells the lost one apart", async () => {
    const { x, y, check, spend, loseRedisData, remainingStored } = await twoInstances("tok_first_incarnation");
    try {
      await spend(x, 3);
      await spend(y, 4);
      await loseRedisData();
      expect((await check(y)).credits).toEqual({ remaining: 95 });
      await x.flush();
      await y.flush();
      await x.flush();
      expect(remainingStored()).toBe(92);
    } finally {
      await Promise.all([x.close(), y.close()]);
    }
  });

  it("refills at the first use of a new UTC day, exactly once across instances", async () => {
    const stored = new Map<string, TokenCredits>([
      ["tok_refill", { remaining: 1, refill: { amount: 3, interval: "day" }, refilledAt: Date.UTC(2026, 0, 1), gen: 1, seq: 0 }],
    ]);
    const store = forwardOnlyStore(stored);
    const options = { url: redis.url, prefix: `refill${Date.now()}:`, timeoutMs: 100, onDown: "open" as const, flushMs: 60_000 };
    const [x, y] = [new RedisLimits(store, options), new RedisLimits(store, options)];
    await Promise.all([x.start(), y.start()]);
    try {
      const spec = { tokenId: "tok_refill", gen: 1, refill: { amount: 3, interval: "day" as const } };
      const at = (day: number, hour: number) => Date.UTC(2026, 0, day, hour);
      const check = (on: RedisLimits, now: number) => on.check({ limits: [], credits: spec, cost: 1, now });
      expect((await check(x, at(1, 10))).credits).toEqual({ remaining: 0 });
      expect((await check(y, at(1, 23))).code).toBe("USAGE_EXCEEDED");
      // Day 2: refilled to 3 once, whichever instance sees the new day first.
      const day2 = await Promise.all([check(x, at(2, 0)), check(y, at(2, 1)), check(x, at(2, 2)), check(y, at(2, 3))]);
      expect(day2.filter((o) => o.code === "VALID")).toHaveLength(3);
      await x.flush();
      expect(stored.get("tok_refill")).toMatchObject({ remaining: 0, refilledAt: Date.UTC(2026, 0, 2) });
    } finally {
      await Promise.all([x.close(), y.close()]);
    }
  });

  describe("leases (TESSERA_LIMITS_LEASE_UNITS)", () => {
    const DAY = { key: "t:tok_lease:day", name: "day", limit: 1_000_000_000, windowSeconds: 86_400 };
    /** Two limiters leasing `units` over one forward-only store holding `remaining` credits for `tokenId`. */
    const leasing = async (tokenId: string, remaining: number, units = 100) => {
      const stored = new Map<string, TokenCredits>([[tokenId, { remaining, refill: null, refilledAt: null, gen: 1, seq: 0 }]]);
      const prefix = `${tokenId}${Date.now()}:`;
      const options = { url: redis.url, prefix, timeoutMs: 1000, onDown: "open" as const, flushMs: 600_000, leaseUnits: units };
      const [x, y] = [new RedisLimits(forwardOnlyStore(stored), options), new RedisLimits(forwardOnlyStore(stored), options)];
      await Promise.all([x.start(), y.start()]);
      const limits = [{ ...DAY, key: `t:${tokenId}:day` }];
      const credits = { tokenId, gen: 1, refill: null };
      const check = (on: RedisLimits, cost = 1) => on.check({ limits, credits, cost, now: Date.now() });
      const admin = new Redis(redis.url);
      const redisBalance = async () => Number(await admin.hget(`${prefix}cr:${tokenId}`, "r"));
      const windowCount = async () => {
        const keys = await admin.keys(`${prefix}rl:t:${tokenId}:day:*`);
        return keys.length === 0 ? 0 : Number(await admin.get(keys[0]!));
      };
      const evalshaCalls = async () => Number(/cmdstat_evalsha:calls=(\d+)/.exec(await admin.info("commandstats"))?.[1] ?? 0);
      const close = async () => {
        await Promise.all([x.close(), y.close()]);
        admin.disconnect();
      };
      return { x, y, check, stored: () => stored.get(tokenId)!.remaining, redisBalance, windowCount, evalshaCalls, close };
    };

    it("far from the end of a budget most checks are answered from memory; every unit is accounted for across instances", async () => {
      const l = await leasing("tok_lease", 1_000_000);
      try {
        const before = await l.evalshaCalls();
        const run = async (on: RedisLimits, n: number) => {
          const codes: string[] = [];
          for (let i = 0; i < n; i++) codes.push((await l.check(on)).code);
          return codes;
        };
        // Both instances at once, and bursts of one turn (which wait for one lease request, not each go to Redis).
        const [a, b, burst] = await Promise.all([
          run(l.x, 500),
          run(l.y, 300),
          Promise.all(Array.from({ length: 50 }, () => l.check(l.y))),
        ]);
        expect([...a, ...b, ...burst.map((o) => o.code)].every((c) => c === "VALID")).toBe(true);
        // Of 850: all but each instance's lease requests, and the burst's checks made before its token was
        // known to lease (they go to Redis in the lease request's own script call).
        expect((l.x.stats.leased ?? 0) + (l.y.stats.leased ?? 0)).toBeGreaterThanOrEqual(700);
        expect((await l.evalshaCalls()) - before).toBeLessThan(60);
        // Leased units are held in Redis until given back: never more than one lease per instance.
        expect(1_000_000 - 850 - (await l.redisBalance())).toBeLessThanOrEqual(200);
        expect((await l.windowCount()) - 850).toBeLessThanOrEqual(200);
        // Each instance reports what Redis held at its last lease, less its own spending since: it may miss
        // what the other spent since, and counts the other's lease (at most 100 units) as spent.
        const last = await l.check(l.x);
        expect(last.credits!.remaining).toBeLessThanOrEqual(1_000_000 - 501);
        expect(last.credits!.remaining).toBeGreaterThanOrEqual(1_000_000 - 851 - 100);
        // Stopping gives the unused units back before the last write-behind: exact, in Redis and in storage.
        await Promise.all([l.x.close(), l.y.close()]);
        expect(await l.redisBalance()).toBe(1_000_000 - 851);
        expect(await l.windowCount()).toBe(851);
        expect(l.stored()).toBe(1_000_000 - 851);
      } finally {
        await l.close();
      }
    });

    it("no lease once it would leave fewer than 10,000 units: the end of a budget is decided by Redis alone", async () => {
      const l = await leasing("tok_lease_floor", 10_300);
      try {
        for (let i = 0; i < 250; i++) expect((await l.check(l.x)).code).toBe("VALID");
        // Leases of 100 at 10,300 and 10,199 left; at 10,098 a third would leave 9,997: every later check is exact.
        expect(l.x.stats.leased).toBe(200);
        expect(await l.redisBalance()).toBe(10_300 - 250);
        for (let i = 0; i < 20; i++) expect((await l.check(l.y)).credits).toEqual({ remaining: 10_300 - 251 - i });
        expect(l.y.stats.leased ?? 0).toBe(0);
      } finally {
        await l.close();
      }
      expect(l.stored()).toBe(10_300 - 270);
    });

    it("a lease past its second gives its unused units back at the next write-behind", async () => {
      const l = await leasing("tok_lease_expiry", 1_000_000);
      try {
        expect((await l.check(l.x)).credits).toEqual({ remaining: 999_999 });
        expect((await l.check(l.x)).credits).toEqual({ remaining: 999_998 });
        expect(await l.redisBalance()).toBe(1_000_000 - 101);
        await new Promise((r) => setTimeout(r, LEASE_MS + 50));
        await l.x.flush();
        expect(await l.redisBalance()).toBe(999_998);
        expect(await l.windowCount()).toBe(2);
        expect(l.stored()).toBe(999_998);
        // An expired lease is not spent from: the next check goes to Redis (and leases again).
        const before = await l.evalshaCalls();
        expect((await l.check(l.x)).credits).toEqual({ remaining: 999_997 });
        expect((await l.evalshaCalls()) - before).toBe(1);
      } finally {
        await l.close();
      }
    });

    it("an organisation's limit is never leased (shared by all its tokens), and leasing off sends every check to Redis", async () => {
      const l = await leasing("tok_no_lease", 1_000_000, 0);
      try {
        for (let i = 0; i < 20; i++) expect((await l.check(l.x)).code).toBe("VALID");
        expect(l.x.stats.leased ?? 0).toBe(0);
        expect(await l.redisBalance()).toBe(1_000_000 - 20);
      } finally {
        await l.close();
      }
      const stored = new Map<string, TokenCredits>([
        ["tok_org", { remaining: 1_000_000, refill: null, refilledAt: null, gen: 1, seq: 0 }],
      ]);
      const options = {
        url: redis.url,
        prefix: `org${Date.now()}:`,
        timeoutMs: 1000,
        onDown: "open" as const,
        flushMs: 600_000,
        leaseUnits: 100,
      };
      const x = new RedisLimits(forwardOnlyStore(stored), options);
      await x.start();
      try {
        const limits = [
          { key: "t:tok_org:day", name: "day", limit: 1_000_000_000, windowSeconds: 86_400 },
          { key: "o:org_1:plan", name: "org:plan", limit: 1_000_000_000, windowSeconds: 86_400 },
        ];
        for (let i = 0; i < 20; i++) {
          const o = await x.check({ limits, credits: { tokenId: "tok_org", gen: 1, refill: null }, cost: 1, now: Date.now() });
          expect(o.ratelimits[1]!.remaining).toBe(1_000_000_000 - 1 - i);
        }
        expect(x.stats.leased ?? 0).toBe(0);
      } finally {
        await x.close();
      }
    });
  });
});
