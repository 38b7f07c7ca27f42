import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  addedScopes,
  covers,
  type Decision,
  decideCreateToken,
  decideManageRootTokens,
  decideRegenerate,
  decideRoleChange,
  decideRootInOrg,
  decideScopeEdit,
  decideSeeToken,
  decideTokenAction,
  decideTransition,
  decideVerifyCaller,
  decideWebhooks,
  type PolicyActor,
  type PolicyToken,
} from "./policy.js";
import { mayManageRole, ROLES, type Role, rolePermissions, seesAllTokens } from "./roles.js";
import { GRANTS_EVERYTHING, intersect, MANAGEMENT_SCOPE_NAMES, scopeSet } from "./scopes.js";

const CATALOGUE = [...MANAGEMENT_SCOPE_NAMES, "messages:send", "messages:read"];
const ON = { membersCanCreateTokens: true };
const OFF = { membersCanCreateTokens: false };

const person = (id: string, role: Role, tokenScopes?: string[]): PolicyActor => ({
  kind: "person",
  personId: id,
  role,
  permissions: tokenScopes ? intersect(scopeSet(tokenScopes), rolePermissions(role)) : rolePermissions(role),
  seesAllTokens: seesAllTokens(role),
});
const service = (scopes: string[]): PolicyActor => ({
  kind: "service",
  personId: null,
  role: null,
  permissions: scopeSet(scopes),
  seesAllTokens: true,
});
const ROOT: PolicyActor = { kind: "root", personId: null, role: null, permissions: GRANTS_EVERYTHING, seesAllTokens: true };

const OWNER = person("usr_owner", "owner");
const ADMIN = person("usr_admin", "admin");
const MEMBER = person("usr_member", "member");
const VIEWER = person("usr_viewer", "viewer");

const personal = (ownerId: string, scopes: string[] = CATALOGUE): PolicyToken => ({ kind: "personal", ownerId, scopes });
const svcToken = (scopes: string[] = CATALOGUE): PolicyToken => ({ kind: "service", ownerId: null, scopes });

const outcome = (d: Decision) => (d.allowed ? "allow" : d.code);

describe("decideRegenerate (SPEC §2: regenerating needs all the token's authority)", () => {
  it.each([
    ["owner, own personal token", OWNER, personal("usr_owner"), ON, "allow"],
    ["admin, owner's personal token", ADMIN, personal("usr_owner"), ON, "forbidden"],
    ["owner, admin's personal token", OWNER, personal("usr_admin"), ON, "forbidden"],
    ["root, someone's personal token", ROOT, personal("usr_owner"), ON, "forbidden"],
    ["member, own token", MEMBER, personal("usr_member", ["tokens:read", "messages:send"]), ON, "allow"],
    ["member, own token, members may not create", MEMBER, personal("usr_member", ["tokens:read"]), OFF, "forbidden"],
    ["member, another member's token", MEMBER, personal("usr_other", ["tokens:read"]), ON, "not_found"],
    ["member, a service token", MEMBER, svcToken(["tokens:read"]), ON, "not_found"],
    [
      "member, own token holding audit:read (left from a demotion)",
      MEMBER,
      personal("usr_member", ["audit:read"]),
      ON,
      "forbidden",
    ],
    [
      "member's narrow token, member's wide token",
      person("usr_member", "member", ["tokens:write"]),
      personal("usr_member", ["tokens:read", "tokens:write"]),
      ON,
      "forbidden",
    ],
    [
      "member's wide token, member's narrow token",
      person("usr_member", "member", ["tokens:read", "tokens:write"]),
      personal("usr_member", ["tokens:write"]),
      ON,
      "allow",
    ],
    ["viewer, anything", VIEWER, personal("usr_viewer", ["org:read"]), ON, "forbidden"],
    [
      "service tokens:read+write, all-scopes service token",
      service(["tokens:read", "tokens:write"]),
      svcToken(),
      ON,
      "forbidden",
    ],
    [
      "service tokens:read+write, service token of tokens:read",
      service(["tokens:read", "tokens:write"]),
      svcToken(["tokens:read"]),
      ON,
      "allow",
    ],
    [
      "service messages:send, service messages:* (wildcards whole)",
      service(["tokens:write", "messages:send", "messages:read"]),
      svcToken(["messages:*"]),
      ON,
      "forbidden",
    ],
    ["admin, all-scopes service token", ADMIN, svcToken(), ON, "allow"],
    ["root, all-scopes service token", ROOT, svcToken(), ON, "allow"],
    ["admin, a root token", ADMIN, { kind: "root", ownerId: null, scopes: ["tokens:verify"] } as PolicyToken, ON, "forbidden"],
  ] as const)("%s → %s", (_label, actor, token, settings, expected) => {
    expect(outcome(decideRegenerate(actor, token, settings))).toBe(expected);
  });

  it("names the scope the caller lacks (RFC 6750 insufficient_scope)", () => {
    const d = decideRegenerate(service(["tokens:read", "tokens:write"]), svcToken(["tokens:read", "audit:read"]), ON);
    expect(d).toMatchObject({ allowed: false, code: "forbidden", missingScope: "audit:read" });
  });
});

