import { describe, expect, it } from "vitest";
import { mayManageRole, rolePermissions, seesAllTokens } from "./roles.js";
import { MANAGEMENT_SCOPE_NAMES } from "./scopes.js";

describe("roles", () => {
  it("follow the permission table of SPEC §2", () => {
    const table = Object.fromEntries(
      (["owner", "admin", "member", "viewer"] as const).map((r) => [
        r,
        MANAGEMENT_SCOPE_NAMES.filter((s) => rolePermissions(r).grants(s)),
      ]),
    );
    expect(table.owner).toEqual(MANAGEMENT_SCOPE_NAMES);
    expect(table.admin).toEqual(MANAGEMENT_SCOPE_NAMES);
    expect(table.member).toEqual(["tokens:read", "tokens:write", "members:read", "org:read"]);
    expect(table.viewer).toEqual(["org:read"]);
    expect(rolePermissions("member").grants("messages:send")).toBe(true);
    expect(rolePermissions("viewer").grants("messages:send")).toBe(false);
  });

  it("let only owners and admins see every token", () => {
    expect(seesAllTokens("owner") && seesAllTokens("admin")).toBe(true);
    expect(seesAllTokens("member") || seesAllTokens("viewer")).toBe(false);
  });

  it("keep admins away from owners", () => {
    expect(mayManageRole("owner", "owner", "member")).toBe(true);
    expect(mayManageRole("admin", "member", "admin")).toBe(true);
    expect(mayManageRole("admin", "owner")).toBe(false);
    expect(mayManageRole("admin", "member", "owner")).toBe(false);
    expect(mayManageRole("member", "viewer", "viewer")).toBe(false);
  });
});
