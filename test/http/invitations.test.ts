import { PassThrough } from "node:stream";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp } from "../../src/http/app.js";
import { dialects } from "../support/databases.js";
import {
  type Call,
  call,
  createToken,
  joinOrg,
  linkSecret,
  login,
  PASSWORD,
  rootToken,
  seedWorld,
  startTestApp,
  type TestApp,
  type World,
} from "../support/harness.js";
import { linkIn, startSmtp, type TestSmtp } from "../support/smtp.js";

/**
 * Joining by invitation, password reset and change, own sessions (issue 9 findings 2, 3, 5, 6, 10, 12;
 * issue 16's session endpoints). Each attack of the review is replayed through HTTP.
 */

function expectProblem(res: Call, status: number, code: string) {
  expect(res.status, res.raw).toBe(status);
  expect(res.body.code, res.raw).toBe(code);
}

function cookiesOf(res: { headers: Record<string, unknown> }): string[] {
  const raw = res.headers["set-cookie"];
  return Array.isArray(raw) ? (raw as string[]) : raw ? [String(raw)] : [];
}

async function verify(app: FastifyInstance, root: string, token: string) {
  return (await call(app, "POST", "/v1/verify", { bearer: root }, { token })).body.code as string;
}

describe.each(await dialects())("invitations, passwords and sessions on %s (no SMTP: links returned once)", (dialect) => {
  let t: TestApp;
  let w: World;
  let root: string;

  beforeAll(async () => {
    t = await startTestApp(dialect);
    w = await seedWorld(t.app);
    root = await rootToken(t.tessera);
  });
  afterAll(() => t?.close());

  const invitations = () => `/v1/orgs/${w.orgId}/invitations`;

  it("invites, shows the invitation, and lets a new account choose its own password and sign in", async () => {
    const invited = await call(t.app, "POST", invitations(), w.owner.creds, { email: "New.Person@Acme.test", role: "member" });
    expect(invited.status, invited.raw).toBe(201);
    expect(invited.body.acceptUrl).toMatch(/^http:\/\/localhost:7070\/accept-invitation#token=tsi_live_[0-9A-Za-z]{43}$/);
    expect(invited.body.invitation).toMatchObject({
      orgId: w.orgId,
      email: "new.person@acme.test",
      role: "member",
      status: "pending",
      invitedBy: { id: w.owner.id, name: "Olive Owner" },
      acceptedAt: null,
    });
    const days = (Date.parse(invited.body.invitation.expiresAt) - Date.parse(invited.body.invitation.createdAt)) / 86_400_000;
    expect(days).toBe(7);
    const token = linkSecret(invited.body.acceptUrl);
    // Only the hash is stored.
    const stored = await t.tessera.store.db.selectFrom("invitations").selectAll().execute();
    expect(JSON.stringify(stored)).not.toContain(token);

    const preview = await call(t.app, "GET", `/v1/invitations/${token}`);
    expect(preview.status, preview.raw).toBe(200);
    expect(preview.body).toEqual({
      organization: { id: w.orgId, name: "Acme" },
      email: "new.person@acme.test",
      role: "member",
      invitedBy: { name: "Olive Owner" },
      expiresAt: invited.body.invitation.expiresAt,
    });

    const missing = await call(t.app, "POST", "/v1/invitations/accept", null, { token, password: PASSWORD });
    expectProblem(missing, 400, "validation_failed");
    expect(missing.body.errors[0].field).toBe("name");
    const accepted = await t.app.inject({
      method: "POST",
      url: "/v1/invitations/accept",
      payload: { token, name: "Nina New", password: "my very own password" },
    });
    expect(accepted.statusCode, accepted.body).toBe(200);
    expect(JSON.parse(accepted.body)).toMatchObject({
      user: { email: "new.person@acme.test", name: "Nina New" },
      organization: { id: w.orgId, name: "Acme" },
      role: "member",
    });
    const session = accepted.cookies.find((c) => c.name === "tessera_session")!;
    const csrf = accepted.cookies.find((c) => c.name === "tessera_csrf")!;
    expect(session.httpOnly).toBe(true);
    const me = await call(t.app, "GET", "/v1/me", { session: session.value, csrf: csrf.value });
    expect(me.body.memberships).toEqual([expect.objectContaining({ orgId: w.orgId, role: "member" })]);
    await login(t.app, "new.person@acme.test", "my very own password");

    // Single use: the link is dead now, for preview and accept alike.
    expectProblem(await call(t.app, "GET", `/v1/invitations/${token}`), 404, "not_found");
    expectProblem(
      await call(t.app, "POST", "/v1/invitations/accept", null, { token, name: "Again", password: PASSWORD }),
      409,
      "conflict",
    );
    const events = await call(t.app, "GET", `/v1/orgs/${w.orgId}/audit?action=member.added&limit=5`, w.owner.creds);
    expect(events.body.items[0]).toMatchObject({
      actor: { type: "user", id: JSON.parse(accepted.body).user.id },
      details: { via: "invitation", role: "member", invitedBy: { id: w.owner.id, name: "Olive Owner" } },
    });
    const created = await call(t.app, "GET", `/v1/orgs/${w.orgId}/audit?action=invitation.created&limit=50`, w.owner.creds);
    expect(JSON.stringify(created.body)).not.toContain(token);
    expect(created.body.items.length).toBeGreaterThan(0);
  });

  it("lists pending first, revokes (the link dies), replaces on re-invite, and hides other organisations' invitations", async () => {
    const first = await call(t.app, "POST", invitations(), w.admin.creds, { email: "twice@acme.test", role: "viewer" });
    const second = await call(t.app, "POST", invitations(), w.admin.creds, { email: "twice@acme.test", role: "member" });
    expect(second.status).toBe(201);
    // The older link died with the re-invitation.
    expectProblem(await call(t.app, "GET", `/v1/invitations/${linkSecret(first.body.acceptUrl)}`), 404, "not_found");
    expect((await call(t.app, "GET", `/v1/invitations/${linkSecret(second.body.acceptUrl)}`)).body.role).toBe("member");
    const list = await call(t.app, "GET", invitations(), w.member.creds);
    expect(list.status).toBe(200);
    const statuses = list.body.items.map((i: { status: string }) => i.status);
    expect(statuses.indexOf("pending")).toBe(0);
    expect(statuses.lastIndexOf("pending")).toBeLessThan(statuses.findIndex((s: string) => s !== "pending"));
    expect(list.body.items.find((i: { id: string }) => i.id === first.body.invitation.id).status).toBe("revoked");

    // Another organisation's invitation is not there (404), and a viewer or member may not revoke.
    expectProblem(
      await call(t.app, "DELETE", `/v1/orgs/${w.otherOrgId}/invitations/${second.body.invitation.id}`, w.otherOwner.creds),
      404,
      "not_found",
    );
    expectProblem(await call(t.app, "DELETE", `${invitations()}/${second.body.invitation.id}`, w.member.creds), 403, "forbidden");
    expect((await call(t.app, "DELETE", `${invitations()}/${second.body.invitation.id}`, w.admin.creds)).status).toBe(204);
    expectProblem(await call(t.app, "GET", `/v1/invitations/${linkSecret(second.body.acceptUrl)}`), 404, "not_found");
    expectProblem(
      await call(t.app, "DELETE", `${invitations()}/${second.body.invitation.id}`, w.admin.creds),
      409,
      "invalid_state",
    );
    const audit = await call(t.app, "GET", `/v1/orgs/${w.orgId}/audit?action=invitation.revoked&limit=5`, w.owner.creds);
    expect(audit.body.items[0].target.id).toBe(second.body.invitation.id);

    // Expired: one 404 for everything that is not pending.
    const late = await call(t.app, "POST", invitations(), w.owner.creds, { email: "late@acme.test", role: "viewer" });
    await t.tessera.store.db
      .updateTable("invitations")
      .set({ expires_at: Date.now() - 1 })
      .where("id", "=", late.body.invitation.id)
      .execute();
    const token = linkSecret(late.body.acceptUrl);
    const expired = await call(t.app, "GET", `/v1/invitations/${token}`);
    const unknown = await call(t.app, "GET", `/v1/invitations/tsi_live_${"A".repeat(43)}`);
    expectProblem(expired, 404, "not_found");
    expect(expired.body.detail).toBe(unknown.body.detail);
    expectProblem(
      await call(t.app, "POST", "/v1/invitations/accept", null, { token, name: "L", password: PASSWORD }),
      404,
      "not_found",
    );
    expect(
      (await call(t.app, "GET", invitations(), w.owner.creds)).body.items.find(
        (i: { id: string }) => i.id === late.body.invitation.id,
      ).status,
    ).toBe("expired");
  });

  it("finding 2/6: POST /members with a password is gone; an invitation to an existing email never lets the inviter in", async () => {
    // The attacker: a signed-in person with an organisation of their own, and a members:write token.
    const attacker = await joinOrg(t.app, w.owner.creds, w.orgId, {
      email: "mallory@evil.test",
      name: "Mallory",
      role: "viewer",
    });
    const lair = await call(t.app, "POST", "/v1/orgs", attacker.creds, { name: "Lair" });
    const lairId = lair.body.id as string;
    const adminToken = await createToken(t.app, w.owner.creds, w.orgId, {
      kind: "service",
      name: "mw",
      scopes: ["members:write"],
    });
    for (const [orgId, creds] of [
      [lairId, attacker.creds],
      [w.orgId, { bearer: adminToken.secret }],
    ] as const) {
      const old = await call(t.app, "POST", `/v1/orgs/${orgId}/members`, creds, {
        email: "victim@acme.test",
        name: "Victim",
        role: "admin",
        password: "attacker chose this",
      });
      expectProblem(old, 404, "not_found");
    }
    // The victim already has an account (Mia): the link's holder cannot accept it without signing in as her.
    const invited = await call(t.app, "POST", `/v1/orgs/${lairId}/invitations`, attacker.creds, {
      email: "member@acme.test",
      role: "viewer",
    });
    const token = linkSecret(invited.body.acceptUrl);
    const anonymous = await call(t.app, "POST", "/v1/invitations/accept", null, {
      token,
      name: "x",
      password: "attacker chose this",
    });
    expectProblem(anonymous, 409, "conflict");
    expect(anonymous.body.detail).toBe("Sign in as member@acme.test to accept this invitation");
    expectProblem(await call(t.app, "POST", "/v1/invitations/accept", attacker.creds, { token }), 403, "forbidden");
    expectProblem(
      await call(t.app, "POST", "/v1/invitations/accept", { bearer: adminToken.secret }, { token }),
      403,
      "forbidden",
    );
    const signIn = await t.app.inject({
      method: "POST",
      url: "/v1/auth/login",
      payload: { email: "member@acme.test", password: "attacker chose this" },
    });
    expect(signIn.statusCode).toBe(401);
    await login(t.app, "member@acme.test");
    // A service token with members:write cannot give the owner role either.
    expectProblem(
      await call(t.app, "POST", invitations(), { bearer: adminToken.secret }, { email: "boss@acme.test", role: "owner" }),
      403,
      "forbidden",
    );
  });

  it("finding 5: an invitation says nothing about whether the email has an account, and the victim's logins stay out of the inviter's audit", async () => {
    const lair = await call(t.app, "POST", "/v1/orgs", w.member2.creds, { name: "Probe" });
    const probe = `/v1/orgs/${lair.body.id}/invitations`;
    const existing = await call(t.app, "POST", probe, w.member2.creds, { email: "admin@acme.test", role: "viewer" });
    const unknown = await call(t.app, "POST", probe, w.member2.creds, { email: "nobody@acme.test", role: "viewer" });
    expect(existing.status).toBe(201);
    expect(unknown.status).toBe(201);
    const shape = (r: Call) => {
      const { id, email, createdAt, expiresAt, ...rest } = r.body.invitation;
      return { ...rest, acceptUrl: r.body.acceptUrl.replace(/token=.*/, "") };
    };
    expect(shape(existing)).toEqual(shape(unknown));
    expect(existing.raw).not.toContain("Adam");
    const previews = await Promise.all(
      [existing, unknown].map((r) => call(t.app, "GET", `/v1/invitations/${linkSecret(r.body.acceptUrl)}`)),
    );
    expect(Object.keys(previews[0]!.body)).toEqual(Object.keys(previews[1]!.body));
    expect(previews[0]!.raw).not.toContain("Adam");
    // The victim signs in (and fails once): nothing about it reaches the prober's organisation.
    await login(t.app, "admin@acme.test");
    await t.app.inject({
      method: "POST",
      url: "/v1/auth/login",
      payload: { email: "admin@acme.test", password: "wrong wrong wrong" },
    });
    const audit = await call(t.app, "GET", `/v1/orgs/${lair.body.id}/audit?limit=100`, w.member2.creds);
    expect(audit.body.items.filter((e: { action: string }) => e.action.startsWith("auth."))).toEqual([]);
    expect(audit.raw).not.toContain(w.admin.id);
  });

  it("finding 5: a member may leave (any role), except the last owner", async () => {
    const lair = await call(t.app, "POST", "/v1/orgs", w.member2.creds, { name: "Trap" });
    const joined = await joinOrg(t.app, w.member2.creds, lair.body.id, { email: "viewer@acme.test", name: "x", role: "viewer" });
    expect(joined.id).toBe(w.viewer.id);
    expect((await call(t.app, "DELETE", `/v1/orgs/${lair.body.id}/members/${w.viewer.id}`, w.viewer.creds)).status).toBe(204);
    expectProblem(await call(t.app, "GET", `/v1/orgs/${lair.body.id}`, w.viewer.creds), 404, "not_found");
    // A viewer may not remove someone else, and the last owner may not leave.
    expectProblem(await call(t.app, "DELETE", `/v1/orgs/${w.orgId}/members/${w.member.id}`, w.viewer.creds), 403, "forbidden");
    expectProblem(
      await call(t.app, "DELETE", `/v1/orgs/${lair.body.id}/members/${w.member2.id}`, w.member2.creds),
      409,
      "invalid_state",
    );
    const left = await call(t.app, "GET", `/v1/orgs/${lair.body.id}/audit?action=member.left`, w.member2.creds);
    expect(left.body.items[0]).toMatchObject({ actor: { id: w.viewer.id }, target: { id: w.viewer.id } });
  });

  it("finding 12: removing a member revokes their personal tokens here, and re-adding does not revive them", async () => {
    const person = await joinOrg(t.app, w.owner.creds, w.orgId, { email: "temp@acme.test", name: "Tim Temp", role: "member" });
    const mine = await createToken(t.app, person.creds, w.orgId, { name: "temp's token" });
    // A personal token of the same person in another organisation is not touched.
    const elsewhere = await call(t.app, "POST", "/v1/orgs", person.creds, { name: "Tim's own" });
    const kept = await createToken(t.app, person.creds, elsewhere.body.id, { name: "kept" });
    expect(await verify(t.app, root, mine.secret)).toBe("VALID");
    expect((await call(t.app, "DELETE", `/v1/orgs/${w.orgId}/members/${person.id}`, w.admin.creds)).status).toBe(204);
    expect(await verify(t.app, root, mine.secret)).toBe("REVOKED");
    const detail = await call(t.app, "GET", `/v1/orgs/${w.orgId}/tokens/${mine.id}`, w.owner.creds);
    expect(detail.body).toMatchObject({ status: "revoked", revokeReason: "member removed", revokedBy: { id: w.admin.id } });
    const revoked = await call(t.app, "GET", `/v1/orgs/${w.orgId}/audit?action=token.revoked&targetId=${mine.id}`, w.owner.creds);
    expect(revoked.body.items[0].details).toEqual({ reason: "member removed" });
    await joinOrg(t.app, w.owner.creds, w.orgId, { email: "temp@acme.test", name: "Tim Temp", role: "member" });
    expect(await verify(t.app, root, mine.secret)).toBe("REVOKED");
    expect(await verify(t.app, root, kept.secret)).toBe("VALID");
  });

  it("finding 10: concurrent invitations and accepts of one new email answer 201/200 or 409, never 500, and log no email", async () => {
    const log = new PassThrough();
    let logged = "";
    log.on("data", (c: Buffer) => {
      logged += c.toString("utf8");
    });
    const logging = await buildApp(t.tessera, { logger: { level: "info" }, logStream: log });
    await logging.ready();
    try {
      const email = `racer-${dialect}@acme.test`;
      const invites = await Promise.all(
        [0, 1, 2, 3].map(() => call(logging, "POST", invitations(), w.owner.creds, { email, role: "member" })),
      );
      for (const r of invites) expect([201, 409], r.raw).toContain(r.status);
      // Four organisations invite the same new email; four holders accept at once: one account, never a 500.
      const orgs = await Promise.all(
        [0, 1, 2, 3].map(
          async (i) => (await call(t.app, "POST", "/v1/orgs", w.owner.creds, { name: `Race ${i}` })).body.id as string,
        ),
      );
      const twin = `twin-${dialect}@acme.test`;
      const links = await Promise.all(
        orgs.map(async (o) =>
          linkSecret(
            (await call(t.app, "POST", `/v1/orgs/${o}/invitations`, w.owner.creds, { email: twin, role: "viewer" })).body
              .acceptUrl,
          ),
        ),
      );
      const accepts = await Promise.all(
        links.map((token) => call(logging, "POST", "/v1/invitations/accept", null, { token, name: "Twin", password: PASSWORD })),
      );
      for (const r of accepts) expect([200, 409], r.raw).toContain(r.status);
      expect(accepts.filter((r) => r.status === 200)).toHaveLength(1);
      // One invitation accepted four times at once (by the same signed-in account): exactly one wins.
      const once = await call(t.app, "POST", invitations(), w.owner.creds, { email: twin, role: "viewer" });
      const twinCreds = await login(t.app, twin);
      const same = await Promise.all(
        [0, 1, 2, 3].map(() =>
          call(logging, "POST", "/v1/invitations/accept", twinCreds, { token: linkSecret(once.body.acceptUrl) }),
        ),
      );
      for (const r of same) expect([200, 409], r.raw).toContain(r.status);
      expect(same.filter((r) => r.status === 200)).toHaveLength(1);
      await new Promise((r) => setTimeout(r, 50));
      expect(logged).not.toContain(twin);
      expect(logged).not.toContain(email);
      expect(logged).not.toMatch(/duplicate key|UNIQUE constraint|"level":50/);
    } finally {
      await logging.close();
    }
  });

  it("changes the password with the current one: a wrong one is a 400 on currentPassword; other sessions end, this one stays", async () => {
    const person = await joinOrg(t.app, w.owner.creds, w.orgId, { email: "pw@acme.test", name: "Pat Word", role: "viewer" });
    const other = await login(t.app, "pw@acme.test");
    const wrong = await call(t.app, "POST", "/v1/me/password", person.creds, {
      currentPassword: "not my password",
      newPassword: "a brand new password",
    });
    expectProblem(wrong, 400, "validation_failed");
    expect(wrong.body.errors[0].field).toBe("currentPassword");
    const short = await call(t.app, "POST", "/v1/me/password", person.creds, { currentPassword: PASSWORD, newPassword: "short" });
    expectProblem(short, 400, "validation_failed");
    expect(short.body.errors[0].field).toBe("newPassword");
    const noCsrf = await t.app.inject({
      method: "POST",
      url: "/v1/me/password",
      headers: { cookie: `tessera_session=${person.creds.session}; tessera_csrf=${person.creds.csrf}` },
      payload: { currentPassword: PASSWORD, newPassword: "a brand new password" },
    });
    expect(noCsrf.statusCode).toBe(403);
    const bearer = await createToken(t.app, w.owner.creds, w.orgId, { name: "pw bearer" });
    expectProblem(
      await call(
        t.app,
        "POST",
        "/v1/me/password",
        { bearer: bearer.secret },
        { currentPassword: PASSWORD, newPassword: "a brand new password" },
      ),
      403,
      "forbidden",
    );
    expect(
      (
        await call(t.app, "POST", "/v1/me/password", person.creds, {
          currentPassword: PASSWORD,
          newPassword: "a brand new password",
        })
      ).status,
    ).toBe(204);
    expect((await call(t.app, "GET", "/v1/me", person.creds)).status).toBe(200);
    expect((await call(t.app, "GET", "/v1/me", other)).status).toBe(401);
    await login(t.app, "pw@acme.test", "a brand new password");
    const audit = await t.tessera.store.db
      .selectFrom("audit_events")
      .select(["action", "org_id"])
      .where("target_id", "=", person.id)
      .execute();
    expect(audit).toContainEqual({ action: "auth.password_changed", org_id: null });
    expect(audit).toContainEqual({ action: "auth.password_change_failed", org_id: null });
  });

  it("counts wrong current passwords: the 11th attempt within the window is refused with 429", async () => {
    const person = await joinOrg(t.app, w.owner.creds, w.orgId, { email: "guess@acme.test", name: "Gus Guess", role: "viewer" });
    for (let i = 0; i < 10; i++) {
      const res = await call(t.app, "POST", "/v1/me/password", person.creds, {
        currentPassword: `guess ${i} guess`,
        newPassword: "a brand new password",
      });
      expect(res.status).toBe(400);
    }
    const limited = await call(t.app, "POST", "/v1/me/password", person.creds, {
      currentPassword: PASSWORD,
      newPassword: "a brand new password",
    });
    expectProblem(limited, 429, "rate_limited");
    expect(limited.headers["retry-after"]).toBeDefined();
  });

  it("lists own sessions (public ids, never the cookie), ends one, and signs out everywhere", async () => {
    const person = await joinOrg(t.app, w.owner.creds, w.orgId, { email: "sess@acme.test", name: "Ses Sion", role: "viewer" });
    const phone = await t.app.inject({
      method: "POST",
      url: "/v1/auth/login",
      payload: { email: "sess@acme.test", password: PASSWORD },
      headers: { "user-agent": "PhoneBrowser/1.0" },
    });
    const phoneCreds = {
      session: phone.cookies.find((c) => c.name === "tessera_session")!.value,
      csrf: phone.cookies.find((c) => c.name === "tessera_csrf")!.value,
    };
    const list = await call(t.app, "GET", "/v1/me/sessions", person.creds);
    expect(list.status).toBe(200);
    expect(list.body.items.length).toBeGreaterThanOrEqual(2);
    for (const s of list.body.items) {
      expect(s.id).toMatch(/^ses_[0-9A-Za-z]{22}$/);
      expect(Object.keys(s).sort()).toEqual(["createdAt", "current", "expiresAt", "id", "ip", "lastSeenAt", "userAgent"]);
    }
    expect(list.body.items.filter((s: { current: boolean }) => s.current)).toHaveLength(1);
    expect(list.raw).not.toContain(person.creds.session);
    expect(list.raw).not.toContain(phoneCreds.session);
    const phoneSession = list.body.items.find((s: { userAgent: string | null }) => s.userAgent === "PhoneBrowser/1.0");
    expect(phoneSession).toMatchObject({ current: false, ip: "127.0.0.1" });
    // Someone else's session is not found; a bearer token may not list sessions.
    expectProblem(await call(t.app, "DELETE", `/v1/me/sessions/${phoneSession.id}`, w.viewer.creds), 404, "not_found");
    expect((await call(t.app, "GET", "/v1/me", phoneCreds)).status).toBe(200);
    const bearer = await createToken(t.app, w.owner.creds, w.orgId, { name: "sessions bearer" });
    expectProblem(await call(t.app, "GET", "/v1/me/sessions", { bearer: bearer.secret }), 403, "forbidden");
    expect((await call(t.app, "DELETE", `/v1/me/sessions/${phoneSession.id}`, person.creds)).status).toBe(204);
    expect((await call(t.app, "GET", "/v1/me", phoneCreds)).status).toBe(401);
    expect((await call(t.app, "GET", "/v1/me", person.creds)).status).toBe(200);
    // Sign out everywhere: this session too, and the cookies are cleared.
    const another = await login(t.app, "sess@acme.test");
    const everywhere = await call(t.app, "DELETE", "/v1/me/sessions", person.creds);
    expect(everywhere.status).toBe(204);
    expect(cookiesOf(everywhere).some((c) => /^tessera_session=;/.test(c))).toBe(true);
    expect((await call(t.app, "GET", "/v1/me", person.creds)).status).toBe(401);
    expect((await call(t.app, "GET", "/v1/me", another)).status).toBe(401);
  });

  it("without SMTP a reset request sends nothing and says 202; the operator's link resets the password and ends every session", async () => {
    const person = await joinOrg(t.app, w.owner.creds, w.orgId, { email: "forgot@acme.test", name: "Fo Got", role: "viewer" });
    for (const email of ["forgot@acme.test", "nobody-here@acme.test"]) {
      const res = await call(t.app, "POST", "/v1/auth/password-reset", null, { email });
      expect(res.status, res.raw).toBe(202);
      expect(res.raw).toBe("");
    }
    expect(await t.tessera.store.db.selectFrom("password_resets").selectAll().execute()).toEqual([]);
    const link = await t.tessera.accounts.resetLink("forgot@acme.test", { ip: null, userAgent: "cli", traceId: "1".repeat(32) });
    expect(link).toMatch(/^http:\/\/localhost:7070\/reset-password#token=tsp_live_[0-9A-Za-z]{43}$/);
    const token = linkSecret(link);
    const short = await call(t.app, "POST", "/v1/auth/password-reset/confirm", null, { token, password: "short" });
    expectProblem(short, 400, "validation_failed");
    expect(
      (await call(t.app, "POST", "/v1/auth/password-reset/confirm", null, { token, password: "reset to something new" })).status,
    ).toBe(204);
    expect((await call(t.app, "GET", "/v1/me", person.creds)).status).toBe(401);
    await login(t.app, "forgot@acme.test", "reset to something new");
    expectProblem(
      await call(t.app, "POST", "/v1/auth/password-reset/confirm", null, { token, password: "and once more again" }),
      404,
      "not_found",
    );
    const audit = await t.tessera.store.db
      .selectFrom("audit_events")
      .select(["action", "org_id"])
      .where("target_id", "=", person.id)
      .execute();
    expect(audit).toContainEqual({ action: "auth.password_reset", org_id: null });
  });

  it("limits reset requests per email and per address (429), known account or not", async () => {
    for (let i = 0; i < 5; i++)
      expect((await call(t.app, "POST", "/v1/auth/password-reset", null, { email: "spam@acme.test" })).status).toBe(202);
    expectProblem(await call(t.app, "POST", "/v1/auth/password-reset", null, { email: "spam@acme.test" }), 429, "rate_limited");
    const other = await call(t.app, "POST", "/v1/auth/password-reset", null, { email: "SPAM@acme.test " });
    expect(other.status).not.toBe(202);
  });
});

describe.each(await dialects())("invitations and password reset through a real SMTP server on %s", (dialect) => {
  let t: TestApp;
  let smtp: TestSmtp;
  let owner: { session: string; csrf: string };
  let orgId: string;

  beforeAll(async () => {
    smtp = await startSmtp();
    t = await startTestApp(dialect, { smtpUrl: smtp.url, publicUrl: "https://tessera.example.test" });
    const setup = await call(t.app, "POST", "/v1/setup", null, {
      email: "owner@acme.test",
      password: PASSWORD,
      name: "Olive Owner",
      organization: { name: "Acme" },
    });
    orgId = setup.body.organization.id;
    owner = await login(t.app, "owner@acme.test");
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
  });

  it("mails the invitation (acceptUrl null), in Italian when asked; the invitee completes the flow through HTTP", async () => {
    const invited = await call(t.app, "POST", `/v1/orgs/${orgId}/invitations`, owner, {
      email: "ivo@acme.test",
      role: "admin",
      locale: "it",
    });
    expect(invited.status, invited.raw).toBe(201);
    expect(invited.body.acceptUrl).toBeNull();
    const mail = await smtp.next("ivo@acme.test");
    expect(mail.body).toContain("Sei stato invitato a unirti");
    const link = linkIn(mail);
    expect(link).toMatch(/^https:\/\/tessera\.example\.test\/accept-invitation#token=tsi_live_[0-9A-Za-z]{43}$/);
    // Nothing else secret in the mail: no other token-shaped string, and no inviter-chosen text.
    expect(new Set(mail.body.match(/[a-z]{2,8}_(live|test)_[0-9A-Za-z]{20,}/g))).toEqual(new Set([linkSecret(link)]));
    expect(mail.body).not.toContain("Acme");
    const token = linkSecret(link);
    expect((await call(t.app, "GET", `/v1/invitations/${token}`)).body).toMatchObject({ email: "ivo@acme.test", role: "admin" });
    const accepted = await call(t.app, "POST", "/v1/invitations/accept", null, {
      token,
      name: "Ivo",
      password: "ivo's own password",
    });
    expect(accepted.status, accepted.raw).toBe(200);
    const ivo = await login(t.app, "ivo@acme.test", "ivo's own password");
    expect((await call(t.app, "GET", `/v1/orgs/${orgId}/members`, ivo)).status).toBe(200);
    // English by default.
    await call(t.app, "POST", `/v1/orgs/${orgId}/invitations`, owner, { email: "eve@acme.test", role: "viewer" });
    expect((await smtp.next("eve@acme.test")).body).toContain("You have been invited");
  });

  it("finding 2: with mail, the inviter never holds the link, so cannot create the invitee's account", async () => {
    const mallory = await call(t.app, "POST", `/v1/orgs/${orgId}/invitations`, owner, {
      email: "mallory@evil.test",
      role: "owner",
    });
    const mLink = linkSecret(linkIn(await smtp.next("mallory@evil.test")));
    await call(t.app, "POST", "/v1/invitations/accept", null, { token: mLink, name: "Mallory", password: PASSWORD });
    expect(mallory.status).toBe(201);
    const mCreds = await login(t.app, "mallory@evil.test");
    const lair = await call(t.app, "POST", "/v1/orgs", mCreds, { name: "Lair" });
    const invite = await call(t.app, "POST", `/v1/orgs/${lair.body.id}/invitations`, mCreds, {
      email: "victim@corp.test",
      role: "viewer",
    });
    expect(invite.status).toBe(201);
    expect(invite.body.acceptUrl).toBeNull();
    expect(invite.raw).not.toMatch(/tsi_live_/);
    const list = await call(t.app, "GET", `/v1/orgs/${lair.body.id}/invitations`, mCreds);
    expect(list.raw).not.toMatch(/tsi_live_/);
    // The victim's own mailbox got the only copy.
    await smtp.next("victim@corp.test");
    const attempt = await t.app.inject({
      method: "POST",
      url: "/v1/auth/login",
      payload: { email: "victim@corp.test", password: PASSWORD },
    });
    expect(attempt.statusCode).toBe(401);
  });

  it("mails a single-use reset link valid one hour; confirming sets the password and ends every session; unknown emails get the same 202 and no mail", async () => {
    const before = smtp.mails.length;
    const unknown = await call(t.app, "POST", "/v1/auth/password-reset", null, { email: "ghost@acme.test" });
    const known = await call(t.app, "POST", "/v1/auth/password-reset", null, { email: "owner@acme.test" });
    expect(unknown.status).toBe(202);
    expect(known.status).toBe(202);
    expect(unknown.raw).toBe(known.raw);
    const mail = await smtp.next("owner@acme.test");
    await new Promise((r) => setTimeout(r, 200));
    expect(smtp.mails.slice(before).flatMap((m) => m.to)).toEqual(["owner@acme.test"]);
    const link = linkIn(mail);
    expect(link).toMatch(/^https:\/\/tessera\.example\.test\/reset-password#token=tsp_live_[0-9A-Za-z]{43}$/);
    const row = await t.tessera.store.db.selectFrom("password_resets").selectAll().executeTakeFirstOrThrow();
    expect(row.expires_at - row.created_at).toBe(3_600_000);
    expect(JSON.stringify(row)).not.toContain(linkSecret(link));
    const token = linkSecret(link);
    expect(
      (await call(t.app, "POST", "/v1/auth/password-reset/confirm", null, { token, password: "owner's fresh password" })).status,
    ).toBe(204);
    expect((await call(t.app, "GET", "/v1/me", owner)).status).toBe(401);
    expect(
      (await t.app.inject({ method: "POST", url: "/v1/auth/login", payload: { email: "owner@acme.test", password: PASSWORD } }))
        .statusCode,
    ).toBe(401);
    owner = await login(t.app, "owner@acme.test", "owner's fresh password");
    expectProblem(
      await call(t.app, "POST", "/v1/auth/password-reset/confirm", null, { token, password: "yet another password" }),
      404,
      "not_found",
    );
  });
});

describe.each(await dialects())("finding 3: owners demoting or removing each other at once on %s", (dialect) => {
  let t: TestApp;
  let w: World;

  beforeAll(async () => {
    t = await startTestApp(dialect);
    w = await seedWorld(t.app);
  });
  afterAll(() => t?.close());

  it("15 organisations × two owners cross-demoting and cross-removing concurrently: every one keeps an owner", async () => {
    const orgs: {
      id: string;
      a: { id: string; creds: { session: string; csrf: string } };
      b: { id: string; creds: { session: string; csrf: string } };
    }[] = [];
    for (let i = 0; i < 15; i++) {
      const org = await call(t.app, "POST", "/v1/orgs", w.owner.creds, { name: `Duel ${i}` });
      const b = await joinOrg(t.app, w.owner.creds, org.body.id, {
        email: `duel${i}@acme.test`,
        name: `Duelist ${i}`,
        role: "owner",
      });
      orgs.push({ id: org.body.id, a: { id: w.owner.id, creds: w.owner.creds }, b });
    }
    const results = await Promise.all(
      orgs.flatMap((o, i) => {
        const act = (by: typeof o.a, target: typeof o.a) =>
          i % 2 === 0
            ? call(t.app, "PATCH", `/v1/orgs/${o.id}/members/${target.id}`, by.creds, { role: "admin" })
            : call(t.app, "DELETE", `/v1/orgs/${o.id}/members/${target.id}`, by.creds);
        return [act(o.a, o.b), act(o.b, o.a)];
      }),
    );
    expect(results.some((r) => r.status === 200 || r.status === 204)).toBe(true);
    for (const r of results) expect([200, 204, 403, 404, 409], r.raw).toContain(r.status);
    for (const o of orgs) {
      const owners = await t.tessera.store.db
        .selectFrom("memberships")
        .select("user_id")
        .where("org_id", "=", o.id)
        .where("role", "=", "owner")
        .execute();
      expect(owners.length, `organisation ${o.id}`).toBeGreaterThanOrEqual(1);
    }
  }, 180_000);
});
