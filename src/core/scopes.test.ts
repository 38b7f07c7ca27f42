import { describe, expect, it } from "vitest";
import { rolePermissions } from "./roles.js";
import { effectiveScopes, grantableScopes, intersect, MANAGEMENT_SCOPE_NAMES, scopeSet, unknownScopes } from "./scopes.js";

const catalogue = [...MANAGEMENT_SCOPE_NAMES, "messages:send", "messages:read", "billing:read"];

describe("scopes", () => {
  it("grants exact scopes and every action under resource:*", () => {
    const set = scopeSet(["messages:*", "billing:read"]);
    expect(set.grants("messages:send")).toBe(true);
    expect(set.grants("messages:anything")).toBe(true);
    expect(set.grants("messages:*")).toBe(true);
    expect(set.grants("billing:read")).toBe(true);
    expect(set.grants("billing:write")).toBe(false);
    expect(set.grants("billing:*")).toBe(false);
  });

  it("finds unknown scopes, accepting wildcards of known resources", () => {
    expect(unknownScopes(["messages:send", "messages:*", "tokens:read"], catalogue)).toEqual([]);
    expect(unknownScopes(["messages:delete", "nope:*", "Bad", "x:"], catalogue)).toEqual([
      "messages:delete",
      "nope:*",
      "Bad",
      "x:",
    ]);
  });

  it("intersects a personal token with its owner's current role", () => {
    const token = scopeSet(["tokens:*", "messages:send", "audit:read"]);
    const asMember = intersect(token, rolePermissions("member"));
    expect(asMember.grants("tokens:read")).toBe(true);
    expect(asMember.grants("tokens:verify")).toBe(false);
    expect(asMember.grants("audit:read")).toBe(false);
    expect(asMember.grants("messages:send")).toBe(true);
    const asViewer = intersect(token, rolePermissions("viewer"));
    expect(asViewer.grants("messages:send")).toBe(false);
    expect(asViewer.grants("tokens:read")).toBe(false);
    const asOwner = intersect(token, rolePermissions("owner"));
    expect(asOwner.grants("audit:read")).toBe(true);
  });

  it("lists effective scopes, expanding wildcards granted only in part", () => {
    const granted = ["tokens:*", "messages:*", "audit:read"];
    expect(effectiveScopes(granted, rolePermissions("owner"), catalogue)).toEqual(granted);
    expect(effectiveScopes(granted, rolePermissions("member"), catalogue)).toEqual(["tokens:read", "tokens:write", "messages:*"]);
    expect(effectiveScopes(granted, rolePermissions("viewer"), catalogue)).toEqual([]);
  });

  it("defaults a new token to everything its creator may grant", () => {
    expect(grantableScopes(rolePermissions("owner"), catalogue)).toEqual(catalogue);
    expect(grantableScopes(rolePermissions("member"), catalogue)).toEqual([
      "tokens:read",
      "tokens:write",
      "members:read",
      "org:read",
      "messages:send",
      "messages:read",
      "billing:read",
    ]);
    expect(grantableScopes(rolePermissions("viewer"), catalogue)).toEqual(["org:read"]);
  });
});

describe("scopeSet sharing", () => {
  it("one set per scope list, and lists that join alike stay apart", () => {
    expect(scopeSet(["a:b", "c:*"])).toBe(scopeSet(["a:b", "c:*"]));
    const joined = scopeSet(["a:b c:d"]);
    const split = scopeSet(["a:b", "c:d"]);
    expect(joined).not.toBe(split);
    expect(joined.grants("a:b")).toBe(false);
    expect(split.grants("a:b")).toBe(true);
    expect(scopeSet(["c:*"]).grants("c:anything")).toBe(true);
    expect(scopeSet([]).grants("a:b")).toBe(false);
  });
});
