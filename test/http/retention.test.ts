import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { newId } from "../../src/core/ids.js";
import { RetentionJob } from "../../src/services/retention.js";
import { type AuditEvent, insertEvents } from "../../src/store/audit-repository.js";
import { createTessera } from "../../src/tessera.js";
import { dialects } from "../support/databases.js";
import { type Call, call, createToken, seedWorld, startTestApp, type TestApp, type World } from "../support/harness.js";

/** Retention (issue 16): expired sessions, old usage and old audit events are pruned in the background. */

const DAY = 86_400_000;

function expectField(res: Call, field: string) {
  expect(res.status, res.raw).toBe(400);
  expect(res.body.code).toBe("validation_failed");
  expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
}

function event(orgId: string | null, at: number, action = "test.old"): AuditEvent {
  return {
    id: newId("event"),
    at,
    orgId,
    action,
    actor: { type: "system", id: null, name: null },
    target: null,
    ip: null,
    userAgent: null,
    traceId: "0".repeat(32),
    details: {},
  };
}

describe.each(await dialects())("retention on %s", (dialect) => {
  let t: TestApp;
  let w: World;

  beforeAll(async () => {
    t = await startTestApp(dialect, { usageRetentionDays: 400, instanceAuditRetentionDays: 90 });
    w = await seedWorld(t.app);
  });
  afterAll(() => t?.close());

  const db = () => t.tessera.store.db;
  const org = () => `/v1/orgs/${w.orgId}`;
  const countWhere = async (table: "sessions" | "token_usage" | "audit_events", filter: (q: any) => any) =>
    Number(
      (
        await filter(
          db()
            .selectFrom(table)
            .select((eb) => eb.fn.countAll<number>().as("n")),
        ).executeTakeFirstOrThrow()
      ).n,
    );

  it("exposes auditRetentionDays (default null = forever) and validates it, naming the field", async () => {
    const before = await call(t.app, "GET", org(), w.owner.creds);
    expect(before.body.auditRetentionDays).toBeNull();
    expect(before.body.settings.auditRetentionDays).toBeNull();
    for (const bad of [0, -1, "30", 1.5, 36_501, true]) {
      expectField(await call(t.app, "PATCH", org(), w.owner.creds, { auditRetentionDays: bad }), "auditRetentionDays");
      expectField(
        await call(t.app, "PATCH", org(), w.owner.creds, { settings: { auditRetentionDays: bad } }),
        "settings.auditRetentionDays",
      );
    }
    const set = await call(t.app, "PATCH", org(), w.owner.creds, { auditRetentionDays: 30 });
    expect(set.status, set.raw).toBe(200);
    expect(set.body.auditRetentionDays).toBe(30);
    expect(set.body.settings.auditRetentionDays).toBe(30);
    const audit = await call(t.app, "GET", `${org()}/audit?action=org.settings_changed`, w.owner.creds);
    expect(audit.body.items[0].details.changes.auditRetentionDays).toEqual({ from: null, to: 30 });
    // Weaker roles cannot shorten the organisation's history.
    for (const who of [w.member, w.viewer]) {
      const res = await call(t.app, "PATCH", org(), who.creds, { auditRetentionDays: 1 });
      expect(res.status, res.raw).toBe(403);
    }
    expect((await call(t.app, "GET", org(), w.owner.creds)).body.auditRetentionDays).toBe(30);
    expect(
      (await call(t.app, "PATCH", org(), w.owner.creds, { settings: { auditRetentionDays: null } })).body.auditRetentionDays,
    ).toBeNull();
    expect((await call(t.app, "PATCH", org(), w.owner.creds, { auditRetentionDays: 30 })).status).toBe(200);
  });

  it("prunes expired sessions (in chunks), old usage buckets and old audit events, and keeps recent ones", async () => {
    const now = Date.now();
    // 2,500 expired sessions: more than one chunk. Plus live ones that must survive.
    const sessions = (n: number, expiresAt: number) =>
      Array.from({ length: n }, () => ({
        id_hash: randomBytes(32).toString("hex"),
        user_id: w.owner.id,
        csrf_token: "x",
        created_at: expiresAt - DAY,
        expires_at: expiresAt,
      }));
    for (let i = 0; i < 5; i++)
      await db()
        .insertInto("sessions")
        .values(sessions(500, now - 1000))
        .execute();
    await db()
      .insertInto("sessions")
      .values(sessions(3, now + DAY))
      .execute();
    const liveSessions = await countWhere("sessions", (q) => q.where("expires_at", ">", now));

    const token = await createToken(t.app, w.owner.creds, w.orgId, { name: "used" });
    const hour = 3_600_000;
    const buckets = [
      ...Array.from({ length: 30 }, (_, i) => now - 401 * DAY - i * hour),
      ...Array.from({ length: 5 }, (_, i) => now - 399 * DAY - i * hour),
    ].map((start) => ({ token_id: token.id, bucket_start: Math.floor(start / hour) * hour, ok: 1, denied: 0 }));
    await db().insertInto("token_usage").values(buckets).execute();

    // Acme keeps 30 days, Globex forever; instance-level events 90 days.
    await insertEvents(db(), [
      ...Array.from({ length: 7 }, () => event(w.orgId, now - 31 * DAY)),
      event(w.orgId, now - 29 * DAY, "test.recent"),
      ...Array.from({ length: 4 }, () => event(w.otherOrgId, now - 1000 * DAY)),
      ...Array.from({ length: 3 }, () => event(null, now - 91 * DAY)),
      event(null, now - 89 * DAY, "test.recent"),
    ]);
    const acmeRecent = await countWhere("audit_events", (q) => q.where("org_id", "=", w.orgId));

    const result = await t.tessera.retention.sweep(now);
    expect(result).toMatchObject({ sessions: 2500, usageBuckets: 30, instanceAuditEvents: 3, orgAuditEvents: 7, skipped: false });

    expect(await countWhere("sessions", (q) => q)).toBe(liveSessions);
    expect(await countWhere("sessions", (q) => q.where("expires_at", "<=", now))).toBe(0);
    expect(await countWhere("token_usage", (q) => q.where("token_id", "=", token.id))).toBe(5);
    expect(await countWhere("audit_events", (q) => q.where("org_id", "=", w.orgId))).toBe(acmeRecent - 7);
    expect(await countWhere("audit_events", (q) => q.where("org_id", "=", w.orgId).where("at", "<", now - 30 * DAY))).toBe(0);
    expect(await countWhere("audit_events", (q) => q.where("org_id", "=", w.otherOrgId).where("action", "=", "test.old"))).toBe(
      4,
    );
    expect(await countWhere("audit_events", (q) => q.where("org_id", "is", null).where("at", "<", now - 90 * DAY))).toBe(0);
    expect(await countWhere("audit_events", (q) => q.where("org_id", "is", null).where("action", "=", "test.recent"))).toBe(1);
    // The signed-in owner's own session is untouched; the API still works.
    expect((await call(t.app, "GET", `${org()}/audit?action=test.recent`, w.owner.creds)).body.items).toHaveLength(1);

    // A second sweep has nothing left to do.
    expect(await t.tessera.retention.sweep(now)).toMatchObject({
      sessions: 0,
      usageBuckets: 0,
      instanceAuditEvents: 0,
      orgAuditEvents: 0,
    });
  });

  it("hands each audit chunk to the checkpoint seam first; a refusal there deletes nothing", async () => {
    const now = Date.now();
    await insertEvents(
      db(),
      Array.from({ length: 3 }, () => event(w.orgId, now - 40 * DAY, "test.seam")),
    );
    const seen: { orgId: string | null; ids: readonly string[] }[] = [];
    const refusing = new RetentionJob(t.tessera.store, {
      intervalMs: 3_600_000,
      usageRetentionDays: 400,
      instanceAuditRetentionDays: 90,
      beforeAuditPrune: async () => {
        throw new Error("checkpoint could not be signed");
      },
    });
    await expect(refusing.sweep(now)).rejects.toThrow("checkpoint could not be signed");
    expect(await countWhere("audit_events", (q) => q.where("action", "=", "test.seam"))).toBe(3);
    const recording = new RetentionJob(t.tessera.store, {
      intervalMs: 3_600_000,
      usageRetentionDays: 400,
      instanceAuditRetentionDays: 90,
      beforeAuditPrune: async (_trx, orgId, ids) => {
        seen.push({ orgId, ids });
      },
    });
    expect((await recording.sweep(now)).orgAuditEvents).toBe(3);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.orgId).toBe(w.orgId);
    expect(seen[0]!.ids).toEqual([...seen[0]!.ids].sort());
    expect(await countWhere("audit_events", (q) => q.where("action", "=", "test.seam"))).toBe(0);
  });

  it("runs by itself on its interval and stops on close", async () => {
    await db()
      .insertInto("sessions")
      .values({ id_hash: randomBytes(32).toString("hex"), user_id: w.owner.id, csrf_token: "x", created_at: 0, expires_at: 1 })
      .execute();
    const job = new RetentionJob(t.tessera.store, { intervalMs: 50, usageRetentionDays: 400, instanceAuditRetentionDays: 90 });
    job.start();
    await expect.poll(() => job.lastSweep?.sessions, { timeout: 5000 }).toBe(1);
    await job.close();
    const last = job.lastSweep;
    await db()
      .insertInto("sessions")
      .values({ id_hash: randomBytes(32).toString("hex"), user_id: w.owner.id, csrf_token: "x", created_at: 0, expires_at: 1 })
      .execute();
    await new Promise((r) => setTimeout(r, 300));
    expect(job.lastSweep).toBe(last);
    expect(await countWhere("sessions", (q) => q.where("expires_at", "=", 1))).toBe(1);
  });

  // Several instances share a database only on PostgreSQL (SQLite is one instance per data directory).
  it.runIf(dialect === "postgres")("is safe on two instances sweeping the same database at once", async () => {
    const now = Date.now();
    // Earlier tests may have left expired sessions of their own: they are due too.
    const earlier = await countWhere("sessions", (q) => q.where("expires_at", "<=", now));
    await db()
      .insertInto("sessions")
      .values(
        Array.from({ length: 1500 }, () => ({
          id_hash: randomBytes(32).toString("hex"),
          user_id: w.owner.id,
          csrf_token: "x",
          created_at: 0,
          expires_at: now - 5,
        })),
      )
      .execute();
    await insertEvents(
      db(),
      Array.from({ length: 1200 }, () => event(w.orgId, now - 60 * DAY, "test.twin")),
    );
    const second = await createTessera(
      loadConfig(
        { TESSERA_DATA_DIR: t.dataDir, TESSERA_LOG_LEVEL: "silent", TESSERA_MAX_EVENT_LOOP_DELAY_MS: "0" },
        { databaseUrl: t.databaseUrl },
      ),
    );
    try {
      const [a, b] = await Promise.all([t.tessera.retention.sweep(now), second.retention.sweep(now)]);
      // A sweep that finds the other holding the lock stops (skipped): sweep again until one runs through.
      let b2 = await second.retention.sweep(now);
      const more = { sessions: 0, orgAuditEvents: 0 };
      for (let i = 0; b2.skipped && i < 20; i++) {
        more.sessions += b2.sessions;
        more.orgAuditEvents += b2.orgAuditEvents;
        await new Promise((resolve) => setTimeout(resolve, 100));
        b2 = await second.retention.sweep(now);
      }
      expect(b2.skipped).toBe(false);
      // Nothing deleted twice. (Not "exactly": either instance's own background sweep, started by its timer
      // during the suite, may take some of these rows, and its counts are not in these results.)
      expect(a.sessions + b.sessions + more.sessions + b2.sessions).toBeLessThanOrEqual(1500 + earlier);
      expect(a.orgAuditEvents + b.orgAuditEvents + more.orgAuditEvents + b2.orgAuditEvents).toBeLessThanOrEqual(1200);
      // And everything due is gone.
      expect(await countWhere("sessions", (q) => q.where("expires_at", "<=", now))).toBe(0);
      expect(await countWhere("audit_events", (q) => q.where("action", "=", "test.twin"))).toBe(0);
    } finally {
      await second.close();
    }
  });
});
