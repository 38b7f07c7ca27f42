import { GRANTS_EVERYTHING, isManagementScope, type PermissionSet } from "./scopes.js";

export const ROLES = ["owner", "admin", "member", "viewer"] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === "string" && (ROLES as readonly string[]).includes(value);
}

const MEMBER_MANAGEMENT = new Set(["tokens:read", "tokens:write", "org:read", "members:read"]);

const MEMBER: PermissionSet = {
  grants(scope) {
    if (!isManagementScope(scope)) return true;
    return MEMBER_MANAGEMENT.has(scope);
  },
};

const VIEWER: PermissionSet = { grants: (scope) => scope === "org:read" };

/**
 * SPEC §2 role table. owner/admin: every management and product scope; member: four management
 * scopes (token writes limited to their own personal tokens, enforced by the services) and every
 * product scope; viewer: `org:read` only.
 */
export function rolePermissions(role: Role): PermissionSet {
  switch (role) {
    case "owner":
    case "admin":
      return GRANTS_EVERYTHING;
    case "member":
      return MEMBER;
    case "viewer":
      return VIEWER;
  }
}

/** Whether the role sees every token of the organisation (otherwise only the holder's own). */
export function seesAllTokens(role: Role): boolean {
  return role === "owner" || role === "admin";
}

/** Whether `actor` may change or remove a member whose role is `target`, or give someone `newRole`. */
export function mayManageRole(actor: Role, target: Role, newRole?: Role): boolean {
  if (actor === "owner") return true;
  if (actor !== "admin") return false;
  return target !== "owner" && newRole !== "owner";
}
