import { holdsInstanceScope } from "./instance-scopes.js";
import { mayManageRole, type Role, rolePermissions } from "./roles.js";
import { type PermissionSet, scopeSet, unknownScopes } from "./scopes.js";
import type { Transition } from "./status.js";
import type { TokenKind } from "./tokens.js";

/**
 * Who may do what (SPEC §2, "Authority never grows"): the one place the rules live. Pure functions of
 * the actor, the target and the action, each returning a {@link Decision} with its reason; services ask
 * before they act and turn a refusal into an error (`services/authority.ts`). No I/O: what a decision
 * needs (the catalogue, the organisation's settings, the locked token row) is passed in.
 *
 * The invariant every rule serves: no request hands anyone a secret, a scope or a role that the caller
 * could not have granted itself.
 */

/** Who is acting, as the policy sees it (built from the request's access by `services/actor.ts`). */
export interface PolicyActor {
  /**
   * `person`: a signed-in user, or one of their personal tokens (then `permissions` is the token's scopes
   * ∩ the person's role); `service`: an organisation's service token; `root`: an instance token holding
   * `instance:admin` (acts as an owner); `system`: the CLI on the server (acts as an owner).
   */
  kind: "person" | "service" | "root" | "system";
  /** The person behind the request (session user or personal token owner); null otherwise. */
  personId: string | null;
  /** The person's role in the organisation; null for non-person actors. */
  role: Role | null;
  /** Everything the actor may do in the organisation now. */
  permissions: PermissionSet;
  /** Owners, admins and organisation-level tokens see every token; members only their own. */
  seesAllTokens: boolean;
}

/** What the policy needs of a token: never its secret. */
export interface PolicyToken {
  kind: TokenKind;
  ownerId: string | null;
  scopes: readonly string[];
}

export type RefusalCode = "forbidden" | "not_found" | "validation_failed";

export type Refusal = {
  allowed: false;
  code: RefusalCode;
  /** A sentence safe to show the caller. */
  reason: string;
  /** For `validation_failed`: the request field at fault. */
  field?: string;
  /** For `forbidden`: the one permission whose absence decided it (RFC 6750 `scope`). */
  missingScope?: string;
};

export type Decision = { allowed: true } | Refusal;

export const ALLOW: Decision = Object.freeze({ allowed: true });

function forbid(reason: string, missingScope?: string): Refusal {
  return missingScope === undefined
    ? { allowed: false, code: "forbidden", reason }
    : { allowed: false, code: "forbidden", reason, missingScope };
}

function invalid(field: string, reason: string): Refusal {
  return { allowed: false, code: "validation_failed", reason, field };
}

const NOT_FOUND: Refusal = Object.freeze({ allowed: false, code: "not_found", reason: "No such token" }) as Refusal;

/** The first of `scopes` the permission set does not grant (wildcards must be granted whole). */
export function firstMissing(permissions: PermissionSet, scopes: readonly string[]): string | undefined {
  return scopes.find((s) => !permissions.grants(s));
}

/** Whether `permissions` grants every one of `scopes`. */
export function covers(permissions: PermissionSet, scopes: readonly string[]): boolean {
  return firstMissing(permissions, scopes) === undefined;
}

function requirePermission(actor: PolicyActor, scope: string): Decision {
  return actor.permissions.grants(scope) ? ALLOW : forbid(`This action needs the ${scope} permission`, scope);
}

/** Whether the actor may see the token at all (otherwise it is 404 to them, never 403). */
export function decideSeeToken(actor: PolicyActor, token: PolicyToken): Decision {
  if (actor.seesAllTokens) return ALLOW;
  if (token.ownerId !== null && token.ownerId === actor.personId) return ALLOW;
  return NOT_FOUND;
}

/** Any change to a token (edit, transition, regenerate) starts here: tokens:write, then visibility. */
function decideTouch(actor: PolicyActor, token: PolicyToken): Decision {
  const scope = requirePermission(actor, "tokens:write");
  if (!scope.allowed) return scope;
  return decideSeeToken(actor, token);
}

