import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MANAGEMENT_SCOPE_NAMES } from "../../src/core/scopes.js";
import { dialects } from "../support/databases.js";
import {
  type Call,
  call,
  createToken,
  joinOrg,
  linkSecret,
  PASSWORD,
  rootToken,
  seedWorld,
  startTestApp,
  type TestApp,
  type World,
} from "../support/harness.js";

/** Members, organisations, scopes, settings, sessions and CSRF (SPEC §1, §2, §4). */

function expectProblem(res: Call, status: number, code: string) {
  expect(res.status, res.raw).toBe(status);
  expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
  expect(res.body.code, res.raw).toBe(code);
}

const ids = (res: Call) => res.body.items.map((x: { id: string }) => x.id) as string[];

describe.each(await dialects())("members and organisations on %s", (dialect) => {
  let t: TestApp;
  let w: World;
  let root: string;

  beforeAll(async () => {
    t = await startTestApp(dialect);
    w = await seedWorld(t.app);
    root = await rootToken(t.tessera);
  });
  afterAll(() => t?.close());

  const tokens = () => `/v1/orgs/${w.orgId}/tokens`;
  const audit = async (action: string) =>
    (await call(t.app, "GET", `/v1/orgs/${w.orgId}/audit?action=${action}`, w.owner.creds)).body.items as any[];

  it("shows a member only their own tokens, in the list and in detail", async () => {
    const mine1 = await createToken(t.app, w.member.creds, w.orgId, { name: "mine one" });
    const mine2 = await createToken(t.app, w.member.creds, w.orgId, { name: "mine two" });
    const theirs = await createToken(t.app, w.member2.creds, w.orgId, { name: "theirs" });
    const owners = await createToken(t.app, w.owner.creds, w.orgId, { name: "owner's" });
    const service = await createToken(t.app, w.owner.creds, w.orgId, { name: "svc", kind: "service", issuedFor: "CI" });

    const list = await call(t.app, "GET", `${tokens()}?limit=100`, w.member.creds);
    expect(list.status).toBe(200);
    expect(list.body.items.every((x: { ownerId: string }) => x.ownerId === w.member.id)).toBe(true);
    expect(ids(list)).toEqual(expect.arrayContaining([mine1.id, mine2.id]));
    expect(ids(list)).not.toEqual(expect.arrayContaining([theirs.id]));
    // Newest first.
    expect(ids(list).indexOf(mine2.id)).toBeLessThan(ids(list).indexOf(mine1.id));
    // Asking for someone else's tokens by owner or kind reveals nothing.
    expect((await call(t.app, "GET", `${tokens()}?ownerId=${w.member2.id}`, w.member.creds)).body.items).toEqual([]);
    expect((await call(t.app, "GET", `${tokens()}?kind=service`, w.member.creds)).body.items).toEqual([]);

    for (const other of [theirs, owners, service]) {
      expectProblem(await call(t.app, "GET", `${tokens()}/${other.id}`, w.member.creds), 404, "not_found");
      expectProblem(await call(t.app, "POST", `${tokens()}/${other.id}/suspend`, w.member.creds), 404, "not_found");
      expectProblem(
        await call(t.app, "PATCH", `${tokens()}/${other.id}`, w.member.creds, { name: "mine now" }),
        404,
        "not_found",
      );
    }
    expect((await call(t.app, "GET", `${tokens()}/${mine1.id}`, w.member.creds)).status).toBe(200);

    const all = await call(t.app, "GET", `${tokens()}?limit=100`, w.admin.creds);
    expect(ids(all)).toEqual(expect.arrayContaining([mine1.id, mine2.id, theirs.id, owners.id, service.id]));
  });

  it("does not let a viewer create or list tokens", async () => {
    expectProblem(await call(t.app, "POST", tokens(), w.viewer.creds, { name: "viewer's" }), 403, "forbidden");
    expectProblem(await call(t.app, "GET", tokens(), w.viewer.creds), 403, "forbidden");
    expect((await call(t.app, "GET", `/v1/orgs/${w.orgId}`, w.viewer.creds)).status).toBe(200);
  });

  it("lets only owners and admins create tokens when membersCanCreateTokens is off", async () => {
    const off = await call(t.app, "PATCH", `/v1/orgs/${w.orgId}`, w.owner.creds, { membersCanCreateTokens: false });
    expect(off.body.membersCanCreateTokens).toBe(false);
    try {
      expectProblem(await call(t.app, "POST", tokens(), w.member.creds, { name: "not allowed" }), 403, "forbidden");
      expect((await call(t.app, "POST", tokens(), w.admin.creds, { name: "admin still can" })).status).toBe(201);
    } finally {
      await call(t.app, "PATCH", `/v1/orgs/${w.orgId}`, w.owner.creds, { membersCanCreateTokens: true });
    }
    expect((await call(t.app, "POST", tokens(), w.member.creds, { name: "allowed again" })).status).toBe(201);
  });

  it("lets only owners and admins create service tokens", async () => {
    expectProblem(
      await call(t.app, "POST", tokens(), w.member.creds, { name: "svc", kind: "service", issuedFor: "Zapier" }),
      403,
      "forbidden",
    );
    const made = await call(t.app, "POST", tokens(), w.admin.creds, { name: "svc", kind: "service", issuedFor: "Zapier" });
    expect(made.status).toBe(201);
    expect(made.body.token).toMatchObject({ kind: "service", ownerId: null, issuedFor: "Zapier" });
  });

  it("does not let an admin change or remove an owner, or make anyone owner", async () => {
    const members = `/v1/orgs/${w.orgId}/members`;
    expectProblem(await call(t.app, "PATCH", `${members}/${w.owner.id}`, w.admin.creds, { role: "member" }), 403, "forbidden");
    expectProblem(await call(t.app, "DELETE", `${members}/${w.owner.id}`, w.admin.creds), 403, "forbidden");
    expectProblem(await call(t.app, "PATCH", `${members}/${w.member.id}`, w.admin.creds, { role: "owner" }), 403, "forbidden");
    expectProblem(
      await call(t.app, "POST", `/v1/orgs/${w.orgId}/invitations`, w.admin.creds, { email: "boss@acme.test", role: "owner" }),
      403,
      "forbidden",
    );
    // An admin does manage members and admins.
    const demoted = await call(t.app, "PATCH", `${members}/${w.viewer.id}`, w.admin.creds, { role: "member" });
    expect(demoted.body.role).toBe("member");
    expect((await call(t.app, "PATCH", `${members}/${w.viewer.id}`, w.admin.creds, { role: "viewer" })).body.role).toBe("viewer");
    const roles = await call(t.app, "GET", members, w.owner.creds);
    expect(roles.body.items.find((m: { userId: string }) => m.userId === w.owner.id).role).toBe("owner");
    expect(await audit("member.role_changed")).toEqual(
      expect.arrayContaining([expect.objectContaining({ target: expect.objectContaining({ id: w.viewer.id }) })]),
    );
  });

  it("keeps at least one owner", async () => {
    const members = `/v1/orgs/${w.orgId}/members`;
    expectProblem(await call(t.app, "PATCH", `${members}/${w.owner.id}`, w.owner.creds, { role: "admin" }), 409, "invalid_state");
    expectProblem(await call(t.app, "DELETE", `${members}/${w.owner.id}`, w.owner.creds), 409, "invalid_state");
    // With a second owner, the first may step down.
    const second = await joinOrg(t.app, w.owner.creds, w.orgId, { email: "second@acme.test", name: "Sam Second", role: "owner" });
    const stepDown = await call(t.app, "PATCH", `${members}/${w.owner.id}`, w.owner.creds, { role: "admin" });
    expect(stepDown.status, stepDown.raw).toBe(200);
    const samCreds = second.creds;
    expect((await call(t.app, "PATCH", `${members}/${w.owner.id}`, samCreds, { role: "owner" })).status).toBe(200);
    expect((await call(t.app, "DELETE", `${members}/${second.id}`, w.owner.creds)).status).toBe(204);
  });

  it("refuses to invite an existing member, and lets an existing account join only signed in as itself", async () => {
    const invitations = `/v1/orgs/${w.orgId}/invitations`;
    const members = `/v1/orgs/${w.orgId}/members`;
    expectProblem(
      await call(t.app, "POST", invitations, w.owner.creds, { email: "member@acme.test", role: "member" }),
      409,
      "conflict",
    );
    // Emails compare case-insensitively.
    expectProblem(
      await call(t.app, "POST", invitations, w.owner.creds, { email: "MEMBER@Acme.test", role: "viewer" }),
      409,
      "conflict",
    );
    // Globex's owner joins Acme with their existing account: signed in as it, no password asked.
    const invited = await call(t.app, "POST", invitations, w.owner.creds, { email: "owner@globex.test", role: "viewer" });
    expect(invited.status, invited.raw).toBe(201);
    const token = linkSecret(invited.body.acceptUrl);
    // Signed in as someone else: refused, and the invitation stays usable.
    expectProblem(await call(t.app, "POST", "/v1/invitations/accept", w.member.creds, { token }), 403, "forbidden");
    const joined = await call(t.app, "POST", "/v1/invitations/accept", w.otherOwner.creds, { token });
    expect(joined.status, joined.raw).toBe(200);
    expect(joined.body).toMatchObject({ user: { id: w.otherOwner.id, name: "Gus Globex" }, role: "viewer" });
    const me = await call(t.app, "GET", "/v1/me", w.otherOwner.creds);
    expect(me.body.memberships).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ orgId: w.orgId, role: "viewer" }),
        expect.objectContaining({ orgId: w.otherOrgId, role: "owner" }),
      ]),
    );
    expect((await call(t.app, "DELETE", `${members}/${w.otherOwner.id}`, w.owner.creds)).status).toBe(204);
    expect(await audit("member.removed")).toEqual(
      expect.arrayContaining([expect.objectContaining({ target: expect.objectContaining({ id: w.otherOwner.id }) })]),
    );
    // A new account needs a password of 12 characters or more.
    const fresh = await call(t.app, "POST", invitations, w.owner.creds, { email: "new@acme.test", role: "viewer" });
    const short = await call(t.app, "POST", "/v1/invitations/accept", null, {
      token: linkSecret(fresh.body.acceptUrl),
      name: "New",
      password: "short",
    });
    expectProblem(short, 400, "validation_failed");
    expect(short.body.errors[0].field).toBe("password");
  });

  it("puts product scopes in the catalogue and in tokens, wildcards included", async () => {
    const put = await call(t.app, "PUT", `/v1/orgs/${w.orgId}/scopes`, w.owner.creds, [
      { name: "messages:send", description: "Send messages" },
      { name: "messages:read", description: "Read messages" },
      { name: "contacts:read" },
      { name: "tokens:read", description: "ignored: management scopes are Tessera's" },
    ]);
    expect(put.status, put.raw).toBe(200);
    const product = put.body.filter((s: { kind: string }) => s.kind === "product").map((s: { name: string }) => s.name);
    expect(product.sort()).toEqual(["contacts:read", "messages:read", "messages:send"]);
    expect(put.body.filter((s: { kind: string }) => s.kind === "management")).toHaveLength(MANAGEMENT_SCOPE_NAMES.length);
    expect(await audit("org.scopes_changed")).not.toHaveLength(0);

    const catalogue = await call(t.app, "GET", `/v1/orgs/${w.orgId}/scopes`, w.member.creds);
    expect(catalogue.body.map((s: { name: string }) => s.name)).toEqual(expect.arrayContaining(product));

    const sender = await createToken(t.app, w.member.creds, w.orgId, { name: "sender", scopes: ["messages:send"] });
    expect(sender.token.scopes).toEqual(["messages:send"]);
    const wild = await createToken(t.app, w.member.creds, w.orgId, { name: "wild", scopes: ["messages:*", "tokens:read"] });
    expect(wild.token.scopes).toEqual(["messages:*", "tokens:read"]);
    const verify = (token: string, scopes: string[]) => call(t.app, "POST", "/v1/verify", { bearer: root }, { token, scopes });
    expect((await verify(wild.secret, ["messages:read", "messages:send"])).body.code).toBe("VALID");
    expect((await verify(wild.secret, ["contacts:read"])).body.code).toBe("INSUFFICIENT_SCOPE");
    expect((await verify(sender.secret, ["messages:read"])).body.code).toBe("INSUFFICIENT_SCOPE");
    // A member's default scopes: everything their role allows in the catalogue, no more.
    const defaults = await createToken(t.app, w.member.creds, w.orgId, { name: "defaults" });
    expect(defaults.token.scopes.sort()).toEqual(
      ["contacts:read", "members:read", "messages:read", "messages:send", "org:read", "tokens:read", "tokens:write"].sort(),
    );
    // Management wildcards are limited by the creator's role too.
    const bad = await call(t.app, "POST", tokens(), w.member.creds, { name: "x", scopes: ["members:*"] });
    expectProblem(bad, 400, "validation_failed");
    expect(bad.body.errors[0].field).toBe("scopes");
    const badCatalogue = await call(t.app, "PUT", `/v1/orgs/${w.orgId}/scopes`, w.owner.creds, [{ name: "tokens:delete" }]);
    expectProblem(badCatalogue, 400, "validation_failed");
  });

  it("changes settings nested or flat, and audits each change", async () => {
    const org = `/v1/orgs/${w.orgId}`;
    const nested = await call(t.app, "PATCH", org, w.owner.creds, { settings: { requireExpiry: true, maxExpiryDays: 365 } });
    expect(nested.status, nested.raw).toBe(200);
    expect(nested.body).toMatchObject({
      requireExpiry: true,
      maxExpiryDays: 365,
      settings: { requireExpiry: true, maxExpiryDays: 365 },
    });
    const flat = await call(t.app, "PATCH", org, w.owner.creds, { requireExpiry: false, tokenPrefix: "acme" });
    expect(flat.status, flat.raw).toBe(200);
    expect(flat.body.settings).toMatchObject({ requireExpiry: false, maxExpiryDays: 365, tokenPrefix: "acme" });
    expect((await call(t.app, "GET", org, w.member.creds)).body.settings).toMatchObject({
      requireExpiry: false,
      tokenPrefix: "acme",
    });
    const made = await createToken(t.app, w.owner.creds, w.orgId, { name: "prefixed", expiresInDays: 30 });
    expect(made.secret).toMatch(/^acme_live_/);

    const events = await audit("org.settings_changed");
    const changes = events.map((e) => e.details.changes);
    expect(changes).toEqual(
      expect.arrayContaining([
        { requireExpiry: { from: false, to: true }, maxExpiryDays: { from: null, to: 365 } },
        { requireExpiry: { from: true, to: false }, tokenPrefix: { from: "tsr", to: "acme" } },
      ]),
    );
    expect(events[0]).toMatchObject({ actor: { type: "user", id: w.owner.id }, target: { type: "organization", id: w.orgId } });

    expectProblem(await call(t.app, "PATCH", org, w.admin.creds, { tokenPrefix: "TSR" }), 400, "validation_failed");
    expectProblem(await call(t.app, "PATCH", org, w.member.creds, { requireExpiry: true }), 403, "forbidden");
    const reset = await call(t.app, "PATCH", org, w.admin.creds, { settings: { tokenPrefix: "tsr", maxExpiryDays: null } });
    expect(reset.body.settings).toMatchObject({ tokenPrefix: "tsr", maxExpiryDays: null });
  });

  it("answers /v1/me for a session and for a bearer token", async () => {
    const session = await call(t.app, "GET", "/v1/me", w.admin.creds);
    expect(session.status).toBe(200);
    expect(session.body.user).toEqual({ id: w.admin.id, email: "admin@acme.test", name: "Adam Admin" });
    expect(session.body.memberships).toEqual([{ orgId: w.orgId, orgName: "Acme", role: "admin" }]);
    expect(session.body.token).toBeUndefined();

    const made = await createToken(t.app, w.member.creds, w.orgId, { name: "whoami", scopes: ["tokens:read"] });
    const bearer = await call(t.app, "GET", "/v1/me", { bearer: made.secret });
    expect(bearer.status).toBe(200);
    expect(bearer.body).toMatchObject({
      user: { id: w.member.id, email: "member@acme.test" },
      memberships: [{ orgId: w.orgId, role: "member" }],
      token: { id: made.id, name: "whoami", kind: "personal", orgId: w.orgId, scopes: ["tokens:read"] },
    });
    expect(bearer.raw).not.toContain(made.secret);

    const rootMe = await call(t.app, "GET", "/v1/me", { bearer: root });
    expect(rootMe.body).toMatchObject({ user: null, memberships: [], token: { kind: "root", orgId: null } });
  });

  it("refuses a second setup", async () => {
    const again = await call(t.app, "POST", "/v1/setup", null, {
      email: "intruder@evil.test",
      password: PASSWORD,
      name: "Intruder",
      organization: { name: "Evil" },
    });
    expect(again.status).toBe(409);
    expect(again.headers["set-cookie"]).toBeUndefined();
    expectProblem(
      await call(t.app, "POST", "/v1/auth/login", null, { email: "intruder@evil.test", password: PASSWORD }),
      401,
      "unauthorized",
    );
  });

  it("answers a failed login with 401 and audits it", async () => {
    const wrong = await call(
      t.app,
      "POST",
      "/v1/auth/login",
      null,
      { email: "member@acme.test", password: "not the password" },
      {
        "user-agent": "guesser/1.0",
      },
    );
    expectProblem(wrong, 401, "unauthorized");
    expect(wrong.headers["set-cookie"]).toBeUndefined();
    const unknown = await call(t.app, "POST", "/v1/auth/login", null, { email: "nobody@acme.test", password: PASSWORD });
    expectProblem(unknown, 401, "unauthorized");
    expect(unknown.body.detail).toBe(wrong.body.detail);
    // Sign-ins are audited once, at instance level (docs/api.md "Network edge and accounts"), not in
    // the organisation's log.
    expect(await audit("auth.login_failed")).toEqual([]);
    const rows = await t.tessera.store.db
      .selectFrom("audit_events")
      .selectAll()
      .where("action", "=", "auth.login_failed")
      .where("org_id", "is", null)
      .execute();
    expect(rows).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ target_id: w.member.id, user_agent: "guesser/1.0" }),
        expect.objectContaining({ target_id: null }),
      ]),
    );
    const mine = rows.find((r) => r.target_id === w.member.id)!;
    expect(JSON.parse(mine.details)).toMatchObject({ email: "member@acme.test", reason: "bad_credentials" });
    const logins = await t.tessera.store.db
      .selectFrom("audit_events")
      .select("org_id")
      .where("action", "=", "auth.login")
      .execute();
    expect(logins.length).toBeGreaterThan(0);
    for (const row of logins) expect(row.org_id).toBeNull();
  });

  it("ends the session on logout", async () => {
    const res = await t.app.inject({
      method: "POST",
      url: "/v1/auth/login",
      payload: { email: "member2@acme.test", password: PASSWORD },
    });
    expect(res.statusCode).toBe(200);
    const sessionCookie = res.cookies.find((c) => c.name === "tessera_session")!;
    const csrfCookie = res.cookies.find((c) => c.name === "tessera_csrf")!;
    expect(sessionCookie).toMatchObject({ httpOnly: true, sameSite: "Lax", path: "/" });
    expect(csrfCookie.httpOnly).toBeFalsy();
    const creds = { session: sessionCookie.value, csrf: csrfCookie.value };
    expect((await call(t.app, "GET", "/v1/me", creds)).status).toBe(200);
    const out = await call(t.app, "POST", "/v1/auth/logout", creds);
    expect(out.status).toBe(204);
    expect(String(out.headers["set-cookie"])).toMatch(/tessera_session=;/);
    expectProblem(await call(t.app, "GET", "/v1/me", creds), 401, "unauthorized");
    expectProblem(await call(t.app, "POST", tokens(), creds, { name: "after logout" }), 401, "unauthorized");
    // Other sessions of the same person are untouched.
    expect((await call(t.app, "GET", "/v1/me", w.member2.creds)).status).toBe(200);
  });

  it("enforces the double-submit CSRF check on cookie-authenticated writes only", async () => {
    const { session, csrf } = w.owner.creds;
    const send = (headers: Record<string, string>) =>
      call(
        t.app,
        "POST",
        tokens(),
        null,
        { name: "csrf" },
        { cookie: `tessera_session=${session}; tessera_csrf=${csrf}`, ...headers },
      );
    expectProblem(await send({}), 403, "csrf_failed");
    expectProblem(await send({ "x-csrf-token": "wrong" }), 403, "csrf_failed");
    expectProblem(await send({ "x-csrf-token": `${csrf}x` }), 403, "csrf_failed");
    // The header must match the cookie, and the cookie must be the session's own.
    const forged = await call(
      t.app,
      "POST",
      tokens(),
      null,
      { name: "csrf" },
      {
        cookie: `tessera_session=${session}; tessera_csrf=attacker`,
        "x-csrf-token": "attacker",
      },
    );
    expectProblem(forged, 403, "csrf_failed");
    const other = w.admin.creds.csrf;
    expectProblem(
      await call(
        t.app,
        "POST",
        tokens(),
        null,
        { name: "csrf" },
        {
          cookie: `tessera_session=${session}; tessera_csrf=${other}`,
          "x-csrf-token": other,
        },
      ),
      403,
      "csrf_failed",
    );
    expectProblem(
      await call(t.app, "DELETE", `/v1/orgs/${w.orgId}/members/${w.viewer.id}`, null, undefined, {
        cookie: `tessera_session=${session}; tessera_csrf=${csrf}`,
      }),
      403,
      "csrf_failed",
    );
    expect((await send({ "x-csrf-token": csrf })).status).toBe(201);
    // Reads need no CSRF header; bearer requests need none either.
    const read = await call(t.app, "GET", tokens(), null, undefined, {
      cookie: `tessera_session=${session}; tessera_csrf=${csrf}`,
    });
    expect(read.status).toBe(200);
    const bearer = await createToken(t.app, w.owner.creds, w.orgId, { name: "bearer writes" });
    expect((await call(t.app, "POST", tokens(), { bearer: bearer.secret }, { name: "by bearer" })).status).toBe(201);
    // Nothing was created by the refused requests.
    const list = await call(t.app, "GET", `${tokens()}?q=csrf&limit=100`, w.owner.creds);
    expect(list.body.items).toHaveLength(1);
  });
});