describe("decideScopeEdit (adding needs the caller and a personal token's owner; narrowing is open)", () => {
  it.each([
    ["admin narrows owner's token", ADMIN, personal("usr_owner"), ["tokens:read"], "allow"],
    ["admin widens owner's token", ADMIN, personal("usr_owner", ["tokens:read"]), ["tokens:read", "audit:read"], "forbidden"],
    ["owner widens own token", OWNER, personal("usr_owner", ["tokens:read"]), ["tokens:read", "audit:read"], "allow"],
    [
      "member widens own token within role",
      MEMBER,
      personal("usr_member", ["tokens:read"]),
      ["tokens:read", "messages:send"],
      "allow",
    ],
    [
      "member widens own token beyond role",
      MEMBER,
      personal("usr_member", ["tokens:read"]),
      ["tokens:read", "audit:read"],
      "validation_failed",
    ],
    ["member adds an unknown scope", MEMBER, personal("usr_member", ["tokens:read"]), ["nope:nothing"], "validation_failed"],
    ["service narrows a wider service token", service(["tokens:write"]), svcToken(), ["org:read"], "allow"],
    [
      "service widens a service token beyond itself",
      service(["tokens:write"]),
      svcToken(["org:read"]),
      ["org:read", "audit:read"],
      "validation_failed",
    ],
    [
      "wildcard narrowed to one of its actions is not an addition",
      ADMIN,
      personal("usr_owner", ["messages:*"]),
      ["messages:send"],
      "allow",
    ],
    ["same list (reordered)", ADMIN, personal("usr_owner", ["a:b", "tokens:read"]), ["tokens:read", "a:b"], "allow"],
    ["member, another member's token", MEMBER, personal("usr_other"), [], "not_found"],
    ["viewer", VIEWER, personal("usr_viewer", ["org:read"]), [], "forbidden"],
  ] as const)("%s → %s", (_label, actor, token, scopes, expected) => {
    expect(outcome(decideScopeEdit(actor, token, scopes, CATALOGUE))).toBe(expected);
  });

  it("addedScopes counts what the token does not already grant", () => {
    expect(addedScopes(["messages:*", "tokens:read"], ["messages:send", "tokens:write", "tokens:write"])).toEqual([
      "tokens:write",
    ]);
  });
});