/** The organisation settings the rules read (a subset of `OrgSettings`). */
export interface PolicySettings {
  membersCanCreateTokens: boolean;
  /** Off: members are kept off the API tokens screen and API, like viewers (absent = on). */
  membersCanSeeTokens?: boolean | undefined;
  /** Longest lifetime a token may be given (days from now); null = unbounded. */
  maxExpiryDays?: number | null | undefined;
  /** "Never" is not an expiry the organisation allows. */
  requireExpiry?: boolean | undefined;
}

/**
 * The API tokens screen and every token endpoint: closed to members while the organisation's
 * `membersCanSeeTokens` is off (SPEC §7), whatever their tokens:read permission says.
 */
export function decideTokensAccess(actor: PolicyActor, settings: PolicySettings): Decision {
  if (actor.role === "member" && settings.membersCanSeeTokens === false) {
    return forbid("This organisation shows API tokens to owners and admins only");
  }
  return ALLOW;
}

const DAY_MS = 86_400_000;

/** An expiry change: `current` and `requested` in epoch ms, null = never. */
export interface ExpiryChange {
  current: number | null;
  requested: number | null;
  now: number;
}

/**
 * Changing a token's expiry (SPEC §4): shortening (an earlier time, or any time when it never expired)
 * is always allowed to whoever may edit the token; extending (a later time, or "never") only within the
 * organisation's policy (`requireExpiry`, `maxExpiryDays` counted from now), and by a member only while
 * members may create tokens — an extension is a new lifetime, as a regeneration would give. Past times
 * are refused either way.
 */
export function decideExpiryChange(
  actor: PolicyActor,
  token: PolicyToken,
  change: ExpiryChange,
  settings: PolicySettings,
): Decision {
  const touch = decideTouch(actor, token);
  if (!touch.allowed) return touch;
  const { current, requested, now } = change;
  if (requested !== null && requested <= now) return invalid("expiresAt", "must be in the future");
  const shortening = requested !== null && (current === null || requested <= current);
  if (shortening) return ALLOW;
  if (requested === null && settings.requireExpiry) {
    return invalid("expiresAt", "this organisation requires every token to expire");
  }
  const max = settings.maxExpiryDays ?? null;
  if (max !== null && (requested === null || requested > now + max * DAY_MS)) {
    return invalid("expiresAt", `may be extended to at most ${max} days from now (the organisation's maxExpiryDays)`);
  }
  if (actor.role === "member" && !settings.membersCanCreateTokens) {
    return forbid("This organisation lets only owners and admins extend a token's life");
  }
  return ALLOW;
}

export interface CreateTokenRequest {
  kind: TokenKind;
  /** The scopes the new token will hold (the defaults already resolved, duplicates removed). */
  scopes: readonly string[];
}

/**
 * Creating a token: tokens:write; personal tokens only for a person; service tokens only by owners,
 * admins and organisation-level tokens that see every token; members only while the organisation lets
 * them; scopes known to the catalogue and within the creator's own permissions.
 */
export function decideCreateToken(
  actor: PolicyActor,
  request: CreateTokenRequest,
  catalogue: readonly string[],
  settings: PolicySettings,
): Decision {
  const scope = requirePermission(actor, "tokens:write");
  if (!scope.allowed) return scope;
  const screen = decideTokensAccess(actor, settings);
  if (!screen.allowed) return screen;
  if (request.kind === "root") return invalid("kind", "root tokens are made with `tessera root-token create`");
  if (request.kind === "personal" && actor.personId === null) {
    return invalid("kind", "a token acting for no person can only create service tokens");
  }
  if (request.kind === "service" && !actor.seesAllTokens) {
    return forbid("Only owners and admins can create service tokens");
  }
  if (actor.role === "member" && !settings.membersCanCreateTokens) {
    return forbid("This organisation lets only owners and admins create tokens");
  }
  return decideGrantScopes(actor, request.scopes, catalogue);
}

/** Scopes the actor puts into a token: known to the catalogue and granted by the actor's own permissions. */
function decideGrantScopes(actor: PolicyActor, scopes: readonly string[], catalogue: readonly string[]): Decision {
  const unknown = unknownScopes(scopes, catalogue);
  if (unknown.length > 0) return invalid("scopes", `unknown scope(s): ${unknown.map((s) => s.slice(0, 80)).join(", ")}`);
  const beyond = scopes.filter((s) => !actor.permissions.grants(s));
  if (beyond.length > 0) return invalid("scopes", `beyond your own permissions: ${beyond.join(", ")}`);
  return ALLOW;
}

