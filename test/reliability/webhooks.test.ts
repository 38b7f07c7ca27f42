import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTessera, type Tessera } from "../../src/tessera.js";
import { createPostgresDatabase, dialects, type TestDatabase } from "../support/databases.js";
import { call, createToken, seedWorld, startTestApp, type TestApp, type World } from "../support/harness.js";
import {
  killAllServers,
  request,
  type Seed,
  type ServerProcess,
  seedStorage,
  sleep,
  startServer,
  until,
} from "../support/processes.js";
import { type Received, type Receiver, startReceiver } from "../support/webhook-receiver.js";

/**
 * Webhook delivery under failure (issue 14 point 1, "Judged by"): an endpoint down for 20 s, Tessera
 * killed with SIGKILL during a burst, two instances sharing one PostgreSQL, a receiver that hangs.
 */

const DIALECTS = await dialects();

/** The first receipt of each event id, in arrival order (at-least-once: later copies are duplicates). */
function firstReceipts(received: readonly Received[]): Received[] {
  const seen = new Set<string>();
  return received.filter((r) => {
    const id = r.headers["webhook-id"]!;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

describe.each(DIALECTS)("an endpoint down for 20 s on %s", (dialect) => {
  let t: TestApp;
  let w: World;
  let receiver: Receiver;

  beforeAll(async () => {
    t = await startTestApp(dialect, {
      // The machine running the suites is shared and often overloaded: a 2 s statement bound would fail
      // requests for reasons that have nothing to do with webhooks.
      dbTimeoutMs: 15_000,
      webhooks: {
        allowPrivate: true,
        timeoutMs: 2_000,
        concurrency: 16,
        pollMs: 50,
        // A shorter schedule than production's, still longer in total (~34 s) than the outage.
        retryScheduleMs: [250, 500, 1_000, 2_000, 4_000, 4_000, 4_000, 4_000, 4_000, 4_000, 6_000],
        retentionDays: 30,
      },
    });
    w = await seedWorld(t.app);
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
  });

  it("delivers every event once it is back, none lost, in order per token", { timeout: 120_000 }, async () => {
    const made = await call(t.app, "POST", `/v1/orgs/${w.orgId}/webhooks`, w.owner.creds, { url: receiver.url });
    expect(made.status, made.raw).toBe(201);
    receiver.mode = "down";
    const downAt = Date.now();
    const expected = new Map<string, string[]>();
    const tokens = `/v1/orgs/${w.orgId}/tokens`;
    await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const token = await createToken(t.app, w.owner.creds, w.orgId, { name: `outage ${i}` });
        const steps: [string, string, unknown][] = [
          ["PATCH", `${tokens}/${token.id}`, { description: `first edit ${i}` }],
          ["POST", `${tokens}/${token.id}/suspend`, undefined],
          ["POST", `${tokens}/${token.id}/resume`, undefined],
          ["PATCH", `${tokens}/${token.id}`, { description: `second edit ${i}` }],
          ["POST", `${tokens}/${token.id}/revoke`, { reason: "outage test" }],
        ];
        for (const [method, url, body] of steps) {
          const res = await call(t.app, method as "POST", url, w.owner.creds, body);
          expect(res.status, res.raw).toBeLessThan(300);
        }
        expected.set(token.id, [
          "token.created",
          "token.updated",
          "token.suspended",
          "token.resumed",
          "token.updated",
          "token.revoked",
        ]);
      }),
    );
    await until(async () => (receiver.attempts >= 8 ? true : undefined), 10_000, "attempts while down");
    await sleep(Math.max(0, 20_000 - (Date.now() - downAt)));
    expect(receiver.received).toEqual([]);
    receiver.mode = "up";
    await until(
      async () => {
        const got = firstReceipts(receiver.received);
        return got.length >= 48 ? got : undefined;
      },
      60_000,
      "all 48 events after the outage",
    );
    const got = firstReceipts(receiver.received);
    expect(got).toHaveLength(48);
    for (const [tokenId, types] of expected) {
      expect(
        got.filter((r) => r.json.data.target?.id === tokenId).map((r) => r.json.type),
        `order of ${tokenId}`,
      ).toEqual(types);
    }
    // Outcomes are written in batches just after the receiver has them: every row ends delivered.
    await until(
      async () => {
        const left = await t.tessera.store.db
          .selectFrom("webhook_deliveries")
          .select("id")
          .where("state", "!=", "delivered")
          .execute();
        return left.length === 0 ? true : undefined;
      },
      10_000,
      "every delivery recorded as delivered",
    );
  });
});