describe("decideCreateToken", () => {
  it.each([
    ["member, personal, within role", MEMBER, "personal", ["tokens:read"], ON, "allow"],
    ["member, personal, beyond role", MEMBER, "personal", ["audit:read"], ON, "validation_failed"],
    ["member while members may not", MEMBER, "personal", ["tokens:read"], OFF, "forbidden"],
    ["member, service", MEMBER, "service", ["tokens:read"], ON, "forbidden"],
    ["admin, service", ADMIN, "service", CATALOGUE, ON, "allow"],
    ["admin while members may not", ADMIN, "personal", CATALOGUE, OFF, "allow"],
    ["service token, personal", service(CATALOGUE), "personal", ["tokens:read"], ON, "validation_failed"],
    ["service token, service within itself", service(["tokens:write", "tokens:read"]), "service", ["tokens:read"], ON, "allow"],
    ["service token, service beyond itself", service(["tokens:write"]), "service", ["audit:read"], ON, "validation_failed"],
    ["unknown scope", OWNER, "personal", ["nope:nothing"], ON, "validation_failed"],
    ["viewer", VIEWER, "personal", [], ON, "forbidden"],
    ["root kind", OWNER, "root", [], ON, "validation_failed"],
    [
      "personal token of an admin without tokens:write",
      person("usr_admin", "admin", ["tokens:read"]),
      "personal",
      [],
      ON,
      "forbidden",
    ],
  ] as const)("%s → %s", (_label, actor, kind, scopes, settings, expected) => {
    expect(outcome(decideCreateToken(actor, { kind, scopes }, CATALOGUE, settings))).toBe(expected);
  });
});

describe("decideTransition and visibility", () => {
  it.each([
    ["admin revokes owner's personal token", ADMIN, personal("usr_owner"), "allow"],
    ["member suspends own", MEMBER, personal("usr_member"), "allow"],
    ["member suspends another's", MEMBER, personal("usr_other"), "not_found"],
    ["service without tokens:write", service(["tokens:read"]), svcToken(), "forbidden"],
    ["viewer", VIEWER, personal("usr_viewer"), "forbidden"],
  ] as const)("%s → %s", (_label, actor, token, expected) => {
    expect(outcome(decideTransition(actor, token, "suspend"))).toBe(expected);
  });
  it("hides other people's tokens from members, never from owners", () => {
    expect(outcome(decideSeeToken(MEMBER, personal("usr_other")))).toBe("not_found");
    expect(outcome(decideSeeToken(OWNER, personal("usr_other")))).toBe("allow");
  });
  it("decideTokenAction asks the same as the single-token decisions (what a batch will call)", () => {
    const ctx = { catalogue: CATALOGUE, settings: ON };
    const t = personal("usr_owner");
    expect(decideTokenAction(ADMIN, t, { type: "regenerate" }, ctx)).toEqual(decideRegenerate(ADMIN, t, ON));
    expect(decideTokenAction(ADMIN, t, { type: "transition", transition: "revoke" }, ctx)).toEqual(
      decideTransition(ADMIN, t, "revoke"),
    );
    expect(decideTokenAction(ADMIN, t, { type: "edit", scopes: ["tokens:read"] }, ctx)).toEqual(
      decideScopeEdit(ADMIN, t, ["tokens:read"], CATALOGUE),
    );
  });
});

describe("decideRoleChange", () => {
  const add = (to: Role) => ({ from: null, to });
  const change = (from: Role, to: Role) => ({ from, to });
  const remove = (from: Role) => ({ from, to: null });
  it.each([
    ["owner makes an owner", OWNER, add("owner"), "allow"],
    ["admin makes an owner", ADMIN, add("owner"), "forbidden"],
    ["admin adds an admin", ADMIN, add("admin"), "allow"],
    ["admin demotes an owner", ADMIN, change("owner", "member"), "forbidden"],
    ["admin removes an owner", ADMIN, remove("owner"), "forbidden"],
    ["admin demotes an admin", ADMIN, change("admin", "member"), "allow"],
    ["root demotes an owner", ROOT, change("owner", "admin"), "allow"],
    ["member adds anyone", MEMBER, add("viewer"), "forbidden"],
    ["service members:write only makes a viewer", service(["members:write"]), add("viewer"), "forbidden"],
    ["service members:write+org:read makes a viewer", service(["members:write", "org:read"]), add("viewer"), "allow"],
    ["service members:write+org:read makes an admin", service(["members:write", "org:read"]), add("admin"), "forbidden"],
    ["service with every scope makes an admin", service(CATALOGUE), add("admin"), "allow"],
    ["service with every scope makes an owner", service(CATALOGUE), add("owner"), "forbidden"],
    [
      "service members:write+org:read demotes an admin",
      service(["members:write", "org:read"]),
      change("admin", "viewer"),
      "forbidden",
    ],
    ["service members:write+org:read removes a viewer", service(["members:write", "org:read"]), remove("viewer"), "allow"],
    [
      "owner's token with members:write only makes a member",
      person("usr_owner", "owner", ["members:write"]),
      add("member"),
      "forbidden",
    ],
    ["owner's token with everything makes an owner", person("usr_owner", "owner", CATALOGUE), add("owner"), "allow"],
  ] as const)("%s → %s", (_label, actor, c, expected) => {
    expect(outcome(decideRoleChange(actor, c, CATALOGUE))).toBe(expected);
  });

  it("agrees with mayManageRole for sessions of owners and admins (the role rule it builds on)", () => {
    for (const actor of ["owner", "admin"] as const)
      for (const from of ROLES)
        for (const to of ROLES) {
          const d = decideRoleChange(person("usr_x", actor), { from, to }, CATALOGUE);
          expect(d.allowed, `${actor}: ${from} → ${to}`).toBe(mayManageRole(actor, from, to));
        }
  });
});

