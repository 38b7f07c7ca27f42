import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TesseraError } from "../../src/core/errors.js";
import { DEFAULT_QUOTAS, type Quotas } from "../../src/core/quotas.js";
import { dialects } from "../support/databases.js";
import {
  type Call,
  call,
  createToken,
  joinOrg,
  linkSecret,
  login,
  PASSWORD,
  seedWorld,
  startTestApp,
  type TestApp,
  type World,
} from "../support/harness.js";

/** Quotas (issue 16): growth stops with 409 quota_exceeded naming the limit, nothing beyond it is created. */

const LIMITS: Quotas = {
  ...DEFAULT_QUOTAS,
  organizationsPerUser: 3,
  membersPerOrganization: 6,
  tokensPerOrganization: 6,
  tokensPerMember: 3,
  scopesPerCatalogue: 4,
};

function expectQuota(res: Call, name: keyof Quotas) {
  expect(res.status, res.raw).toBe(409);
  expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
  expect(res.body.code).toBe("quota_exceeded");
  expect(res.body.limit).toEqual({ name, max: LIMITS[name] });
  expect(res.body.detail).toContain(`(${name})`);
}

describe.each(await dialects())("quotas on %s", (dialect) => {
  let t: TestApp;
  let w: World;

  beforeAll(async () => {
    t = await startTestApp(dialect, { quotas: LIMITS });
    w = await seedWorld(t.app);
  });
  afterAll(() => t?.close());

  const count = async (table: "organizations" | "tokens" | "audit_events", where?: [string, string]) => {
    let q = t.tessera.store.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as("n"));
    if (where) q = q.where(where[0] as never, "=", where[1] as never);
    return Number((await q.executeTakeFirstOrThrow()).n);
  };

  it("stops a person at organizationsPerUser owned organisations; others keep their own allowance", async () => {
    // Olive owns Acme (she left Globex in the seed): two more fit.
    for (const name of ["Two", "Three"])
      expect((await call(t.app, "POST", "/v1/orgs", w.owner.creds, { name })).status).toBe(201);
    const before = await count("organizations");
    const refused = await call(t.app, "POST", "/v1/orgs", w.owner.creds, { name: "Four" });
    expectQuota(refused, "organizationsPerUser");
    expect(refused.body.detail).toBe("You already own 3 organisations, the most allowed is 3 (organizationsPerUser)");
    expect(await count("organizations")).toBe(before);
    const mine = await call(t.app, "GET", "/v1/orgs", w.owner.creds);
    expect(mine.body.items.map((o: { name: string }) => o.name)).not.toContain("Four");
    // The quota is per person: Mia owns nothing yet.
    expect((await call(t.app, "POST", "/v1/orgs", w.member.creds, { name: "Mia's" })).status).toBe(201);
  });

  it("stops a member at tokensPerMember personal tokens; revoked ones free a place, service tokens do not count", async () => {
    const mine = [];
    for (let i = 0; i < 3; i++) mine.push(await createToken(t.app, w.member.creds, w.orgId, { name: `mine ${i}` }));
    const tokensBefore = await count("tokens");
    const refused = await call(t.app, "POST", `/v1/orgs/${w.orgId}/tokens`, w.member.creds, { name: "one too many" });
    expectQuota(refused, "tokensPerMember");
    expect(await count("tokens")).toBe(tokensBefore);
    // Refused means not audited as created either.
    const created = await call(t.app, "GET", `/v1/orgs/${w.orgId}/audit?action=token.created`, w.owner.creds);
    expect(created.body.items.filter((e: { target: { name: string } }) => e.target.name === "one too many")).toEqual([]);
    // Another member is not affected, nor is an admin's service token.
    await createToken(t.app, w.member2.creds, w.orgId, { name: "theirs" });
    await createToken(t.app, w.admin.creds, w.orgId, { name: "svc", kind: "service", issuedFor: "CI" });
    // Revoking one of hers gives the place back.
    expect((await call(t.app, "POST", `/v1/orgs/${w.orgId}/tokens/${mine[0]!.id}/revoke`, w.member.creds, {})).status).toBe(200);
    await createToken(t.app, w.member.creds, w.orgId, { name: "replacement" });
  });

  it("stops an organisation at tokensPerOrganization non-revoked tokens, whoever creates them", async () => {
    // Acme now holds 5 live tokens (Mia 3, Max 1, one service token) and one revoked.
    await createToken(t.app, w.owner.creds, w.orgId, { name: "sixth" });
    const before = await count("tokens", ["org_id", w.orgId]);
    const refused = await call(t.app, "POST", `/v1/orgs/${w.orgId}/tokens`, w.admin.creds, {
      name: "seventh",
      kind: "service",
      issuedFor: "CI",
    });
    expectQuota(refused, "tokensPerOrganization");
    expect(refused.body.detail).toBe(
      "This organisation already has 6 tokens that are not revoked, the most allowed is 6 (tokensPerOrganization)",
    );
    expect(await count("tokens", ["org_id", w.orgId])).toBe(before);
    // Someone who may not create tokens at all learns nothing about the quota: the refusal is still 403.
    const viewer = await call(t.app, "POST", `/v1/orgs/${w.orgId}/tokens`, w.viewer.creds, { name: "viewer's" });
    expect(viewer.status, viewer.raw).toBe(403);
    expect(viewer.body.limit).toBeUndefined();
    // Another organisation's owner cannot probe it either (404, not 409).
    const outsider = await call(t.app, "POST", `/v1/orgs/${w.orgId}/tokens`, w.otherOwner.creds, { name: "outsider" });
    expect(outsider.status, outsider.raw).toBe(404);
    // Globex has its own allowance.
    await createToken(t.app, w.otherOwner.creds, w.otherOrgId, { name: "globex's" });
  });

  it("refuses a scope catalogue beyond scopesPerCatalogue and keeps the previous one", async () => {
    const url = `/v1/orgs/${w.orgId}/scopes`;
    const scopes = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `widgets:action${i}` }));
    expect((await call(t.app, "PUT", url, w.owner.creds, scopes(4))).status).toBe(200);
    const refused = await call(t.app, "PUT", url, w.owner.creds, scopes(5));
    expectQuota(refused, "scopesPerCatalogue");
    expect(refused.body.detail).toBe("A catalogue holds at most 4 product scopes; 5 were sent (scopesPerCatalogue)");
    const after = await call(t.app, "GET", url, w.owner.creds);
    expect(after.body.filter((s: { kind: string }) => s.kind === "product")).toHaveLength(4);
    // Management scopes sent back with a GET result do not count.
    const back = after.body.map((s: { name: string; description: string }) => ({ name: s.name, description: s.description }));
    expect((await call(t.app, "PUT", url, w.owner.creds, back)).status).toBe(200);
    // Beyond the largest value any configuration allows, the body itself is refused before any work.
    const huge = await call(t.app, "PUT", url, w.owner.creds, scopes(5001));
    expect(huge.status, huge.raw).toBe(400);
    expect(huge.body.code).toBe("validation_failed");
  });

  it("refuses the invitation acceptance that would pass membersPerOrganization (409 quota_exceeded)", async () => {
    // Acme has 5 members; the sixth fits, a seventh would not.
    const check = () =>
      t.tessera.store.db
        .transaction()
        .execute((trx) => t.tessera.quotas.assert(trx, "membersPerOrganization", { orgId: w.orgId }));
    await expect(check()).resolves.toBeUndefined();
    await joinOrg(t.app, w.owner.creds, w.orgId, { email: "sixth@acme.test", name: "Six", role: "member" });
    const refusal = await check().catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(TesseraError);
    expect((refusal as TesseraError).code).toBe("quota_exceeded");
    expect((refusal as TesseraError).limit).toEqual({ name: "membersPerOrganization", max: 6 });
    const invited = await call(t.app, "POST", `/v1/orgs/${w.orgId}/invitations`, w.owner.creds, {
      email: "seventh@acme.test",
      role: "member",
    });
    const token = linkSecret(invited.body.acceptUrl);
    const seventh = await call(t.app, "POST", "/v1/invitations/accept", null, { token, name: "Seven", password: PASSWORD });
    expect(seventh.status, seventh.raw).toBe(409);
    expect(seventh.body.code).toBe("quota_exceeded");
    // Nothing was written: no account, and the invitation is still pending.
    expect((await call(t.app, "GET", `/v1/invitations/${token}`)).status).toBe(200);
    expect(
      (await t.app.inject({ method: "POST", url: "/v1/auth/login", payload: { email: "seventh@acme.test", password: PASSWORD } }))
        .statusCode,
    ).toBe(401);
  });

  it("lets exactly the remaining number of 20 concurrent token creations through (concurrent twin)", async () => {
    const org = await call(t.app, "POST", "/v1/orgs", w.otherOwner.creds, { name: "Initech" });
    expect(org.status).toBe(201);
    const orgId = org.body.id as string;
    await createToken(t.app, w.otherOwner.creds, orgId, { name: "first", kind: "service", issuedFor: "x" });
    // 5 places remain; 20 creations race for them.
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        call(t.app, "POST", `/v1/orgs/${orgId}/tokens`, w.otherOwner.creds, {
          name: `race ${i}`,
          kind: "service",
          issuedFor: "x",
        }),
      ),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(5);
    expect(statuses.filter((s) => s === 409)).toHaveLength(15);
    for (const r of results.filter((x) => x.status === 409)) expect(r.body.limit.name).toBe("tokensPerOrganization");
    expect(await count("tokens", ["org_id", orgId])).toBe(6);
  });

  it("lets exactly the remaining number of 20 concurrent organisation creations through (concurrent twin)", async () => {
    const viewer = await login(t.app, "viewer@acme.test");
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => call(t.app, "POST", "/v1/orgs", viewer, { name: `Race ${i}` })),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(3);
    expect(results.filter((r) => r.status === 409 && r.body.limit.name === "organizationsPerUser")).toHaveLength(17);
    const owned = await t.tessera.store.db
      .selectFrom("memberships")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("user_id", "=", w.viewer.id)
      .where("role", "=", "owner")
      .executeTakeFirstOrThrow();
    expect(Number(owned.n)).toBe(3);
  });
});