/**
 * Regenerating hands over the token's whole authority, so it needs all of it: tokens:write, sight of the
 * token, every scope the token holds (as stored, wildcards whole), and for a personal token its owner
 * (by session or one of their own tokens); admins may revoke or narrow someone's token, never take its
 * secret. Members cannot regenerate while the organisation does not let them create tokens. Decide it
 * against the row as locked in the regenerating transaction.
 */
export function decideRegenerate(actor: PolicyActor, token: PolicyToken, settings: PolicySettings): Decision {
  const touch = decideTouch(actor, token);
  if (!touch.allowed) return touch;
  if (actor.role === "member" && !settings.membersCanCreateTokens) {
    return forbid("This organisation lets only owners and admins create or regenerate tokens");
  }
  if (token.kind === "root") return forbid("Root tokens are not regenerated through an organisation");
  if (token.kind === "personal" && (token.ownerId === null || token.ownerId !== actor.personId)) {
    return forbid("Only its owner can regenerate a personal token (you may revoke it or narrow its scopes)");
  }
  const missing = firstMissing(actor.permissions, token.scopes);
  if (missing !== undefined) {
    return forbid(`Regenerating needs every scope the token holds; you lack ${missing}`, missing);
  }
  return ALLOW;
}

/** The requested scopes the token does not already grant (what a scope edit would add). */
export function addedScopes(current: readonly string[], requested: readonly string[]): string[] {
  const held = scopeSet(current);
  return [...new Set(requested)].filter((s) => !held.grants(s));
}

/**
 * Editing a token's scopes: whoever may edit the token may narrow it; adding scopes needs the caller to
 * hold them (and the catalogue to know them), and adding to a personal token needs its owner.
 */
export function decideScopeEdit(
  actor: PolicyActor,
  token: PolicyToken,
  requested: readonly string[],
  catalogue: readonly string[],
): Decision {
  const touch = decideTouch(actor, token);
  if (!touch.allowed) return touch;
  const added = addedScopes(token.scopes, requested);
  if (added.length === 0) return ALLOW;
  const unknown = unknownScopes(added, catalogue);
  if (unknown.length > 0) return invalid("scopes", `unknown scope(s): ${unknown.map((s) => s.slice(0, 80)).join(", ")}`);
  if (token.kind === "personal" && (token.ownerId === null || token.ownerId !== actor.personId)) {
    return forbid("Only its owner can add scopes to a personal token (you may narrow it)");
  }
  return decideGrantScopes(actor, added, catalogue);
}

/** Editing anything else (name, description, allowed IPs, limits, metadata): tokens:write and sight of it. */
export function decideTokenEdit(actor: PolicyActor, token: PolicyToken): Decision {
  return decideTouch(actor, token);
}

/**
 * Changing a token's limits or credits: whoever may edit the token may tighten them (lower credits, a
 * smaller or slower limit, a new limit); loosening (more credits, a larger refill, a limit removed,
 * raised or over a shorter window, credits removed) gives the token more use than it had, which a
 * member could otherwise do to the budget an owner or admin set on their own token: only owners,
 * admins and organisation-level callers (service and root tokens, the CLI) may loosen.
 */
export function decideLimitsChange(
  actor: PolicyActor,
  token: PolicyToken,
  loosens: { rateLimits: boolean; credits: boolean },
): Decision {
  const touch = decideTouch(actor, token);
  if (!touch.allowed) return touch;
  if (actor.kind === "person" && actor.role !== "owner" && actor.role !== "admin") {
    if (loosens.credits) return forbid("Only owners and admins may give a token more credits (or remove them)");
    if (loosens.rateLimits) return forbid("Only owners and admins may raise or remove a token's rate limits");
  }
  return ALLOW;
}

/** Deactivate, activate, suspend, resume, revoke: whoever sees the token and holds tokens:write. */
export function decideTransition(actor: PolicyActor, token: PolicyToken, _transition: Transition): Decision {
  return decideTouch(actor, token);
}

/**
 * One decision per token for anything done to a token, so a batch (`POST …/tokens/batch`) asks exactly
 * what the single-token endpoint asks, once per id.
 */