describe("instance rules", () => {
  it.each([
    [{ kind: "root", scopes: ["instance:admin"] }, "allow"],
    [{ kind: "root", scopes: ["tokens:verify", "orgs:provision"] }, "forbidden"],
    [{ kind: "system", scopes: [] }, "allow"],
    [{ kind: "user", scopes: [] }, "forbidden"],
    [{ kind: "service", scopes: ["instance:admin"] }, "forbidden"],
  ] as const)("managing root tokens: %o → %s", (caller, expected) => {
    expect(outcome(decideManageRootTokens(caller))).toBe(expected);
  });
  it.each([
    [{ kind: "root", scopes: ["tokens:verify"] }, "allow"],
    [{ kind: "root", scopes: ["instance:admin", "org:read"] }, "forbidden"],
    [{ kind: "service", scopes: ["tokens:*"] }, "allow"],
    [{ kind: "service", scopes: ["tokens:read"] }, "forbidden"],
    [{ kind: "personal", scopes: ["tokens:verify"] }, "forbidden"],
    [{ kind: "user", scopes: [] }, "forbidden"],
  ] as const)("verifying: %o → %s", (caller, expected) => {
    expect(outcome(decideVerifyCaller(caller))).toBe(expected);
  });
  it("acting in an organisation needs instance:admin", () => {
    expect(decideRootInOrg(["instance:admin"]).allowed).toBe(true);
    expect(decideRootInOrg(["tokens:verify", "orgs:provision", "org:read"]).allowed).toBe(false);
  });
});

