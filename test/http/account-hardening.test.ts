import { randomBytes, scryptSync } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dialects } from "../support/databases.js";
import { call, createToken, PASSWORD, seedWorld, startTestApp, type TestApp, type World } from "../support/harness.js";

/** A password hash as Tessera wrote them before argon2: scrypt N=2^15, r=8, p=1. */
function legacyScryptHash(password: string): string {
  const salt = randomBytes(16);
  const key = scryptSync(password, salt, 32, { N: 32768, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
  return `scrypt$32768$8$1$${salt.toString("base64url")}$${key.toString("base64url")}`;
}

/**
 * Accounts and what they type (issue 9 findings 5, 11, 12; issue 16 findings 3, 6): sign-in audit,
 * password hashes, names, allowlists and secrets echoed back. Both dialects: all of it is stored.
 */
describe.each(await dialects())("account hardening on %s", (dialect) => {
  let t: TestApp;
  let w: World;

  beforeAll(async () => {
    t = await startTestApp(dialect);
    w = await seedWorld(t.app);
  });
  afterAll(() => t?.close());

  const login = (email: string, password: string, ip = "198.51.100.40") =>
    t.app.inject({ method: "POST", url: "/v1/auth/login", payload: { email, password }, remoteAddress: ip });

  it("audits a sign-in once, at instance level, however many organisations the account is in", async () => {
    const already = (await call(t.app, "GET", "/v1/orgs", w.member.creds)).body.items.length as number;
    for (let i = already; i < 50; i++) {
      expect((await call(t.app, "POST", "/v1/orgs", w.member.creds, { name: `Org ${i}` })).status).toBe(201);
    }
    expect((await call(t.app, "GET", "/v1/orgs", w.member.creds)).body.items.length).toBe(50);
    for (let i = 0; i < 3; i++) expect((await login("member@acme.test", "wrong password!!")).statusCode).toBe(401);
    expect((await login("member@acme.test", PASSWORD)).statusCode).toBe(200);
    const rows = await t.tessera.store.db
      .selectFrom("audit_events")
      .selectAll()
      .where("action", "in", ["auth.login_failed", "auth.login"])
      .where("target_id", "=", w.member.id)
      .where("ip", "=", "198.51.100.40")
      .execute();
    expect(rows.map((r) => r.action).sort()).toEqual([
      "auth.login",
      "auth.login_failed",
      "auth.login_failed",
      "auth.login_failed",
    ]);
    for (const row of rows) expect(row).toMatchObject({ org_id: null, target_type: "user" });
    // No organisation's admins read where and when the member signs in.
    const orgLog = await call(t.app, "GET", `/v1/orgs/${w.orgId}/audit?action=auth.login_failed`, w.owner.creds);
    expect(orgLog.body.items).toEqual([]);
  });

  it("rewrites an old scrypt hash as argon2id at the next successful sign-in, and only then", async () => {
    const db = t.tessera.store.db;
    const old = legacyScryptHash(PASSWORD);
    await db.updateTable("users").set({ password_hash: old }).where("id", "=", w.viewer.id).execute();
    const hashOf = async () =>
      (await db.selectFrom("users").select("password_hash").where("id", "=", w.viewer.id).executeTakeFirstOrThrow())
        .password_hash;
    expect((await login("viewer@acme.test", "wrong password!!", "198.51.100.41")).statusCode).toBe(401);
    expect(await hashOf()).toBe(old);
    expect((await login("viewer@acme.test", PASSWORD, "198.51.100.41")).statusCode).toBe(200);
    const upgraded = await hashOf();
    expect(upgraded).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
    expect((await login("viewer@acme.test", PASSWORD, "198.51.100.41")).statusCode).toBe(200);
    expect(await hashOf()).toBe(upgraded);
    expect((await login("viewer@acme.test", "wrong password!!", "198.51.100.41")).statusCode).toBe(401);
  });

  it("refuses names with control, bidi-override or zero-width characters, naming the field", async () => {
    const tricks = [
      "Owner\u200b",
      "a\u202Eexe.txt",
      "x\u2066y",
      "\ufeffAcme",
      "Adam\u200dAdmin",
      "line\nbreak",
      "tab\there",
      "rtl\u061c",
    ];
    const { id } = await createToken(t.app, w.owner.creds, w.orgId, { name: "fine" });
    for (const name of tricks) {
      const org = await call(t.app, "POST", "/v1/orgs", w.owner.creds, { name });
      expect(org.status, JSON.stringify(name)).toBe(400);
      expect(org.body.code).toBe("validation_failed");
      expect(org.body.errors).toEqual([
        { field: "name", message: "must not contain control, bidirectional-override or zero-width characters" },
      ]);
      const token = await call(t.app, "POST", `/v1/orgs/${w.orgId}/tokens`, w.owner.creds, { name });
      expect(token.status).toBe(400);
      expect(token.body.errors[0].field).toBe("name");
      const renamed = await call(t.app, "PATCH", `/v1/orgs/${w.orgId}/tokens/${id}`, w.owner.creds, { name });
      expect(renamed.status).toBe(400);
      expect(renamed.body.errors[0].field).toBe("name");
      const renamedOrg = await call(t.app, "PATCH", `/v1/orgs/${w.orgId}`, w.owner.creds, { name });
      expect(renamedOrg.status).toBe(400);
      const issued = await call(t.app, "POST", `/v1/orgs/${w.orgId}/tokens`, w.owner.creds, { name: "ok", issuedFor: name });
      expect(issued.status).toBe(400);
      expect(issued.body.errors[0].field).toBe("issuedFor");
    }
    for (const description of ["hidden\u200b", "\u202Ereversed"]) {
      const res = await call(t.app, "POST", `/v1/orgs/${w.orgId}/tokens`, w.owner.creds, { name: "ok", description });
      expect(res.status).toBe(400);
      expect(res.body.errors[0].field).toBe("description");
    }
    // Real names in any script, and descriptions over several lines, are fine.
    for (const name of ["Zoë Ålström", "東京チーム", "مرحبا", "Café 🚀"]) {
      expect((await call(t.app, "POST", `/v1/orgs/${w.orgId}/tokens`, w.owner.creds, { name })).status, name).toBe(201);
    }
    const multi = await call(t.app, "POST", `/v1/orgs/${w.orgId}/tokens`, w.owner.creds, {
      name: "documented",
      description: "line one\nline two\ttabbed",
    });
    expect(multi.status).toBe(201);
    // Nothing was stored for the refused names.
    const stored = await t.tessera.store.db.selectFrom("tokens").select("name").execute();
    for (const row of stored) expect(tricks).not.toContain(row.name);
  });

  it("accepts only canonical CIDRs in allowedIps (issue 16 finding 6)", async () => {
    for (const bad of ["1.2.3.4/000", "1.2.3.4/08", "010.0.0.1", "fe80::1%eth0", "fe80::/010", "10.0.0.0/33", "::/129"]) {
      const res = await call(t.app, "POST", `/v1/orgs/${w.orgId}/tokens`, w.owner.creds, {
        name: "pinned",
        allowedIps: ["10.0.0.0/8", bad],
      });
      expect(res.status, bad).toBe(400);
      expect(res.body.code).toBe("validation_failed");
      expect(res.body.errors[0].field).toBe("allowedIps[1]");
    }
    const ok = await call(t.app, "POST", `/v1/orgs/${w.orgId}/tokens`, w.owner.creds, {
      name: "pinned",
      allowedIps: ["10.0.0.0/8", "0.0.0.0/0", "2001:db8::/32", "203.0.113.5"],
    });
    expect(ok.status, ok.raw).toBe(201);
  });

  it("never echoes a token-shaped string, whatever its letter case or prefix (issue 9 finding 12)", async () => {
    const body = "0123456789abcdefghijABCDEFGHIJ0123456789";
    for (const shaped of [`TSR_live_${body}`, `Tsr_LIVE_${body}`, `acmecorp_Test_${body}`, `tsr_live_${body}`]) {
      const res = await call(t.app, "POST", `/v1/orgs/${w.orgId}/tokens`, w.owner.creds, { name: "x", scopes: [shaped] });
      expect(res.status, res.raw).toBe(400);
      expect(res.raw).not.toContain(body);
      expect(res.raw).toContain("[redacted token]");
    }
  });
});
