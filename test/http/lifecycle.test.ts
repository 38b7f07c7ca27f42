import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dialects } from "../support/databases.js";
import {
  call,
  createToken,
  rootToken,
  seedWorld,
  startTestApp,
  type TestApp,
  type World,
  withLastCharChanged,
} from "../support/harness.js";

describe.each(await dialects())("token lifecycle over HTTP on %s", (dialect) => {
  let t: TestApp;
  let w: World;
  let root: string;

  beforeAll(async () => {
    t = await startTestApp(dialect);
    w = await seedWorld(t.app);
    root = await rootToken(t.tessera);
  });
  afterAll(() => t?.close());

  const verify = (token: string, extra: Record<string, unknown> = {}) =>
    call(t.app, "POST", "/v1/verify", { bearer: root }, { token, ...extra });

  it("creates a token whose secret is shown once and verifies", async () => {
    const created = await createToken(t.app, w.owner.creds, w.orgId, { name: "Deploy bot", expiresInDays: 30 });
    expect(created.secret).toMatch(/^tsr_live_[0-9A-Za-z]{38}$/);
    expect(created.token.maskedToken).toBe(`${created.secret.slice(0, 15)}…${created.secret.slice(-4)}`);
    expect(created.token.status).toBe("active");
    expect(created.token.createdBy).toMatchObject({ id: w.owner.id, name: "Olive Owner", email: "owner@acme.test" });
    const detail = await call(t.app, "GET", `/v1/orgs/${w.orgId}/tokens/${created.id}`, w.owner.creds);
    expect(detail.status).toBe(200);
    expect(detail.raw).not.toContain(created.secret);
    const v = await verify(created.secret);
    expect(v.body).toMatchObject({
      valid: true,
      code: "VALID",
      token: { id: created.id, orgId: w.orgId, kind: "personal", ownerId: w.owner.id },
    });
  });

  it("walks the status machine and answers 409 for forbidden transitions", async () => {
    const { id, secret } = await createToken(t.app, w.owner.creds, w.orgId, { name: "machine" });
    const path = `/v1/orgs/${w.orgId}/tokens/${id}`;
    const step = async (action: string, status: number, expected?: string) => {
      const res = await call(t.app, "POST", `${path}/${action}`, w.owner.creds);
      expect(res.status, `${action} → ${res.raw}`).toBe(status);
      if (expected) expect(res.body.status).toBe(expected);
      if (status === 409) expect(res.body.code).toBe("invalid_state");
    };
    await step("activate", 409);
    await step("deactivate", 200, "inactive");
    expect((await verify(secret)).body.code).toBe("INACTIVE");
    await step("activate", 200, "active");
    await step("suspend", 200, "suspended");
    expect((await verify(secret)).body.code).toBe("SUSPENDED");
    await step("deactivate", 409);
    await step("resume", 200, "active");
    const revoked = await call(t.app, "POST", `${path}/revoke`, w.owner.creds, { reason: "leaked in a log" });
    expect(revoked.body).toMatchObject({ status: "revoked", revokeReason: "leaked in a log", revokedBy: { id: w.owner.id } });
    expect((await verify(secret)).body.code).toBe("REVOKED");
    await step("resume", 409);
    await step("revoke", 409);
    const list = await call(t.app, "GET", `/v1/orgs/${w.orgId}/tokens?status=revoked`, w.owner.creds);
    expect(list.body.items.map((x: { id: string }) => x.id)).toContain(id);
  });

  it("regenerates with and without a grace period", async () => {
    const { id, secret: first } = await createToken(t.app, w.owner.creds, w.orgId, { name: "rotating" });
    const r1 = await call(t.app, "POST", `/v1/orgs/${w.orgId}/tokens/${id}/regenerate`, w.owner.creds, { graceSeconds: 3600 });
    expect(r1.status).toBe(200);
    const second = r1.body.secret as string;
    expect(second).not.toBe(first);
    expect(r1.body.token.previousSecretExpiresAt).not.toBeNull();
    expect((await verify(first)).body.code).toBe("VALID");
    expect((await verify(second)).body.code).toBe("VALID");
    const r2 = await call(t.app, "POST", `/v1/orgs/${w.orgId}/tokens/${id}/regenerate`, w.owner.creds, {});
    const third = r2.body.secret as string;
    expect((await verify(first)).body.code).toBe("NOT_FOUND");
    expect((await verify(second)).body.code).toBe("NOT_FOUND");
    expect((await verify(third)).body.code).toBe("VALID");
    const tooLong = await call(t.app, "POST", `/v1/orgs/${w.orgId}/tokens/${id}/regenerate`, w.owner.creds, {
      graceSeconds: 8 * 86400,
    });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.errors[0].field).toBe("graceSeconds");
  });

  it("answers every verification code", async () => {
    await call(t.app, "PUT", `/v1/orgs/${w.orgId}/scopes`, w.owner.creds, [
      { name: "messages:send", description: "Send messages" },
      { name: "messages:read", description: "Read messages" },
    ]);
    expect((await verify("not-a-token")).body.code).toBe("MALFORMED");
    const typo = (await createToken(t.app, w.owner.creds, w.orgId)).secret;
    expect((await verify(withLastCharChanged(typo))).body.code).toBe("MALFORMED");
    const { secret: unknown } = await createToken(t.app, w.owner.creds, w.orgId);
    await t.tessera.store.db
      .deleteFrom("token_secrets")
      .where("hash", "=", (await import("../../src/core/token-format.js")).hashToken(unknown))
      .execute();
    expect((await verify(unknown)).body.code).toBe("NOT_FOUND");

    const scoped = await createToken(t.app, w.member.creds, w.orgId, { scopes: ["messages:send"], allowedIps: ["10.0.0.0/8"] });
    expect((await verify(scoped.secret, { scopes: ["messages:send"], ip: "10.1.2.3" })).body.code).toBe("VALID");
    expect((await verify(scoped.secret, { scopes: ["messages:read"], ip: "10.1.2.3" })).body.code).toBe("INSUFFICIENT_SCOPE");
    expect((await verify(scoped.secret, { ip: "192.168.0.1" })).body.code).toBe("IP_NOT_ALLOWED");

    const limited = await createToken(t.app, w.owner.creds, w.orgId, { rateLimit: { limit: 2, windowSeconds: 60 } });
    const a = await verify(limited.secret);
    expect(a.body.ratelimit).toMatchObject({ limit: 2, remaining: 1 });
    await verify(limited.secret);
    const c = await verify(limited.secret);
    expect(c.body).toMatchObject({ valid: false, code: "RATE_LIMITED", ratelimit: { remaining: 0 } });

    const expiring = await createToken(t.app, w.owner.creds, w.orgId, { expiresAt: new Date(Date.now() + 1500).toISOString() });
    await new Promise((r) => setTimeout(r, 1600));
    expect((await verify(expiring.secret)).body.code).toBe("EXPIRED");

    const mine = await createToken(t.app, w.member2.creds, w.orgId);
    expect((await verify(mine.secret)).body.code).toBe("VALID");
    // An owner whose account is disabled: the token stops working with OWNER_DISABLED.
    await t.tessera.store.db.updateTable("users").set({ disabled_at: Date.now() }).where("id", "=", w.member2.id).execute();
    t.tessera.bus.publish({ type: "member", orgId: w.orgId, userId: w.member2.id });
    expect((await verify(mine.secret)).body.code).toBe("OWNER_DISABLED");
    await t.tessera.store.db.updateTable("users").set({ disabled_at: null }).where("id", "=", w.member2.id).execute();
    t.tessera.bus.publish({ type: "member", orgId: w.orgId, userId: w.member2.id });
    expect((await verify(mine.secret)).body.code).toBe("VALID");
    // Removal revokes the member's personal tokens (SPEC §2).
    expect((await call(t.app, "DELETE", `/v1/orgs/${w.orgId}/members/${w.member2.id}`, w.owner.creds)).status).toBe(204);
    expect((await verify(mine.secret)).body.code).toBe("REVOKED");
  });

  it("evaluates personal tokens against the owner's current role", async () => {
    const { secret } = await createToken(t.app, w.admin.creds, w.orgId, { scopes: ["audit:read", "tokens:read"] });
    expect((await verify(secret, { scopes: ["audit:read"] })).body.code).toBe("VALID");
    await call(t.app, "PATCH", `/v1/orgs/${w.orgId}/members/${w.admin.id}`, w.owner.creds, { role: "member" });
    const after = await verify(secret, { scopes: ["audit:read"] });
    expect(after.body.code).toBe("INSUFFICIENT_SCOPE");
    expect((await verify(secret, { scopes: ["tokens:read"] })).body.token.scopes).toEqual(["tokens:read"]);
    await call(t.app, "PATCH", `/v1/orgs/${w.orgId}/members/${w.admin.id}`, w.owner.creds, { role: "admin" });
    expect((await verify(secret, { scopes: ["audit:read"] })).body.code).toBe("VALID");
  });

  it("counts usage and writes the audit trail", async () => {
    const { id, secret } = await createToken(t.app, w.owner.creds, w.orgId, { name: "counted" });
    for (let i = 0; i < 5; i++) await verify(secret, { ip: "203.0.113.9" });
    await verify(secret, { scopes: ["nope:nope"] });
    await t.tessera.usage.flush();
    const detail = await call(t.app, "GET", `/v1/orgs/${w.orgId}/tokens/${id}`, w.owner.creds);
    expect(detail.body).toMatchObject({ usageCount: 5, lastUsedIp: "203.0.113.9" });
    expect(detail.body.lastUsedAt).not.toBeNull();
    const usage = await call(t.app, "GET", `/v1/orgs/${w.orgId}/tokens/${id}/usage?interval=hour`, w.owner.creds);
    expect(usage.status).toBe(200);
    const totals = usage.body.reduce(
      (acc: { ok: number; denied: number }, b: { ok: number; denied: number }) => ({
        ok: acc.ok + b.ok,
        denied: acc.denied + b.denied,
      }),
      { ok: 0, denied: 0 },
    );
    expect(totals).toEqual({ ok: 5, denied: 1 });
    await call(t.app, "POST", `/v1/orgs/${w.orgId}/tokens/${id}/suspend`, w.owner.creds, undefined, {
      traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "user-agent": "lifecycle-test",
    });
    const audit = await call(t.app, "GET", `/v1/orgs/${w.orgId}/tokens/${id}/audit`, w.owner.creds);
    expect(audit.body.items.map((e: { action: string }) => e.action)).toEqual(["token.suspended", "token.created"]);
    expect(audit.body.items[0]).toMatchObject({
      actor: { type: "user", id: w.owner.id, name: "Olive Owner" },
      target: { type: "token", id, name: "counted" },
      userAgent: "lifecycle-test",
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      orgId: w.orgId,
    });
    const failed = await t.app.inject({
      method: "POST",
      url: "/v1/auth/login",
      payload: { email: "owner@acme.test", password: "wrong password!" },
    });
    expect(failed.statusCode).toBe(401);
    const log = await call(t.app, "GET", `/v1/orgs/${w.orgId}/audit?action=auth.login_failed`, w.owner.creds);
    expect(log.body.items.length).toBeGreaterThan(0);
  });
});