/** Properties: whatever the actor and the target, an allowed decision never hands over more than the actor holds. */
describe("policy properties", () => {
  const PEOPLE = ["usr_a", "usr_b"];
  const scopesArb = fc.subarray([...CATALOGUE, "messages:*", "tokens:*"]);
  const roleArb = fc.constantFrom(...ROLES);
  const actorArb: fc.Arbitrary<PolicyActor> = fc.oneof(
    fc.record({ id: fc.constantFrom(...PEOPLE), role: roleArb }).map(({ id, role }) => person(id, role)),
    fc
      .record({ id: fc.constantFrom(...PEOPLE), role: roleArb, scopes: scopesArb })
      .map(({ id, role, scopes }) => person(id, role, scopes)),
    scopesArb.map(service),
    fc.constant(ROOT),
  );
  const tokenArb: fc.Arbitrary<PolicyToken> = fc.oneof(
    fc.record({ ownerId: fc.constantFrom(...PEOPLE), scopes: scopesArb }).map(({ ownerId, scopes }) => personal(ownerId, scopes)),
    scopesArb.map(svcToken),
  );
  const settingsArb = fc.record({ membersCanCreateTokens: fc.boolean() });
  const params = { seed: 9, numRuns: 2000 };

  it("regenerate: allowed only if the caller holds every scope of the token, and a personal token's owner", () => {
    fc.assert(
      fc.property(actorArb, tokenArb, settingsArb, (actor, token, settings) => {
        const d = decideRegenerate(actor, token, settings);
        if (!d.allowed) return;
        expect(covers(actor.permissions, token.scopes)).toBe(true);
        expect(actor.permissions.grants("tokens:write")).toBe(true);
        if (token.kind === "personal") expect(token.ownerId).toBe(actor.personId);
        if (actor.role === "member") expect(settings.membersCanCreateTokens).toBe(true);
      }),
      params,
    );
  });

  it("scope edit: whatever it adds, the caller holds; a personal token only grows by its owner", () => {
    fc.assert(
      fc.property(actorArb, tokenArb, scopesArb, (actor, token, requested) => {
        const d = decideScopeEdit(actor, token, requested, CATALOGUE);
        if (!d.allowed) return;
        const added = addedScopes(token.scopes, requested);
        expect(covers(actor.permissions, added)).toBe(true);
        if (added.length > 0 && token.kind === "personal") expect(token.ownerId).toBe(actor.personId);
        // Narrowing only: the new list grants nothing the union of old and caller did not.
        for (const s of requested) expect(scopeSet(token.scopes).grants(s) || actor.permissions.grants(s)).toBe(true);
      }),
      params,
    );
  });

  it("create: a new token's scopes are within the creator's permissions", () => {
    fc.assert(
      fc.property(
        actorArb,
        fc.constantFrom("personal", "service") as fc.Arbitrary<"personal" | "service">,
        scopesArb,
        settingsArb,
        (actor, kind, scopes, settings) => {
          const d = decideCreateToken(actor, { kind, scopes }, CATALOGUE, settings);
          if (!d.allowed) return;
          expect(covers(actor.permissions, scopes)).toBe(true);
          if (kind === "personal") expect(actor.personId).not.toBeNull();
          if (kind === "service") expect(actor.seesAllTokens).toBe(true);
        },
      ),
      params,
    );
  });

  it("roles: a role granted or taken is one the caller could grant; the owner role only by owners", () => {
    const changeArb = fc.oneof(
      fc.record({ from: fc.constant(null), to: roleArb }),
      fc.record({ from: roleArb, to: roleArb }),
      fc.record({ from: roleArb, to: fc.constant(null) }),
    );
    fc.assert(
      fc.property(actorArb, changeArb, (actor, change) => {
        const d = decideRoleChange(actor, change, CATALOGUE);
        if (!d.allowed) return;
        for (const role of [change.from, change.to]) {
          if (role === null) continue;
          for (const s of CATALOGUE) if (rolePermissions(role).grants(s)) expect(actor.permissions.grants(s)).toBe(true);
          if (role === "owner") expect(actor.kind === "root" || actor.role === "owner").toBe(true);
        }
      }),
      params,
    );
  });
});

describe("webhooks (SPEC §10)", () => {
  it.each([
    ["owner", OWNER, "allow", "allow"],
    ["admin", ADMIN, "allow", "allow"],
    ["member", MEMBER, "forbidden", "forbidden"],
    ["viewer", VIEWER, "forbidden", "forbidden"],
    ["root", ROOT, "allow", "allow"],
    ["service token with webhooks:read only", service(["webhooks:read"]), "allow", "forbidden"],
    ["service token with webhooks:write only", service(["webhooks:write"]), "forbidden", "forbidden"],
    [
      "service token with webhooks:write, tokens:read, members:read",
      service(["webhooks:write", "tokens:read", "members:read"]),
      "forbidden",
      "allow",
    ],
    [
      "owner's token without webhook scopes",
      person("usr_owner", "owner", ["tokens:read", "members:read"]),
      "forbidden",
      "forbidden",
    ],
    [
      "member's token claiming webhook scopes",
      person("usr_member", "member", ["webhooks:read", "webhooks:write"]),
      "forbidden",
      "forbidden",
    ],
  ] as const)("%s: read %s, write %s", (_, actor, read, write) => {
    expect(outcome(decideWebhooks(actor, "read"))).toBe(read);
    expect(outcome(decideWebhooks(actor, "write"))).toBe(write);
  });
});
