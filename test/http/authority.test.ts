import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newId } from "../../src/core/ids.js";
import { MANAGEMENT_SCOPE_NAMES } from "../../src/core/scopes.js";
import { generateToken, hashToken } from "../../src/core/token-format.js";
import { blankToken } from "../../src/core/tokens.js";
import { insertToken } from "../../src/store/tokens-repository.js";
import { dialects } from "../support/databases.js";
import {
  type Call,
  type Credentials,
  call,
  createToken,
  rootToken,
  seedWorld,
  startTestApp,
  type TestApp,
  type World,
} from "../support/harness.js";

/**
 * Issue 9, findings 1, 4, 9 and the regenerate half of 12: each attack reproduced through HTTP, each
 * now refused with nothing changed (the target's secret still works, its row is as it was).
 */

const META = { ip: null, userAgent: "test", traceId: `${"0".repeat(31)}1` };

function expectRefused(res: Call, status: number, code: string) {
  expect(res.status, res.raw).toBe(status);
  expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
  expect(res.body.code, res.raw).toBe(code);
  expect(res.body.secret).toBeUndefined();
  expect(res.raw).not.toMatch(/tsr_(live|test)_/);
}

describe.each(await dialects())("authority never grows on %s", (dialect) => {
  let t: TestApp;
  let w: World;
  let root: string;

  beforeAll(async () => {
    t = await startTestApp(dialect);
    w = await seedWorld(t.app);
    root = await rootToken(t.tessera);
    const put = await call(t.app, "PUT", `/v1/orgs/${w.orgId}/scopes`, w.owner.creds, [
      { name: "messages:send", description: "Send messages" },
      { name: "messages:read", description: "Read messages" },
    ]);
    expect(put.status, put.raw).toBe(200);
  });
  afterAll(() => t?.close());

  const tokenUrl = (id: string, orgId = w.orgId) => `/v1/orgs/${orgId}/tokens/${id}`;
  /** The token as its organisation's owner sees it (every field but the secret). */
  const view = async (id: string) => {
    const res = await call(t.app, "GET", tokenUrl(id), w.owner.creds);
    expect(res.status, res.raw).toBe(200);
    // Use is recorded in the background: what the tests compare is everything else.
    const { lastUsedAt: _a, lastUsedIp: _b, usageCount: _c, ...rest } = res.body;
    return rest;
  };
  /** Whether a secret still verifies (through the root token, which the tests do not restrict). */
  const works = async (secret: string) => {
    const res = await call(t.app, "POST", "/v1/verify", { bearer: root }, { token: secret });
    expect(res.status, res.raw).toBe(200);
    return res.body.valid as boolean;
  };
  const roleOf = async (userId: string) => {
    const res = await call(t.app, "GET", `/v1/orgs/${w.orgId}/members`, w.owner.creds);
    return (res.body.items as { userId: string; role: string }[]).find((m) => m.userId === userId)?.role;
  };

  describe("finding 1: regenerate and scope edits hand over no authority", () => {
    it("an admin cannot regenerate an owner's personal token, nor then demote the other owner", async () => {
      // A second owner: Max, promoted by the owner.
      const promote = await call(t.app, "PATCH", `/v1/orgs/${w.orgId}/members/${w.member2.id}`, w.owner.creds, {
        role: "owner",
      });
      expect(promote.status, promote.raw).toBe(200);
      const ownerToken = await createToken(t.app, w.owner.creds, w.orgId, { name: "owner's everything" });
      const before = await view(ownerToken.id);

      const regen = await call(t.app, "POST", `${tokenUrl(ownerToken.id)}/regenerate`, w.admin.creds, {
        graceSeconds: 7 * 24 * 3600,
      });
      expectRefused(regen, 403, "forbidden");
      // The admin's own means do not reach the other owner either.
      const demote = await call(t.app, "PATCH", `/v1/orgs/${w.orgId}/members/${w.member2.id}`, w.admin.creds, {
        role: "member",
      });
      expectRefused(demote, 403, "forbidden");

      expect(await view(ownerToken.id)).toEqual(before);
      expect(await works(ownerToken.secret)).toBe(true);
      expect(await roleOf(w.member2.id)).toBe("owner");
      // An admin's own token of the same scopes cannot take it either.
      const adminsToken = await createToken(t.app, w.admin.creds, w.orgId, { name: "admin's everything" });
      expectRefused(
        await call(t.app, "POST", `${tokenUrl(ownerToken.id)}/regenerate`, { bearer: adminsToken.secret }, {}),
        403,
        "forbidden",
      );
      // The owner still can (happy path), and the old secret then dies.
      const own = await call(t.app, "POST", `${tokenUrl(ownerToken.id)}/regenerate`, w.owner.creds, {});
      expect(own.status, own.raw).toBe(200);
      expect(await works(own.body.secret)).toBe(true);
      expect(await works(ownerToken.secret)).toBe(false);
      // Back to one owner for the other tests.
      const back = await call(t.app, "PATCH", `/v1/orgs/${w.orgId}/members/${w.member2.id}`, w.owner.creds, {
        role: "member",
      });
      expect(back.status, back.raw).toBe(200);
    });

    it("a service token with tokens:read, tokens:write cannot regenerate an all-scopes service token", async () => {
      const all = await createToken(t.app, w.owner.creds, w.orgId, { name: "all scopes", kind: "service" });
      const narrow = await createToken(t.app, w.owner.creds, w.orgId, {
        name: "tokens only",
        kind: "service",
        scopes: ["tokens:read", "tokens:write"],
      });
      const before = await view(all.id);
      const regen = await call(t.app, "POST", `${tokenUrl(all.id)}/regenerate`, { bearer: narrow.secret }, { graceSeconds: 60 });
      expectRefused(regen, 403, "forbidden");
      expect(regen.headers["www-authenticate"]).toMatch(/^Bearer error="insufficient_scope", scope="/);
      expect(await view(all.id)).toEqual(before);
      expect(await works(all.secret)).toBe(true);
      // Nor may it widen the big one's reach by other means: adding scopes it lacks is refused too.
      const widen = await call(
        t.app,
        "PATCH",
        tokenUrl(narrow.id),
        { bearer: narrow.secret },
        {
          scopes: ["tokens:read", "tokens:write", "audit:read"],
        },
      );
      expectRefused(widen, 400, "validation_failed");
      expect((await view(narrow.id)).scopes).toEqual(["tokens:read", "tokens:write"]);
      // What it holds, it may regenerate: a service token of its own scopes or fewer.
      const peer = await createToken(t.app, w.owner.creds, w.orgId, { name: "peer", kind: "service", scopes: ["tokens:read"] });
      const ok = await call(t.app, "POST", `${tokenUrl(peer.id)}/regenerate`, { bearer: narrow.secret }, {});
      expect(ok.status, ok.raw).toBe(200);
    });

    it("a member's narrow personal token cannot regenerate the same member's wide token", async () => {
      const wide = await createToken(t.app, w.member.creds, w.orgId, { name: "wide" });
      const narrow = await createToken(t.app, w.member.creds, w.orgId, { name: "narrow", scopes: ["tokens:write"] });
      const before = await view(wide.id);
      const regen = await call(t.app, "POST", `${tokenUrl(wide.id)}/regenerate`, { bearer: narrow.secret }, {});
      expectRefused(regen, 403, "forbidden");
      expect(await view(wide.id)).toEqual(before);
      expect(await works(wide.secret)).toBe(true);
      // The member's session holds every scope of the wide token: that works.
      const ok = await call(t.app, "POST", `${tokenUrl(wide.id)}/regenerate`, w.member.creds, {});
      expect(ok.status, ok.raw).toBe(200);
    });

    it("an admin cannot widen an owner's token with PATCH scopes (but may narrow it)", async () => {
      const owners = await createToken(t.app, w.owner.creds, w.orgId, { name: "owner narrow", scopes: ["tokens:read"] });
      const before = await view(owners.id);
      const widen = await call(t.app, "PATCH", tokenUrl(owners.id), w.admin.creds, {
        scopes: ["tokens:read", "members:write", "audit:read"],
      });
      expectRefused(widen, 403, "forbidden");
      expect(await view(owners.id)).toEqual(before);
      expect(await works(owners.secret)).toBe(true);
      // Narrowing is allowed to whoever may edit.
      const wider = await createToken(t.app, w.owner.creds, w.orgId, { name: "owner wide" });
      const narrow = await call(t.app, "PATCH", tokenUrl(wider.id), w.admin.creds, { scopes: ["tokens:read"] });
      expect(narrow.status, narrow.raw).toBe(200);
      expect(narrow.body.scopes).toEqual(["tokens:read"]);
      // The owner may widen their own again.
      const mine = await call(t.app, "PATCH", tokenUrl(wider.id), w.owner.creds, { scopes: ["tokens:read", "audit:read"] });
      expect(mine.status, mine.raw).toBe(200);
    });

    it("a token holding only members:write cannot make anyone admin, nor grant a role beyond it", async () => {
      const svc = await createToken(t.app, w.owner.creds, w.orgId, {
        name: "members only",
        kind: "service",
        scopes: ["members:write", "members:read", "org:read"],
      });
      const promote = await call(
        t.app,
        "PATCH",
        `/v1/orgs/${w.orgId}/members/${w.viewer.id}`,
        { bearer: svc.secret },
        {
          role: "admin",
        },
      );
      expectRefused(promote, 403, "forbidden");
      const toMember = await call(
        t.app,
        "PATCH",
        `/v1/orgs/${w.orgId}/members/${w.viewer.id}`,
        { bearer: svc.secret },
        {
          role: "member",
        },
      );
      expectRefused(toMember, 403, "forbidden");
      // Nor take away a role it could not grant.
      const demote = await call(
        t.app,
        "PATCH",
        `/v1/orgs/${w.orgId}/members/${w.admin.id}`,
        { bearer: svc.secret },
        {
          role: "viewer",
        },
      );
      expectRefused(demote, 403, "forbidden");
      const remove = await call(t.app, "DELETE", `/v1/orgs/${w.orgId}/members/${w.admin.id}`, { bearer: svc.secret });
      expectRefused(remove, 403, "forbidden");
      expect(await roleOf(w.viewer.id)).toBe("viewer");
      expect(await roleOf(w.admin.id)).toBe("admin");
      // A token holding every permission of the role may grant it (and take it back), as an admin would.
      const full = await createToken(t.app, w.owner.creds, w.orgId, { name: "all scopes", kind: "service" });
      const up = await call(
        t.app,
        "PATCH",
        `/v1/orgs/${w.orgId}/members/${w.viewer.id}`,
        { bearer: full.secret },
        {
          role: "member",
        },
      );
      expect(up.status, up.raw).toBe(200);
      const down = await call(
        t.app,
        "PATCH",
        `/v1/orgs/${w.orgId}/members/${w.viewer.id}`,
        { bearer: full.secret },
        {
          role: "viewer",
        },
      );
      expect(down.status, down.raw).toBe(200);
      // …but never the owner role.
      expectRefused(
        await call(t.app, "PATCH", `/v1/orgs/${w.orgId}/members/${w.viewer.id}`, { bearer: full.secret }, { role: "owner" }),
        403,
        "forbidden",
      );
    });
  });

  describe("finding 12: membersCanCreateTokens=false", () => {
    it("members can then neither create nor regenerate tokens; owners still can", async () => {
      const mine = await createToken(t.app, w.member.creds, w.orgId, { name: "made while allowed" });
      const off = await call(t.app, "PATCH", `/v1/orgs/${w.orgId}`, w.owner.creds, {
        settings: { membersCanCreateTokens: false },
      });
      expect(off.status, off.raw).toBe(200);
      try {
        const before = await view(mine.id);
        expectRefused(await call(t.app, "POST", `${tokenUrl(mine.id)}/regenerate`, w.member.creds, {}), 403, "forbidden");
        expectRefused(
          await call(t.app, "POST", `${tokenUrl(mine.id)}/regenerate`, { bearer: mine.secret }, {}),
          403,
          "forbidden",
        );
        expectRefused(await call(t.app, "POST", `/v1/orgs/${w.orgId}/tokens`, w.member.creds, { name: "x" }), 403, "forbidden");
        expect(await view(mine.id)).toEqual(before);
        expect(await works(mine.secret)).toBe(true);
        // Revoking their own is still theirs to do.
        const owners = await createToken(t.app, w.owner.creds, w.orgId, { name: "owner while off" });
        const regen = await call(t.app, "POST", `${tokenUrl(owners.id)}/regenerate`, w.owner.creds, {});
        expect(regen.status, regen.raw).toBe(200);
      } finally {
        await call(t.app, "PATCH", `/v1/orgs/${w.orgId}`, w.owner.creds, { settings: { membersCanCreateTokens: true } });
      }
    });
  });

  describe("finding 4: root tokens are listed and revoked", () => {
    it("lists root tokens (newest first, no secrets) and revokes one at once, everywhere", async () => {
      const doomed = await t.tessera.tokens.createRoot("doomed", META);
      const list = await call(t.app, "GET", "/v1/root-tokens", { bearer: root });
      expect(list.status, list.raw).toBe(200);
      const items = list.body.items as { id: string; kind: string; createdAt: string }[];
      expect(items[0]!.id).toBe(doomed.token.id);
      expect(items.every((x) => x.kind === "root")).toBe(true);
      expect(list.raw).not.toContain(doomed.secret);
      // Warm the cache with the doomed token, so revocation must reach it through the change bus.
      expect((await call(t.app, "GET", `/v1/orgs/${w.orgId}`, { bearer: doomed.secret })).status).toBe(200);
      expect((await call(t.app, "POST", "/v1/verify", { bearer: doomed.secret }, { token: root })).body.valid).toBe(true);

      const revoked = await call(
        t.app,
        "POST",
        `/v1/root-tokens/${doomed.token.id}/revoke`,
        { bearer: root },
        {
          reason: "leaked in a log",
        },
      );
      expect(revoked.status, revoked.raw).toBe(200);
      expect(revoked.body).toMatchObject({ id: doomed.token.id, status: "revoked", revokeReason: "leaked in a log" });
      for (const [method, url, body] of [
        ["GET", `/v1/orgs/${w.orgId}`, undefined],
        ["GET", "/v1/orgs", undefined],
        ["GET", "/v1/root-tokens", undefined],
        ["POST", "/v1/verify", { token: root }],
      ] as const) {
        const res = await call(t.app, method, url, { bearer: doomed.secret }, body);
        expectRefused(res, 401, "unauthorized");
      }
      // Revoked is final; the audit trail has it.
      expectRefused(
        await call(t.app, "POST", `/v1/root-tokens/${doomed.token.id}/revoke`, { bearer: root }, {}),
        409,
        "invalid_state",
      );
      const again = await call(t.app, "GET", "/v1/root-tokens", { bearer: root });
      expect(again.body.items.find((x: { id: string }) => x.id === doomed.token.id)).toMatchObject({ status: "revoked" });
    });

    it("refuses root-token management to everyone but a root token holding instance:admin", async () => {
      const target = await t.tessera.tokens.createRoot("target", META);
      const verifyOnly = await t.tessera.tokens.createRoot("verify only", META, ["tokens:verify"]);
      const svc = await createToken(t.app, w.owner.creds, w.orgId, { name: "svc all", kind: "service" });
      const callers: [string, Credentials][] = [
        ["owner session (instance admin)", w.owner.creds],
        ["admin session", w.admin.creds],
        ["service token", { bearer: svc.secret }],
        ["root without instance:admin", { bearer: verifyOnly.secret }],
      ];
      for (const [label, creds] of callers) {
        const list = await call(t.app, "GET", "/v1/root-tokens", creds);
        expect(list.status, `${label}: ${list.raw}`).toBe(403);
        const revoke = await call(t.app, "POST", `/v1/root-tokens/${target.token.id}/revoke`, creds, {});
        expect(revoke.status, `${label}: ${revoke.raw}`).toBe(403);
      }
      expectRefused(await call(t.app, "GET", "/v1/root-tokens", null), 401, "unauthorized");
      // An organisation's token id is not a root token.
      expectRefused(await call(t.app, "POST", `/v1/root-tokens/${svc.id}/revoke`, { bearer: root }, {}), 404, "not_found");
      expect(await works(target.secret)).toBe(true);
      expect(await works(svc.secret)).toBe(true);
    });

    it("two concurrent revocations of one root token: one succeeds, the other is 409, one audit event", async () => {
      const twin = await t.tessera.tokens.createRoot("twin", META);
      const results = await Promise.all(
        [1, 2].map(() => call(t.app, "POST", `/v1/root-tokens/${twin.token.id}/revoke`, { bearer: root }, { reason: "twin" })),
      );
      expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
      const events = await t.tessera.store.db
        .selectFrom("audit_events")
        .select("id")
        .where("target_id", "=", twin.token.id)
        .where("action", "=", "token.revoked")
        .execute();
      expect(events).toHaveLength(1);
      expect(await works(twin.secret).catch(() => false)).toBe(false);
    });

    it("lets a root token with instance:admin manage an organisation's tokens and members (as an owner)", async () => {
      const owners = await createToken(t.app, w.owner.creds, w.orgId, { name: "revoked by root" });
      const res = await call(t.app, "POST", `${tokenUrl(owners.id)}/revoke`, { bearer: root }, { reason: "operator" });
      expect(res.status, res.raw).toBe(200);
      // …but it cannot take a personal token's secret.
      const personal = await createToken(t.app, w.owner.creds, w.orgId, { name: "personal" });
      expectRefused(await call(t.app, "POST", `${tokenUrl(personal.id)}/regenerate`, { bearer: root }, {}), 403, "forbidden");
      expect(await works(personal.secret)).toBe(true);
    });
  });

  describe("finding 9: root token scopes are validated and enforced", () => {
    it("refuses unknown instance scopes when a root token is made", async () => {
      await expect(t.tessera.tokens.createRoot("bad", META, ["everything", "*"])).rejects.toThrow(/everything/);
      await expect(t.tessera.tokens.createRoot("bad", META, ["org:read"])).rejects.toThrow(/org:read/);
      await expect(t.tessera.tokens.createRoot("bad", META, [])).rejects.toThrow(/scopes/);
      const made = await t.tessera.tokens.createRoot("default", META);
      expect(made.token.scopes).toEqual(["instance:admin", "tokens:verify", "orgs:provision"]);
    });

    it("a root token holding org:read (a legacy row) or no tokens:verify cannot verify", async () => {
      // A legacy root row, as an old database would hold it if it escaped the migration.
      const generated = generateToken("tsr", "live");
      const legacy = {
        ...blankToken(Date.now()),
        id: newId("token"),
        kind: "root" as const,
        name: "legacy",
        prefix: generated.displayPrefix,
        last4: generated.last4,
        scopes: ["org:read"],
      };
      await insertToken(t.tessera.store.db, legacy, hashToken(generated.secret, t.tessera.config.pepper));
      const adminOnly = await t.tessera.tokens.createRoot("admin only", META, ["instance:admin"]);
      const target = await createToken(t.app, w.owner.creds, w.orgId, { name: "to verify" });
      for (const secret of [generated.secret, adminOnly.secret]) {
        const res = await call(t.app, "POST", "/v1/verify", { bearer: secret }, { token: target.secret });
        expectRefused(res, 403, "forbidden");
        expect(res.headers["www-authenticate"]).toBe('Bearer error="insufficient_scope", scope="tokens:verify"');
        expect(res.body.valid).toBeUndefined();
      }
      // The legacy row has no standing in organisations either; instance:admin alone does.
      expectRefused(await call(t.app, "GET", `/v1/orgs/${w.orgId}/tokens`, { bearer: generated.secret }), 403, "forbidden");
      expectRefused(await call(t.app, "GET", "/v1/orgs", { bearer: generated.secret }), 403, "forbidden");
      expect((await call(t.app, "GET", `/v1/orgs/${w.orgId}/tokens`, { bearer: adminOnly.secret })).status).toBe(200);
    });

    it("a root token with tokens:verify only verifies but cannot manage", async () => {
      const verifier = await t.tessera.tokens.createRoot("verifier", META, ["tokens:verify"]);
      const target = await createToken(t.app, w.owner.creds, w.orgId, { name: "verified" });
      const ok = await call(t.app, "POST", "/v1/verify", { bearer: verifier.secret }, { token: target.secret });
      expect(ok.status, ok.raw).toBe(200);
      expect(ok.body.valid).toBe(true);
      const before = await view(target.id);
      for (const [method, url, body] of [
        ["GET", `/v1/orgs/${w.orgId}/tokens`, undefined],
        ["POST", `${tokenUrl(target.id)}/revoke`, {}],
        ["POST", `${tokenUrl(target.id)}/regenerate`, {}],
        ["PATCH", `/v1/orgs/${w.orgId}/members/${w.owner.id}`, { role: "viewer" }],
        ["GET", "/v1/orgs", undefined],
      ] as const) {
        const res = await call(t.app, method, url, { bearer: verifier.secret }, body);
        expectRefused(res, 403, "forbidden");
        expect(res.headers["www-authenticate"]).toBe('Bearer error="insufficient_scope", scope="instance:admin"');
      }
      expect(await view(target.id)).toEqual(before);
      expect(await roleOf(w.owner.id)).toBe("owner");
      // Management scopes do not count for a root token.
      expect(MANAGEMENT_SCOPE_NAMES).not.toContain("instance:admin");
    });
  });
});