export type TokenAction =
  | { type: "transition"; transition: Transition }
  | { type: "regenerate" }
  | { type: "edit"; scopes?: readonly string[] | undefined };

export interface TokenActionContext {
  catalogue: readonly string[];
  settings: PolicySettings;
}

export function decideTokenAction(
  actor: PolicyActor,
  token: PolicyToken,
  action: TokenAction,
  context: TokenActionContext,
): Decision {
  switch (action.type) {
    case "transition":
      return decideTransition(actor, token, action.transition);
    case "regenerate":
      return decideRegenerate(actor, token, context.settings);
    case "edit":
      return action.scopes === undefined
        ? decideTokenEdit(actor, token)
        : decideScopeEdit(actor, token, action.scopes, context.catalogue);
  }
}

/**
 * The role an actor manages members as: a person their own; root and the CLI as an owner; a service
 * token as an admin (it can never touch an owner).
 */
export function managingRole(actor: PolicyActor): Role | null {
  switch (actor.kind) {
    case "person":
      return actor.role;
    case "root":
    case "system":
      return "owner";
    case "service":
      return "admin";
  }
}

/**
 * A membership change: `from` null = adding someone, `to` null = removing them, both = a role change.
 */
export interface RoleChange {
  from: Role | null;
  to: Role | null;
}

/** The catalogue scopes a role grants that the actor's permissions do not. */
function missingForRole(actor: PolicyActor, role: Role, catalogue: readonly string[]): string | undefined {
  const grants = rolePermissions(role);
  return catalogue.find((s) => grants.grants(s) && !actor.permissions.grants(s));
}

/**
 * Adding, changing or removing a member: members:write; only owners (root and the CLI act as owners)
 * grant or take the owner role, so admins and service tokens cannot change or remove an owner; and the
 * caller must hold every permission (of the catalogue) that the role it grants gives, and that the role
 * it changes or removes gives — nobody hands out, or takes away, a role they could not have granted.
 */
export function decideRoleChange(actor: PolicyActor, change: RoleChange, catalogue: readonly string[]): Decision {
  const scope = requirePermission(actor, "members:write");
  if (!scope.allowed) return scope;
  const as = managingRole(actor);
  if (as === null) return forbid("Only a member of the organisation can manage its members");
  const target = change.from ?? change.to;
  if (target === null) return invalid("role", "a membership change needs a role");
  if (!mayManageRole(as, target, change.to ?? undefined)) {
    if (change.from === null) return forbid("Only an owner can add an owner");
    if (change.to === null) return forbid("Only an owner can remove an owner");
    return forbid("Only an owner can change an owner or make someone an owner");
  }
  for (const role of [change.to, change.from]) {
    if (role === null) continue;
    const missing = missingForRole(actor, role, catalogue);
    if (missing !== undefined) {
      const what = role === change.to ? `Granting the ${role} role` : `Changing or removing a ${role}`;
      return forbid(`${what} needs every permission it grants; you lack ${missing}`, missing);
    }
  }
  return ALLOW;
}

/** The instance's own side: a root token as the policy sees it. */
export interface InstanceCaller {
  kind: "user" | "personal" | "service" | "root" | "system";
  /** The root token's scopes (ignored for other kinds). */
  scopes: readonly string[];
}

/**
 * Listing and revoking root tokens: a root token holding instance:admin, or the CLI. Signed-in users
 * (instance admins included) and organisation tokens may not: root tokens are the operator's, and the
 * operator holds the CLI and a root token; the console has no root-token screen.
 */
export function decideManageRootTokens(caller: InstanceCaller): Decision {
  if (caller.kind === "system") return ALLOW;
  if (caller.kind === "root" && holdsInstanceScope(caller.scopes, "instance:admin")) return ALLOW;
  return forbid("Root tokens are managed with a root token holding instance:admin", "instance:admin");
}

/** Acting in an organisation with a root token needs instance:admin. */
export function decideRootInOrg(scopes: readonly string[]): Decision {
  return holdsInstanceScope(scopes, "instance:admin")
    ? ALLOW
    : forbid("This root token does not hold instance:admin", "instance:admin");
}

/**
 * `POST /v1/verify`: a root token holding tokens:verify (any organisation), or a service token holding
 * tokens:verify (its own organisation only, enforced by the verifier); nobody else.
 */
