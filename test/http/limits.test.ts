import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { createTessera } from "../../src/tessera.js";
import { dialects } from "../support/databases.js";
import { call, createToken, rootToken, seedWorld, startTestApp, type TestApp, type World } from "../support/harness.js";

/**
 * Issue 13 without Redis: named limits and credits on tokens (create, PATCH, view, audit, authority),
 * organisation limits shared by all its tokens, `cost`, all-or-nothing refusals, balances written behind
 * and reloaded after a restart. Exact on one instance (the in-memory limiter).
 */
describe.each(await dialects())("limits and credits on %s (one instance, no Redis)", (dialect) => {
  let t: TestApp;
  let w: World;
  let root: string;

  beforeAll(async () => {
    t = await startTestApp(dialect);
    w = await seedWorld(t.app);
    root = await rootToken(t.tessera);
  }, 60_000);
  afterAll(() => t?.close());

  const verify = (token: string, extra: Record<string, unknown> = {}) =>
    call(t.app, "POST", "/v1/verify", { bearer: root }, { token, ...extra });
  const tokens = () => `/v1/orgs/${w.orgId}/tokens`;

  it("creates a token with named limits and credits, and shows them (the legacy rateLimit is `default`)", async () => {
    const created = await createToken(t.app, w.owner.creds, w.orgId, {
      rateLimit: { limit: 100, windowSeconds: 60 },
      rateLimits: [{ name: "burst", limit: 10, windowSeconds: 1 }],
      credits: { remaining: 50, refill: { amount: 50, interval: "day" } },
    });
    expect(created.token.rateLimits).toEqual([
      { name: "default", limit: 100, windowSeconds: 60 },
      { name: "burst", limit: 10, windowSeconds: 1 },
    ]);
    expect(created.token.rateLimit).toEqual({ limit: 100, windowSeconds: 60 });
    expect(created.token.credits).toMatchObject({ remaining: 50, refill: { amount: 50, interval: "day" } });
    expect(Date.parse(created.token.credits.refilledAt)).toBeLessThanOrEqual(Date.now());
    const plain = await createToken(t.app, w.owner.creds, w.orgId);
    expect(plain.token).toMatchObject({ rateLimit: null, rateLimits: [], credits: null });
  });

  it("refuses more than five limits, duplicate names and bad credits (400, nothing created)", async () => {
    const six = Array.from({ length: 6 }, (_, i) => ({ name: `l${i}`, limit: 1, windowSeconds: 1 }));
    for (const body of [
      { rateLimits: six },
      {
        rateLimits: [
          { name: "a", limit: 1, windowSeconds: 1 },
          { name: "a", limit: 2, windowSeconds: 2 },
        ],
      },
      { rateLimit: { limit: 1, windowSeconds: 1 }, rateLimits: [{ name: "default", limit: 2, windowSeconds: 2 }] },
      { rateLimits: [{ name: "Bad Name", limit: 1, windowSeconds: 1 }] },
      { credits: { remaining: -1 } },
      { credits: { remaining: 5, refill: { amount: 5, interval: "week" } } },
    ]) {
      const res = await call(t.app, "POST", tokens(), w.owner.creds, { name: "bad", ...body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.code).toBe("validation_failed");
    }
    const cost = await verify("tsr_live_x", { cost: -1 });
    expect(cost.status).toBe(400);
  });

  it("takes `cost` from credits and limits; USAGE_EXCEEDED and RATE_LIMITED consume nothing anywhere", async () => {
    const { secret } = await createToken(t.app, w.owner.creds, w.orgId, {
      kind: "service",
      scopes: ["tokens:read"],
      rateLimits: [{ name: "minute", limit: 10, windowSeconds: 60 }],
      credits: { remaining: 5 },
    });
    const first = await verify(secret, { cost: 3 });
    expect(first.body).toMatchObject({
      valid: true,
      code: "VALID",
      ratelimit: { limit: 10, remaining: 7 },
      ratelimits: [{ name: "minute", limit: 10, remaining: 7 }],
      credits: { remaining: 2 },
    });
    // 3 more would exceed the credits: refused, and the minute window keeps its 7.
    const refused = await verify(secret, { cost: 3 });
    expect(refused.body).toMatchObject({ valid: false, code: "USAGE_EXCEEDED", credits: { remaining: 2 } });
    expect(refused.body.ratelimits[0].remaining).toBe(7);
    // cost 0 reads without taking.
    expect((await verify(secret, { cost: 0 })).body).toMatchObject({ valid: true, credits: { remaining: 2 } });
    expect((await verify(secret, { cost: 2 })).body).toMatchObject({ valid: true, credits: { remaining: 0 } });
    expect((await verify(secret)).body).toMatchObject({ valid: false, code: "USAGE_EXCEEDED", credits: { remaining: 0 } });

    const limited = await createToken(t.app, w.owner.creds, w.orgId, {
      kind: "service",
      scopes: ["tokens:read"],
      rateLimits: [{ name: "minute", limit: 2, windowSeconds: 60 }],
      credits: { remaining: 100 },
    });
    expect((await verify(limited.secret, { cost: 2 })).body.valid).toBe(true);
    const over = await verify(limited.secret);
    expect(over.body).toMatchObject({ valid: false, code: "RATE_LIMITED", credits: { remaining: 98 } });
    expect(Date.parse(over.body.ratelimit.resetAt)).toBeGreaterThan(Date.now());
  });

  it("applies the organisation's limits to all its tokens together, answered as org:<name>", async () => {
    const patched = await call(t.app, "PATCH", `/v1/orgs/${w.orgId}`, w.owner.creds, {
      rateLimits: [{ name: "plan", limit: 6, windowSeconds: 3600 }],
    });
    expect(patched.status, patched.raw).toBe(200);
    expect(patched.body.rateLimits).toEqual([{ name: "plan", limit: 6, windowSeconds: 3600 }]);
    const a = await createToken(t.app, w.owner.creds, w.orgId, { kind: "service", scopes: ["tokens:read"] });
    const b = await createToken(t.app, w.owner.creds, w.orgId, {
      kind: "service",
      scopes: ["tokens:read"],
      rateLimits: [{ name: "own", limit: 100, windowSeconds: 3600 }],
    });
    const results = [];
    for (let i = 0; i < 5; i++) results.push((await verify(a.secret)).body, (await verify(b.secret)).body);
    expect(results.filter((r) => r.valid)).toHaveLength(6);
    expect(results.filter((r) => r.code === "RATE_LIMITED")).toHaveLength(4);
    expect(results[1].ratelimits.map((l: { name: string }) => l.name)).toEqual(["own", "org:plan"]);
    // The token's own limit was not taken from by the refusals (all-or-nothing).
    const last = await verify(b.secret, { cost: 0 });
    expect(last.body.ratelimits[0].remaining).toBe(100 - 3);
    // A member may not set the organisation's limits; another organisation's owner cannot see them.
    expect((await call(t.app, "PATCH", `/v1/orgs/${w.orgId}`, w.member.creds, { rateLimits: [] })).status).toBe(403);
    expect((await call(t.app, "PATCH", `/v1/orgs/${w.orgId}`, w.otherOwner.creds, { rateLimits: [] })).status).toBe(404);
    const audit = await call(t.app, "GET", `/v1/orgs/${w.orgId}/audit?action=org.settings_changed`, w.owner.creds);
    expect(audit.body.items[0].details.changes.rateLimits.to).toEqual([{ name: "plan", limit: 6, windowSeconds: 3600 }]);
    expect((await call(t.app, "PATCH", `/v1/orgs/${w.orgId}`, w.owner.creds, { rateLimits: [] })).status).toBe(200);
  });

  it("PATCH sets limits and credits (audited before/after); members only tighten; other organisations 404", async () => {
    const own = await createToken(t.app, w.member.creds, w.orgId, { credits: { remaining: 10 } });
    const url = `${tokens()}/${own.id}`;
    // An admin sets a budget on the member's token; the member may lower it, not raise it.
    expect((await call(t.app, "PATCH", url, w.admin.creds, { credits: { remaining: 20 } })).status).toBe(200);
    const raise = await call(t.app, "PATCH", url, w.member.creds, { credits: { remaining: 1000 } });
    expect(raise.status).toBe(403);
    expect(raise.body.code).toBe("forbidden");
    expect((await call(t.app, "PATCH", url, w.member.creds, { credits: null })).status).toBe(403);
    expect((await call(t.app, "PATCH", url, w.member.creds, { credits: { remaining: 5 } })).status).toBe(200);
    // Limits: a member may add or tighten one, not loosen or remove it.
    expect(
      (await call(t.app, "PATCH", url, w.member.creds, { rateLimits: [{ name: "m", limit: 5, windowSeconds: 60 }] })).status,
    ).toBe(200);
    expect(
      (await call(t.app, "PATCH", url, w.member.creds, { rateLimits: [{ name: "m", limit: 5, windowSeconds: 10 }] })).status,
    ).toBe(403);
    expect((await call(t.app, "PATCH", url, w.member.creds, { rateLimits: [] })).status).toBe(403);
    expect((await call(t.app, "PATCH", url, w.member.creds, { rateLimit: { limit: 1, windowSeconds: 60 } })).status).toBe(200);
    const shown = await call(t.app, "GET", url, w.member.creds);
    expect(shown.body.rateLimits).toEqual([
      { name: "default", limit: 1, windowSeconds: 60 },
      { name: "m", limit: 5, windowSeconds: 60 },
    ]);
    expect(shown.body.credits).toMatchObject({ remaining: 5 });
    // Weaker roles, other people's tokens, other organisations.
    expect((await call(t.app, "PATCH", url, w.member2.creds, { credits: { remaining: 1 } })).status).toBe(404);
    expect((await call(t.app, "PATCH", url, w.viewer.creds, { credits: { remaining: 1 } })).status).toBe(403);
    expect(
      (await call(t.app, "PATCH", `/v1/orgs/${w.otherOrgId}/tokens/${own.id}`, w.otherOwner.creds, { credits: { remaining: 1 } }))
        .status,
    ).toBe(404);
    const narrow = await createToken(t.app, w.owner.creds, w.orgId, { kind: "service", scopes: ["tokens:read"] });
    expect((await call(t.app, "PATCH", url, { bearer: narrow.secret }, { credits: { remaining: 1 } })).status).toBe(403);
    const audit = await call(t.app, "GET", `${url}/audit`, w.owner.creds);
    const changes = audit.body.items
      .filter((e: { action: string }) => e.action === "token.updated")
      .map((e: any) => e.details.changes);
    expect(changes).toContainEqual({ credits: { from: { remaining: 20, refill: null }, to: { remaining: 5, refill: null } } });
    expect(changes.some((c: any) => c.rateLimits)).toBe(true);
  });

  it("a new credits balance replaces the live one at once", async () => {
    const { id, secret } = await createToken(t.app, w.owner.creds, w.orgId, {
      kind: "service",
      scopes: ["tokens:read"],
      credits: { remaining: 2 },
    });
    expect((await verify(secret, { cost: 2 })).body.credits).toEqual({ remaining: 0 });
    expect((await call(t.app, "PATCH", `${tokens()}/${id}`, w.owner.creds, { credits: { remaining: 3 } })).status).toBe(200);
    t.tessera.verifier.clearCache();
    expect((await verify(secret)).body).toMatchObject({ valid: true, credits: { remaining: 2 } });
  });

  it("concurrent verifications never spend more credits than there are", async () => {
    const { secret } = await createToken(t.app, w.owner.creds, w.orgId, {
      kind: "service",
      scopes: ["tokens:read"],
      credits: { remaining: 25 },
    });
    t.tessera.verifier.clearCache();
    const all = await Promise.all(Array.from({ length: 60 }, () => verify(secret)));
    expect(all.filter((r) => r.body.valid)).toHaveLength(25);
    expect(all.filter((r) => r.body.code === "USAGE_EXCEEDED")).toHaveLength(35);
  });

  it("writes balances behind and reloads them after a restart (none lost, none granted again)", async () => {
    const { id, secret } = await createToken(t.app, w.owner.creds, w.orgId, {
      kind: "service",
      scopes: ["tokens:read"],
      credits: { remaining: 10 },
    });
    for (let i = 0; i < 4; i++) expect((await verify(secret)).body.valid).toBe(true);
    await t.tessera.limits.flush();
    expect((await call(t.app, "GET", `${tokens()}/${id}`, w.owner.creds)).body.credits.remaining).toBe(6);
    // A second Tessera on the same storage (a restart): the balance continues from 6.
    expect((await verify(secret)).body.credits).toEqual({ remaining: 5 });
    await t.tessera.limits.flush();
    const again = await createTessera(
      loadConfig({ TESSERA_DATA_DIR: t.dataDir, TESSERA_LOG_LEVEL: "silent" }, { databaseUrl: t.databaseUrl }),
    );
    try {
      const answer = await again.verifier.verify({ token: secret });
      expect(answer.credits).toEqual({ remaining: 4 });
    } finally {
      await again.close();
    }
  });
});