describe.each(DIALECTS)("Tessera killed with SIGKILL during a burst on %s", (dialect) => {
  let dataDir: string;
  let database: TestDatabase | undefined;
  let seed: Seed;
  let env: Record<string, string>;
  let receiver: Receiver;
  const servers: ServerProcess[] = [];

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "tessera-webhook-crash-"));
    database = dialect === "postgres" ? await createPostgresDatabase() : undefined;
    env = {
      TESSERA_DATA_DIR: dataDir,
      TESSERA_WEBHOOK_ALLOW_PRIVATE: "true",
      TESSERA_WEBHOOK_POLL_MS: "50",
      // The killed instance's leases expire after 2 × timeout + 30 s: 34 s here.
      TESSERA_WEBHOOK_TIMEOUT_MS: "2000",
      TESSERA_WEBHOOK_RETRY_SCHEDULE_MS: "200,400,800,1600,3200,6400",
      ...(database ? { TESSERA_DATABASE_URL: database.url } : {}),
    };
    seed = await seedStorage({ dataDir, databaseUrl: database?.url });
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop("SIGKILL")));
    killAllServers();
    await receiver?.close();
    await database?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("delivers every committed event after the restart", { timeout: 150_000 }, async () => {
    const first = await startServer(env);
    servers.push(first);
    const hook = await request(first.base, "POST", `/v1/orgs/${seed.orgId}/webhooks`, {
      bearer: seed.rootSecret,
      body: { url: receiver.url, eventTypes: ["token.created"] },
    });
    expect(hook.status, hook.raw).toBe(201);
    const secret = hook.body.secret as string;
    // Slow answers keep deliveries in flight (leased) at the moment of the kill.
    receiver.mode = "slow";
    receiver.slowMs = 300;
    const acknowledged: string[] = [];
    let stopped = false;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const worker = async (n: number) => {
      for (let i = 0; !stopped; i++) {
        try {
          const res = await request(first.base, "POST", `/v1/orgs/${seed.orgId}/tokens`, {
            bearer: seed.rootSecret,
            body: { name: `burst ${n}-${i}`, kind: "service", scopes: ["tokens:verify"] },
            agent,
          });
          if (res.status === 201) acknowledged.push(res.body.token.id);
        } catch {
          return;
        }
      }
    };
    const workers = Promise.all([0, 1, 2, 3].map(worker));
    await until(async () => (acknowledged.length >= 60 ? true : undefined), 30_000, "60 acknowledged creates");
    await first.stop("SIGKILL");
    stopped = true;
    await workers;
    agent.destroy();
    receiver.mode = "up";
    const second = await startServer(env);
    servers.push(second);
    const delivered = await until(
      async () => {
        const ids = new Set(receiver.received.map((r) => r.json.data.target?.id));
        return acknowledged.every((id) => ids.has(id)) ? ids : undefined;
      },
      90_000,
      "every acknowledged token.created delivered",
    );
    expect(acknowledged.filter((id) => !delivered.has(id))).toEqual([]);
    for (const r of receiver.received.slice(0, 20)) expect(new Webhook(secret).verify(r.body, r.headers)).toBeTruthy();
    await second.stop("SIGTERM");
  });
});