export function decideVerifyCaller(caller: InstanceCaller): Decision {
  if (caller.kind === "root") {
    return holdsInstanceScope(caller.scopes, "tokens:verify")
      ? ALLOW
      : forbid("This root token does not hold tokens:verify", "tokens:verify");
  }
  if (caller.kind === "service") {
    // On the verification hot path: two lookups, no permission set built.
    return caller.scopes.includes("tokens:verify") || caller.scopes.includes("tokens:*")
      ? ALLOW
      : forbid("This action needs the tokens:verify permission", "tokens:verify");
  }
  return forbid("Verification takes a root token or a service token with tokens:verify", "tokens:verify");
}

/** Who asks for an embed session (SPEC §9): a token, with its organisation (null for root tokens). */
export interface ProvisionCaller extends InstanceCaller {
  orgId: string | null;
  /** For service tokens: what its scopes grant. */
  permissions: PermissionSet;
}

/**
 * Minting an embed session (`POST /v1/embed/sessions`), which upserts a person, an organisation and a
 * membership: a root token holding orgs:provision (any organisation, new ones included), or a service
 * token holding members:write for its own organisation only (`targetOrgId` null = a new organisation).
 * Nobody else: not a console session, not a personal token (the host's backend mints sessions, not a
 * person). What the membership may be is then `decideRoleChange`, with the caller as `provisioningActor`.
 */
export function decideEmbedProvision(caller: ProvisionCaller, targetOrgId: string | null): Decision {
  if (caller.kind === "root") {
    return holdsInstanceScope(caller.scopes, "orgs:provision")
      ? ALLOW
      : forbid("This root token does not hold orgs:provision", "orgs:provision");
  }
  if (caller.kind === "service") {
    if (!caller.permissions.grants("members:write")) {
      return forbid("This action needs the members:write permission", "members:write");
    }
    if (targetOrgId === null || targetOrgId !== caller.orgId) {
      return forbid("A service token provisions only its own organisation");
    }
    return ALLOW;
  }
  return forbid(
    "Embed sessions are minted by the host's backend with a root token holding orgs:provision or a service token holding members:write",
    "orgs:provision",
  );
}

/** The provisioning caller as the member rules see it: a root token acts as an owner, a service token as an admin. */
export function provisioningActor(caller: ProvisionCaller): PolicyActor {
  return {
    kind: caller.kind === "root" ? "root" : "service",
    personId: null,
    role: null,
    permissions: caller.kind === "root" ? { grants: () => true } : caller.permissions,
    seesAllTokens: true,
  };
}

/** Renaming a provisioned organisation to the host's name for it needs org:write (root tokens hold it). */
export function decideProvisionRename(actor: PolicyActor): Decision {
  return requirePermission(actor, "org:write");
}

/**
 * Changing a provisioned person's email or name changes them in every organisation they belong to: a
 * root token may; a service token only while the person belongs to no other organisation.
 */
export function decideProvisionProfile(actor: PolicyActor, membershipsElsewhere: number): Decision {
  if (actor.kind === "root" || membershipsElsewhere === 0) return ALLOW;
  return forbid(
    "This person belongs to other organisations too; only a root token with orgs:provision can change their email or name",
  );
}

/**
 * Webhook endpoints (SPEC §10). Reading needs `webhooks:read`; creating, changing, testing, deleting and
 * retrying need `webhooks:write`. An endpoint receives every token and member event of the organisation,
 * so managing one also needs what those events reveal (authority never grows): seeing every token
 * (`tokens:read` as an owner, admin or organisation-level token) and `members:read`. Members and
 * viewers are refused either way.
 */
export function decideWebhooks(actor: PolicyActor, access: "read" | "write"): Decision {
  const scope = requirePermission(actor, access === "read" ? "webhooks:read" : "webhooks:write");
  if (!scope.allowed) return scope;
  if (access === "read") return actor.seesAllTokens ? ALLOW : forbid("Webhooks are managed by owners and admins");
  if (!actor.seesAllTokens) return forbid("Webhooks are managed by owners and admins");
  return requirePermission(actor, firstMissing(actor.permissions, ["tokens:read", "members:read"]) ?? "webhooks:write");
}
