import type { OrgSettings, Role, Scope, TokenStatus, TokenView } from "../api/types";

/**
 * What the UI offers each role. It mirrors SPEC §2 so that the console never offers
 * what the API would refuse; the server stays the authority.
 */
export const can = {
  /** Viewers never; members only while the organisation's `membersCanSeeTokens` is not off (SPEC §7). */
  seeTokens: (role: Role, settings?: OrgSettings) =>
    role !== "viewer" && !(role === "member" && settings?.membersCanSeeTokens === false),
  createTokens: (role: Role, settings: OrgSettings) =>
    role === "owner" || role === "admin" || (role === "member" && settings.membersCanCreateTokens),
  /** Service tokens and `issuedFor` are for owners and admins only. */
  chooseKind: (role: Role) => role === "owner" || role === "admin",
  seeAllTokens: (role: Role) => role === "owner" || role === "admin",
  seeMembers: (role: Role) => role !== "viewer",
  manageMembers: (role: Role) => role === "owner" || role === "admin",
  editSettings: (role: Role) => role === "owner" || role === "admin",
  readAudit: (role: Role) => role === "owner" || role === "admin",
  /** Admins cannot change or remove an owner. */
  manageMember: (actor: Role, target: Role) => actor === "owner" || (actor === "admin" && target !== "owner"),
  /**
   * Regenerating hands over the token's authority (SPEC §2): a personal token only by its owner (admins may
   * revoke or narrow it, never take its secret), a service token by owners and admins (who hold every
   * scope); members not at all while the organisation keeps token creation to owners and admins.
   */
  regenerate: (role: Role, userId: string | null, token: Pick<TokenView, "kind" | "ownerId">, settings: OrgSettings) => {
    if (role === "member" && !settings.membersCanCreateTokens) return false;
    if (token.kind === "personal") return userId !== null && token.ownerId === userId;
    return role === "owner" || role === "admin";
  },
  /** Editing (PATCH) applies to any token the role sees, until it is revoked. */
  edit: (token: Pick<TokenView, "status">) => token.status !== "revoked",
  /**
   * Adding scopes hands over authority (SPEC §2): to a personal token only by its owner; to a service
   * token by owners and admins. Narrowing is open to whoever may edit.
   */
  addScopes: (role: Role, userId: string | null, token: Pick<TokenView, "kind" | "ownerId">) =>
    token.kind === "personal" ? userId !== null && token.ownerId === userId : role === "owner" || role === "admin",
  /** A later expiry (or "never") needs the right to create tokens; shortening is always allowed. */
  extendExpiry: (role: Role, settings: OrgSettings) =>
    role === "owner" || role === "admin" || (role === "member" && settings.membersCanCreateTokens),
  assignableRoles: (actor: Role): Role[] =>
    actor === "owner" ? ["owner", "admin", "member", "viewer"] : actor === "admin" ? ["admin", "member", "viewer"] : [],
};

const MEMBER_MANAGEMENT_SCOPES = new Set(["tokens:read", "tokens:write", "org:read", "members:read"]);

/** The scopes of the catalogue a user of `role` may put on a new token (SPEC §2 roles table). */
export function grantableScopes(role: Role, catalogue: Scope[]): Scope[] {
  switch (role) {
    case "owner":
    case "admin":
      return catalogue;
    case "member":
      return catalogue.filter((s) => s.kind === "product" || MEMBER_MANAGEMENT_SCOPES.has(s.name));
    default:
      return [];
  }
}

export type RowAction = "regenerate" | "deactivate" | "activate" | "suspend" | "resume" | "revoke";

/** Actions legal from `status` (SPEC §2 transitions), in display order. */
export function legalActions(status: TokenStatus): RowAction[] {
  switch (status) {
    case "active":
      return ["regenerate", "deactivate", "suspend", "revoke"];
    case "inactive":
      return ["regenerate", "activate", "suspend", "revoke"];
    case "suspended":
      return ["regenerate", "resume", "revoke"];
    case "expired":
      return ["regenerate", "revoke"];
    case "revoked":
      return [];
  }
}

/** Revoke is blocked (but explained) when the organisation requires suspension first. */
export function revokeNeedsSuspension(token: Pick<TokenView, "status">, settings: OrgSettings): boolean {
  return settings.revokeRequiresSuspension && token.status !== "suspended" && token.status !== "revoked";
}
