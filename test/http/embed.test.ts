import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dialects } from "../support/databases.js";
import {
  type Call,
  type Credentials,
  call,
  createToken,
  PASSWORD,
  rootToken,
  seedWorld,
  startTestApp,
  type TestApp,
  type World,
} from "../support/harness.js";

/**
 * Embedding in the host product (SPEC §9, issue 10): host-provisioned identity through
 * POST /v1/embed/sessions, the single-use handoff and the embedded page's bearer, and the framing rules.
 * Each rule of "authority never grows" is attacked beside its happy path.
 */

const META = { ip: null, userAgent: "test", traceId: `${"0".repeat(31)}2` };
const HOST = "https://host.example.test";

function expectProblem(res: Call, status: number, code: string) {
  expect(res.status, res.raw).toBe(status);
  expect(res.body.code, res.raw).toBe(code);
}

function handoffOf(url: string): string {
  const match = /#handoff=([A-Za-z0-9_-]+)$/.exec(url);
  if (!match) throw new Error(`no handoff in ${url}`);
  return match[1]!;
}

describe.each(await dialects())("embed sessions on %s", (dialect) => {
  let t: TestApp;
  let w: World;
  let root: string;
  let n = 0;

  beforeAll(async () => {
    t = await startTestApp(dialect, { embedOrigins: [HOST, "http://127.0.0.1:9"] });
    w = await seedWorld(t.app);
    root = await rootToken(t.tessera);
  });
  afterAll(() => t?.close());

  const uniq = (s: string) => `${s}-${++n}`;

  function body(user: string, org: string, role: string, extra: Record<string, unknown> = {}) {
    return {
      user: { externalId: user, email: `${user}@host.test`, name: `Host ${user}` },
      organization: { externalId: org, name: `Org ${org}` },
      role,
      ...extra,
    };
  }

  async function mint(creds: Credentials, b: unknown) {
    return call(t.app, "POST", "/v1/embed/sessions", creds, b);
  }

  /** Mints a session with the root token and exchanges it: the embedded page's view of things. */
  async function embedAs(user: string, org: string, role: string, extra: Record<string, unknown> = {}) {
    const minted = await mint({ bearer: root }, body(user, org, role, extra));
    expect(minted.status, minted.raw).toBe(201);
    const exchanged = await call(t.app, "POST", "/v1/embed/exchange", null, { handoff: handoffOf(minted.body.url) });
    expect(exchanged.status, exchanged.raw).toBe(200);
    return exchanged.body as {
      accessToken: string;
      user: { id: string };
      organization: { id: string };
      role: string;
      locale: string;
      theme: { mode: string; accent: string | null };
    };
  }

  async function verify(token: string, scopes?: string[]) {
    return (await call(t.app, "POST", "/v1/verify", { bearer: root }, { token, ...(scopes ? { scopes } : {}) })).body;
  }

  it("mints a session for a new host user and organisation, and the token made inside verifies with the host user as owner", async () => {
    const org = uniq("acme");
    const minted = await mint(
      { bearer: root },
      body(uniq("u"), org, "member", { locale: "it", theme: { mode: "dark", accent: "#ff5500" } }),
    );
    expect(minted.status, minted.raw).toBe(201);
    expect(minted.body.url).toMatch(/^http:\/\/localhost:7070\/embed#handoff=[A-Za-z0-9_-]{43}$/);
    const left = Date.parse(minted.body.expiresAt) - Date.now();
    expect(left).toBeGreaterThan(50_000);
    expect(left).toBeLessThanOrEqual(60_000);

    const grant = (await call(t.app, "POST", "/v1/embed/exchange", null, { handoff: handoffOf(minted.body.url) })).body;
    expect(grant).toMatchObject({ role: "member", locale: "it", theme: { mode: "dark", accent: "#ff5500" } });
    expect(grant.accessToken).toMatch(/^tse\.[A-Za-z0-9_-]{43}$/);
    const bearer = { bearer: grant.accessToken };
    const orgId = grant.organization.id;

    const created = await createToken(t.app, bearer, orgId, { name: "from the frame", scopes: ["tokens:read"] });
    expect(created.token.ownerId).toBe(grant.user.id);
    expect(created.token.kind).toBe("personal");
    const verdict = await verify(created.secret);
    expect(verdict.code).toBe("VALID");
    expect(verdict.token.ownerId).toBe(grant.user.id);

    // Every provisioning change is audited with the calling token as actor.
    const audit = await call(t.app, "GET", `/v1/orgs/${orgId}/audit?limit=50`, { bearer: root });
    const actions = audit.body.items.map((e: { action: string; actor: { type: string } }) => `${e.action}/${e.actor.type}`);
    expect(actions).toEqual(expect.arrayContaining(["org.created/token", "user.provisioned/token", "member.added/token"]));
    // The cookie-less bearer needs no CSRF header, and sets no cookie.
    const list = await call(t.app, "GET", `/v1/orgs/${orgId}/tokens`, bearer);
    expect(list.status).toBe(200);
    expect(list.headers["set-cookie"]).toBeUndefined();
  });

  it("upserts by externalId: a second session updates the profile and role and creates nothing twice", async () => {
    const user = uniq("u");
    const org = uniq("acme");
    const first = await embedAs(user, org, "admin");
    const second = await mint(
      { bearer: root },
      {
        user: { externalId: user, email: `renamed-${user}@host.test`, name: "Renamed" },
        organization: { externalId: org, name: "Renamed org" },
        role: "member",
      },
    );
    expect(second.status, second.raw).toBe(201);
    const members = await call(t.app, "GET", `/v1/orgs/${first.organization.id}/members`, { bearer: root });
    expect(members.body.items).toHaveLength(1);
    expect(members.body.items[0]).toMatchObject({
      userId: first.user.id,
      role: "member",
      name: "Renamed",
      email: `renamed-${user}@host.test`,
    });
    const orgView = await call(t.app, "GET", `/v1/orgs/${first.organization.id}`, { bearer: root });
    expect(orgView.body.name).toBe("Renamed org");
  });

  it("demotion by the host narrows the person's tokens at once", async () => {
    const user = uniq("u");
    const org = uniq("acme");
    const admin = await embedAs(user, org, "admin");
    const made = await createToken(t.app, { bearer: admin.accessToken }, admin.organization.id, {
      scopes: ["members:write", "tokens:read"],
    });
    expect((await verify(made.secret, ["members:write"])).code).toBe("VALID");
    expect((await mint({ bearer: root }, body(user, org, "member"))).status).toBe(201);
    expect((await verify(made.secret, ["members:write"])).code).toBe("INSUFFICIENT_SCOPE");
    expect((await verify(made.secret, ["tokens:read"])).code).toBe("VALID");
    // The bearer of the running session follows the new role too.
    const members = await call(t.app, "GET", `/v1/orgs/${admin.organization.id}/tokens`, { bearer: admin.accessToken });
    expect(members.status).toBe(200);
  });

  it("a member sees only their own tokens; a viewer sees none and cannot create one", async () => {
    const org = uniq("acme");
    const a = await embedAs(uniq("a"), org, "member");
    const b = await embedAs(uniq("b"), org, "member");
    const mine = await createToken(t.app, { bearer: a.accessToken }, a.organization.id, { name: "a's" });
    const listB = await call(t.app, "GET", `/v1/orgs/${b.organization.id}/tokens`, { bearer: b.accessToken });
    expect(listB.body.items.map((x: { id: string }) => x.id)).not.toContain(mine.id);
    expectProblem(
      await call(t.app, "GET", `/v1/orgs/${b.organization.id}/tokens/${mine.id}`, { bearer: b.accessToken }),
      404,
      "not_found",
    );
    expectProblem(
      await call(t.app, "POST", `/v1/orgs/${b.organization.id}/tokens/${mine.id}/revoke`, { bearer: b.accessToken }, {}),
      404,
      "not_found",
    );
    const viewer = await embedAs(uniq("v"), org, "viewer");
    expectProblem(
      await call(t.app, "GET", `/v1/orgs/${viewer.organization.id}/tokens`, { bearer: viewer.accessToken }),
      403,
      "forbidden",
    );
    expectProblem(
      await call(t.app, "POST", `/v1/orgs/${viewer.organization.id}/tokens`, { bearer: viewer.accessToken }, { name: "x" }),
      403,
      "forbidden",
    );
  });

  it("the embed bearer reaches its organisation's tokens screen and nothing else", async () => {
    const owner = await embedAs(uniq("o"), uniq("acme"), "owner");
    const orgId = owner.organization.id;
    const bearer = { bearer: owner.accessToken };
    expect((await call(t.app, "GET", `/v1/orgs/${orgId}`, bearer)).status).toBe(200);
    expect((await call(t.app, "GET", `/v1/orgs/${orgId}/scopes`, bearer)).status).toBe(200);
    for (const [method, url, b] of [
      ["GET", `/v1/orgs/${orgId}/members`],
      ["GET", `/v1/orgs/${orgId}/audit`],
      ["GET", `/v1/orgs/${orgId}/invitations`],
      ["POST", `/v1/orgs/${orgId}/invitations`, { email: "x@y.test", role: "owner" }],
      ["PATCH", `/v1/orgs/${orgId}`, { name: "taken over" }],
      ["PUT", `/v1/orgs/${orgId}/scopes`, []],
      ["POST", "/v1/orgs", { name: "mine" }],
      ["GET", "/v1/me"],
      ["GET", "/v1/me/sessions"],
      ["POST", "/v1/embed/sessions", body(uniq("u"), uniq("x"), "owner")],
      ["GET", "/v1/root-tokens"],
    ] as const) {
      expectProblem(await call(t.app, method, url, bearer, b), 403, "forbidden");
    }
    // Another organisation does not exist for it, not even one where the person is also a member.
    const elsewhere = await embedAs(`${owner.user.id}-x`, uniq("acme"), "owner");
    expectProblem(await call(t.app, "GET", `/v1/orgs/${elsewhere.organization.id}/tokens`, bearer), 404, "not_found");
    expectProblem(await call(t.app, "GET", `/v1/orgs/${w.orgId}/tokens`, bearer), 404, "not_found");
  });

  it("a handoff is single use, expires after 60 s, and a bearer stops at its expiry", async () => {
    const minted = await mint({ bearer: root }, body(uniq("u"), uniq("acme"), "member"));
    const handoff = handoffOf(minted.body.url);
    const [one, two] = await Promise.all([
      call(t.app, "POST", "/v1/embed/exchange", null, { handoff }),
      call(t.app, "POST", "/v1/embed/exchange", null, { handoff }),
    ]);
    expect([one.status, two.status].sort()).toEqual([200, 401]);
    expectProblem(await call(t.app, "POST", "/v1/embed/exchange", null, { handoff }), 401, "unauthorized");
    expectProblem(await call(t.app, "POST", "/v1/embed/exchange", null, { handoff: "x".repeat(43) }), 401, "unauthorized");

    const late = await mint({ bearer: root }, body(uniq("u"), uniq("acme"), "member"));
    await t.tessera.store.db
      .updateTable("embed_sessions")
      .set({ handoff_expires_at: Date.now() - 1 })
      .where("exchanged_at", "is", null)
      .execute();
    expectProblem(
      await call(t.app, "POST", "/v1/embed/exchange", null, { handoff: handoffOf(late.body.url) }),
      401,
      "unauthorized",
    );

    const live = one.status === 200 ? one.body : two.body;
    const orgId = live.organization.id;
    expect((await call(t.app, "GET", `/v1/orgs/${orgId}/tokens`, { bearer: live.accessToken })).status).toBe(200);
    await t.tessera.store.db
      .updateTable("embed_sessions")
      .set({ expires_at: Date.now() - 1 })
      .where("org_id", "=", orgId)
      .execute();
    const over = await call(t.app, "GET", `/v1/orgs/${orgId}/tokens`, { bearer: live.accessToken });
    expectProblem(over, 401, "unauthorized");
    expect(over.headers["www-authenticate"]).toContain("invalid_token");
  });

  it("is refused to a console session, a personal token, a root token without orgs:provision and a service token without members:write", async () => {
    const b = body(uniq("u"), uniq("acme"), "member");
    expect((await mint(w.owner.creds, b)).status).toBe(403);
    expect((await mint(w.owner.creds, b)).body.code).toBe("forbidden");
    const personal = await createToken(t.app, w.owner.creds, w.orgId, { name: "owner personal" });
    expectProblem(await mint({ bearer: personal.secret }, b), 403, "forbidden");
    const { secret: weakRoot } = await t.tessera.tokens.createRoot("verify only", META, ["tokens:verify"]);
    const refused = await mint({ bearer: weakRoot }, b);
    expectProblem(refused, 403, "forbidden");
    expect(refused.headers["www-authenticate"]).toContain('scope="orgs:provision"');
    const weakService = await createToken(t.app, w.owner.creds, w.orgId, {
      kind: "service",
      name: "weak",
      scopes: ["members:read"],
    });
    expectProblem(await mint({ bearer: weakService.secret }, body(uniq("u"), uniq("acme"), "member")), 403, "forbidden");
    expectProblem(await mint(null, b), 401, "unauthorized");
  });

  describe("with a service token of its own organisation", () => {
    let orgId: string;
    let orgExternal: string;
    let service: string;

    beforeAll(async () => {
      // An organisation the host provisioned, with a service token that holds everything an admin does.
      orgExternal = uniq("svc-org");
      const owner = await embedAs(uniq("boss"), orgExternal, "owner");
      orgId = owner.organization.id;
      service = (await createToken(t.app, { bearer: root }, orgId, { kind: "service", name: "host backend" })).secret;
    });

    it("provisions members and admins in its own organisation", async () => {
      const minted = await mint({ bearer: service }, body(uniq("u"), orgExternal, "admin"));
      expect(minted.status, minted.raw).toBe(201);
      const events = await call(t.app, "GET", `/v1/orgs/${orgId}/audit?action=member.added&limit=5`, { bearer: root });
      expect(events.body.items[0].actor).toMatchObject({ type: "token", name: "host backend" });
    });

    it("cannot grant the owner role, nor change an owner (role escalation)", async () => {
      expectProblem(await mint({ bearer: service }, body(uniq("u"), orgExternal, "owner")), 403, "forbidden");
      const member = uniq("u");
      expect((await mint({ bearer: service }, body(member, orgExternal, "member"))).status).toBe(201);
      expectProblem(await mint({ bearer: service }, body(member, orgExternal, "owner")), 403, "forbidden");
      const boss = await call(t.app, "GET", `/v1/orgs/${orgId}/members`, { bearer: root });
      const ownerRow = boss.body.items.find((m: { role: string }) => m.role === "owner");
      const users = await t.tessera.store.db
        .selectFrom("users")
        .select("external_id")
        .where("id", "=", ownerRow.userId)
        .executeTakeFirstOrThrow();
      expectProblem(await mint({ bearer: service }, body(users.external_id!, orgExternal, "member")), 403, "forbidden");
      const after = await call(t.app, "GET", `/v1/orgs/${orgId}/members`, { bearer: root });
      expect(after.body.items.find((m: { userId: string }) => m.userId === ownerRow.userId).role).toBe("owner");
    });

    it("cannot grant a role whose permissions it lacks (a narrower service token)", async () => {
      await call(t.app, "PUT", `/v1/orgs/${orgId}/scopes`, { bearer: root }, [{ name: "messages:send", description: "Send" }]);
      const narrow = await createToken(t.app, { bearer: root }, orgId, {
        kind: "service",
        name: "narrow",
        scopes: ["members:write", "members:read", "tokens:read", "tokens:write", "org:read"],
      });
      const refused = await mint({ bearer: narrow.secret }, body(uniq("u"), orgExternal, "member"));
      expectProblem(refused, 403, "forbidden");
      expect(refused.body.detail).toContain("messages:send");
      expectProblem(await mint({ bearer: narrow.secret }, body(uniq("u"), orgExternal, "admin")), 403, "forbidden");
      expect((await mint({ bearer: narrow.secret }, body(uniq("u"), orgExternal, "viewer"))).status).toBe(201);
    });

    it("cannot reach another organisation, new or existing (another organisation's service token)", async () => {
      expectProblem(await mint({ bearer: service }, body(uniq("u"), uniq("brand-new"), "member")), 403, "forbidden");
      const other = await embedAs(uniq("o"), uniq("other-org"), "owner");
      const otherExternal = (
        await t.tessera.store.db
          .selectFrom("organizations")
          .select("external_id")
          .where("id", "=", other.organization.id)
          .executeTakeFirstOrThrow()
      ).external_id!;
      expectProblem(await mint({ bearer: service }, body(uniq("u"), otherExternal, "member")), 403, "forbidden");
      const members = await call(t.app, "GET", `/v1/orgs/${other.organization.id}/members`, { bearer: root });
      expect(members.body.items).toHaveLength(1);
    });

    it("cannot rename the organisation without org:write, nor change a person who belongs elsewhere", async () => {
      const noOrgWrite = await createToken(t.app, { bearer: root }, orgId, {
        kind: "service",
        name: "no org:write",
        scopes: ["members:write", "members:read", "tokens:read", "tokens:write", "org:read", "messages:send"],
      });
      const renamed = { ...body(uniq("u"), orgExternal, "member"), organization: { externalId: orgExternal, name: "Hijacked" } };
      expectProblem(await mint({ bearer: noOrgWrite.secret }, renamed), 403, "forbidden");
      const shared = uniq("shared");
      await embedAs(shared, uniq("elsewhere"), "member");
      // Since the catalogue gained messages:send, granting "member" takes a token that holds it too.
      const full = (await createToken(t.app, { bearer: root }, orgId, { kind: "service", name: "full" })).secret;
      expect((await mint({ bearer: full }, body(shared, orgExternal, "member"))).status).toBe(201);
      const changed = {
        ...body(shared, orgExternal, "member"),
        user: { externalId: shared, email: "evil@host.test", name: "Evil" },
      };
      expectProblem(await mint({ bearer: full }, changed), 403, "forbidden");
    });

    it("attaches the host's id to its own organisation when it has none", async () => {
      const svc = await createToken(t.app, w.otherOwner.creds, w.otherOrgId, { kind: "service", name: "globex backend" });
      const ext = uniq("globex");
      expect((await mint({ bearer: svc.secret }, body(uniq("u"), ext, "member"))).status).toBe(201);
      const row = await t.tessera.store.db
        .selectFrom("organizations")
        .select("external_id")
        .where("id", "=", w.otherOrgId)
        .executeTakeFirstOrThrow();
      expect(row.external_id).toBe(ext);
      // Once attached, another id names another organisation.
      expectProblem(await mint({ bearer: svc.secret }, body(uniq("u"), uniq("globex"), "member")), 403, "forbidden");
    });
  });

  it("concurrent twins create one person, one organisation and one membership", async () => {
    const user = uniq("twin");
    const org = uniq("twin-org");
    const results = await Promise.all(Array.from({ length: 6 }, () => mint({ bearer: root }, body(user, org, "member"))));
    for (const r of results) expect(r.status, r.raw).toBe(201);
    const db = t.tessera.store.db;
    expect(await db.selectFrom("users").selectAll().where("external_id", "=", user).execute()).toHaveLength(1);
    const orgs = await db.selectFrom("organizations").selectAll().where("external_id", "=", org).execute();
    expect(orgs).toHaveLength(1);
    expect(await db.selectFrom("memberships").selectAll().where("org_id", "=", orgs[0]!.id).execute()).toHaveLength(1);
  });

  it("never takes over an account it did not provision, keeps a last owner, and names bad fields", async () => {
    const taken = await mint(
      { bearer: root },
      {
        ...body(uniq("u"), uniq("acme"), "member"),
        user: { externalId: uniq("u"), email: "member@acme.test", name: "Impostor" },
      },
    );
    expectProblem(taken, 409, "conflict");
    const owner = uniq("owner");
    const org = uniq("acme");
    await embedAs(owner, org, "owner");
    expectProblem(await mint({ bearer: root }, body(owner, org, "admin")), 409, "invalid_state");
    const bad = await mint({ bearer: root }, { ...body(uniq("u"), uniq("acme"), "superuser") });
    expectProblem(bad, 400, "validation_failed");
    expect(JSON.stringify(bad.body.errors ?? bad.body)).toContain("role");
    const noExt = await mint(
      { bearer: root },
      { user: { email: "a@b.test", name: "A" }, organization: { externalId: "o", name: "O" }, role: "member" },
    );
    expectProblem(noExt, 400, "validation_failed");
    expect(JSON.stringify(noExt.body)).toContain("externalId");
    expectProblem(
      await mint({ bearer: root }, body(uniq("u"), uniq("acme"), "member", { theme: { mode: "dark", accent: "red" } })),
      400,
      "validation_failed",
    );
  });

  it("a provisioned person cannot sign in with a password, nor get one by reset", async () => {
    const user = uniq("nopass");
    await embedAs(user, uniq("acme"), "owner");
    const email = `${user}@host.test`;
    for (const password of [PASSWORD, "", "x"]) {
      const res = await t.app.inject({ method: "POST", url: "/v1/auth/login", payload: { email, password } });
      expect(res.statusCode).not.toBe(200);
    }
    await expect(t.tessera.accounts.resetLink(email, META)).rejects.toMatchObject({ code: "invalid_state" });
    const reset = await call(t.app, "POST", "/v1/auth/password-reset", null, { email });
    expect(reset.status).toBe(202);
  });

  it("frames /embed for the listed origins only; every other page keeps frame-ancestors 'none'", async () => {
    const embed = await t.app.inject({ method: "GET", url: "/embed" });
    expect(embed.headers["content-security-policy"]).toContain(`frame-ancestors ${HOST} http://127.0.0.1:9`);
    expect(embed.headers["x-frame-options"]).toBeUndefined();
    const withQuery = await t.app.inject({ method: "GET", url: "/embed?x=1" });
    expect(withQuery.headers["content-security-policy"]).toContain(`frame-ancestors ${HOST}`);
    for (const url of ["/", "/login", "/embed.js", "/embedded", "/embed/x", "/v1/embed/exchange", "/docs/"]) {
      const res = await t.app.inject({ method: "GET", url, headers: { accept: "text/html" } });
      expect(res.headers["content-security-policy"], url).toContain("frame-ancestors 'none'");
      expect(res.headers["x-frame-options"], url).toBe("DENY");
    }
    const script = await t.app.inject({ method: "GET", url: "/embed.js" });
    expect(script.statusCode).toBe(200);
    expect(script.headers["content-type"]).toContain("javascript");
  });

  it("the retention job deletes sessions whose handoff and bearer have both expired, and no others", async () => {
    const count = async () =>
      Number(
        (
          await t.tessera.store.db
            .selectFrom("embed_sessions")
            .select((eb) => eb.fn.countAll().as("n"))
            .executeTakeFirstOrThrow()
        ).n,
      );
    // Earlier tests left some sessions already stale (expired handoffs): cleared first.
    await t.tessera.retention.sweep(Date.now());
    const live = await count();
    const minted = await mint({ bearer: root }, body(uniq("u"), uniq("acme"), "member"));
    expect(minted.status, minted.raw).toBe(201);
    expect(await count()).toBe(live + 1);
    // Now the new session's handoff is live: nothing to delete.
    expect((await t.tessera.retention.sweep(Date.now())).embedSessions).toBe(0);
    expect(await count()).toBe(live + 1);
    // A day later every one of them is stale.
    expect((await t.tessera.retention.sweep(Date.now() + 24 * 3600 * 1000)).embedSessions).toBe(live + 1);
    expect(await count()).toBe(0);
  });
});

describe("embed framing without TESSERA_EMBED_ORIGINS", () => {
  it("lets nobody frame /embed", async () => {
    const t = await startTestApp("sqlite");
    try {
      const res = await t.app.inject({ method: "GET", url: "/embed" });
      expect(res.headers["content-security-policy"]).toContain("frame-ancestors 'none'");
    } finally {
      await t.close();
    }
  });
});