describe.runIf(DIALECTS.includes("postgres"))("two instances on one PostgreSQL", () => {
  let t: TestApp;
  let other: Tessera;
  let w: World;
  let receiver: Receiver;

  beforeAll(async () => {
    const webhooks = {
      allowPrivate: true,
      timeoutMs: 5_000,
      concurrency: 8,
      pollMs: 20,
      retryScheduleMs: [200, 400, 800],
      retentionDays: 30,
    };
    t = await startTestApp("postgres", { webhooks });
    other = await createTessera(t.tessera.config);
    w = await seedWorld(t.app);
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await other?.close();
    await t?.close();
    await receiver?.close();
  });

  it("attempts each delivery on one instance only", { timeout: 120_000 }, async () => {
    receiver.mode = "slow";
    receiver.slowMs = 20;
    const made = await call(t.app, "POST", `/v1/orgs/${w.orgId}/webhooks`, w.owner.creds, { url: receiver.url });
    expect(made.status).toBe(201);
    const before = { a: t.tessera.dispatcher.stats.attempts, b: other.dispatcher.stats.attempts };
    const ids: string[] = [];
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        for (let i = 0; i < 25; i++)
          ids.push((await createToken(t.app, w.owner.creds, w.orgId, { name: `pair ${i}`, kind: "service" })).id);
      }),
    );
    await until(async () => (firstReceipts(receiver.received).length >= 150 ? true : undefined), 60_000, "150 deliveries");
    await sleep(500);
    const a = t.tessera.dispatcher.stats.attempts - before.a;
    const b = other.dispatcher.stats.attempts - before.b;
    expect(a + b, `instance A ${a}, instance B ${b}`).toBe(150);
    expect(a).toBeGreaterThan(0);
    expect(b).toBeGreaterThan(0);
    expect(receiver.received).toHaveLength(150);
    expect(new Set(receiver.received.map((r) => r.headers["webhook-id"])).size).toBe(150);
  });
});

describe.each(DIALECTS)("a receiver that hangs for 10 s on %s", (dialect) => {
  let t: TestApp;
  let w: World;
  let receiver: Receiver;

  beforeAll(async () => {
    t = await startTestApp(dialect, {
      webhooks: {
        allowPrivate: true,
        timeoutMs: 10_000,
        concurrency: 16,
        pollMs: 50,
        retryScheduleMs: [60_000],
        retentionDays: 30,
      },
    });
    w = await seedWorld(t.app);
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
  });

  async function createLatencies(n: number): Promise<number[]> {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const started = performance.now();
      const res = await call(t.app, "POST", `/v1/orgs/${w.orgId}/tokens`, w.owner.creds, { name: `latency ${i}` });
      out.push(performance.now() - started);
      expect(res.status).toBe(201);
    }
    return out.sort((x, y) => x - y);
  }

  it("does not slow the API down", { timeout: 120_000 }, async () => {
    const baseline = await createLatencies(40);
    const made = await call(t.app, "POST", `/v1/orgs/${w.orgId}/webhooks`, w.owner.creds, { url: receiver.url });
    expect(made.status).toBe(201);
    receiver.mode = "slow";
    receiver.slowMs = 10_000;
    // Fill every delivery slot with a hanging request.
    for (let i = 0; i < 20; i++) await createToken(t.app, w.owner.creds, w.orgId, { name: `hang ${i}` });
    await until(async () => (receiver.attempts >= 16 ? true : undefined), 10_000, "16 hanging deliveries");
    const during = await createLatencies(40);
    const median = (xs: number[]) => xs[Math.floor(xs.length / 2)]!;
    // Generous on a shared machine: the point is that nothing waits on the 10 s answers.
    expect(median(during), `baseline median ${median(baseline).toFixed(1)} ms`).toBeLessThan(median(baseline) * 3 + 50);
    expect(during[during.length - 1]!).toBeLessThan(2_000);
  });
});
