import { describe, expect, it } from "vitest";
import {
  decideEmbedProvision,
  decideProvisionProfile,
  decideProvisionRename,
  decideRoleChange,
  type ProvisionCaller,
  provisioningActor,
} from "./policy.js";
import { GRANTS_NOTHING, MANAGEMENT_SCOPE_NAMES, scopeSet } from "./scopes.js";

const root = (scopes: string[]): ProvisionCaller => ({ kind: "root", scopes, orgId: null, permissions: GRANTS_NOTHING });
const service = (scopes: string[], orgId = "org_a"): ProvisionCaller => ({
  kind: "service",
  scopes,
  orgId,
  permissions: scopeSet(scopes),
});

describe("embed provisioning policy (SPEC §9)", () => {
  it.each([
    ["root with orgs:provision, new organisation", root(["orgs:provision"]), null, true],
    ["root with orgs:provision, any organisation", root(["orgs:provision"]), "org_b", true],
    ["root without orgs:provision", root(["instance:admin", "tokens:verify"]), null, false],
    ["service with members:write, own organisation", service(["members:write"]), "org_a", true],
    ["service with members:*, own organisation", service(["members:*"]), "org_a", true],
    ["service with members:write, another organisation", service(["members:write"]), "org_b", false],
    ["service with members:write, a new organisation", service(["members:write"]), null, false],
    ["service without members:write", service(["members:read", "tokens:*"]), "org_a", false],
    ["personal token", { ...service(["members:write"]), kind: "personal" as const }, "org_a", false],
    ["signed-in person", { kind: "user" as const, scopes: [], orgId: null, permissions: GRANTS_NOTHING }, "org_a", false],
  ])("%s", (_name, caller, target, allowed) => {
    expect(decideEmbedProvision(caller, target).allowed).toBe(allowed);
  });

  it("a service token grants at most admin, and only roles whose permissions it holds; root grants any", () => {
    const catalogue = [...MANAGEMENT_SCOPE_NAMES, "messages:send"];
    const full = provisioningActor(service([...catalogue]));
    const narrow = provisioningActor(service(["members:write", "tokens:read", "tokens:write", "org:read", "members:read"]));
    const rootActor = provisioningActor(root(["orgs:provision"]));
    expect(decideRoleChange(full, { from: null, to: "admin" }, catalogue).allowed).toBe(true);
    expect(decideRoleChange(full, { from: null, to: "owner" }, catalogue).allowed).toBe(false);
    expect(decideRoleChange(full, { from: "owner", to: "member" }, catalogue).allowed).toBe(false);
    expect(decideRoleChange(narrow, { from: null, to: "member" }, catalogue).allowed).toBe(false);
    expect(decideRoleChange(narrow, { from: null, to: "viewer" }, catalogue).allowed).toBe(true);
    expect(decideRoleChange(rootActor, { from: "owner", to: "viewer" }, catalogue).allowed).toBe(true);
  });

  it("renames need org:write; a person's profile is the service token's only while they belong nowhere else", () => {
    expect(decideProvisionRename(provisioningActor(service(["members:write"]))).allowed).toBe(false);
    expect(decideProvisionRename(provisioningActor(service(["members:write", "org:write"]))).allowed).toBe(true);
    expect(decideProvisionRename(provisioningActor(root(["orgs:provision"]))).allowed).toBe(true);
    expect(decideProvisionProfile(provisioningActor(service(["members:write"])), 0).allowed).toBe(true);
    expect(decideProvisionProfile(provisioningActor(service(["members:write"])), 1).allowed).toBe(false);
    expect(decideProvisionProfile(provisioningActor(root(["orgs:provision"])), 3).allowed).toBe(true);
  });
});
