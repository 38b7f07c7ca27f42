/**
 * Scopes are `resource:action` strings; `resource:*` grants every action of the resource.
 * The catalogue is Tessera's management scopes plus the operator's product scopes.
 */
export interface ScopeDefinition {
  name: string;
  description: string;
}

export const MANAGEMENT_SCOPES: readonly ScopeDefinition[] = [
  { name: "tokens:read", description: "List and read API tokens" },
  { name: "tokens:write", description: "Create, edit, rotate, suspend and revoke API tokens" },
  { name: "tokens:verify", description: "Verify API tokens" },
  { name: "members:read", description: "List the organisation's members" },
  { name: "members:write", description: "Add, change and remove members" },
  { name: "audit:read", description: "Read the audit log" },
  { name: "org:read", description: "Read the organisation and its settings" },
  { name: "org:write", description: "Change the organisation's settings and scope catalogue" },
  { name: "webhooks:read", description: "List webhook endpoints and their deliveries" },
  { name: "webhooks:write", description: "Create, change, test and delete webhook endpoints; retry deliveries" },
];

export const MANAGEMENT_SCOPE_NAMES: readonly string[] = MANAGEMENT_SCOPES.map((s) => s.name);
/** Resources reserved for Tessera itself: product scopes may not use them. */
export const MANAGEMENT_RESOURCES: ReadonlySet<string> = new Set(MANAGEMENT_SCOPE_NAMES.map(resourceOf));

/** 1–64 chars of lowercase letters, digits, `_`, `-`, `.` on each side of the colon; action may be `*`. */
export const SCOPE_RE = /^[a-z][a-z0-9_.-]{0,63}:([a-z][a-z0-9_.-]{0,63}|\*)$/;
export const MAX_SCOPES_PER_TOKEN = 100;

export function resourceOf(scope: string): string {
  return scope.slice(0, scope.indexOf(":"));
}

export function isWildcard(scope: string): boolean {
  return scope.endsWith(":*");
}

export function isManagementScope(scope: string): boolean {
  return MANAGEMENT_RESOURCES.has(resourceOf(scope));
}

/** Something that may or may not grant a scope; `res:*` asks for every action of `res`. */
export interface PermissionSet {
  grants(scope: string): boolean;
}

/**
 * Permission sets by scope list. Tokens share a handful of scope lists, and the verifier's cache holds
 * one prepared token per secret: one set per list instead of one per token saves a Set and a closure
 * per cached token. Sets are immutable, so sharing is safe; the table is bounded (cleared when full).
 */
const SHARED_SETS = new Map<string, PermissionSet>();
const MAX_SHARED_SETS = 4096;

/** The permission set of a list of granted scopes (which may contain wildcards). */
export function scopeSet(scopes: readonly string[]): PermissionSet {
  const key = JSON.stringify(scopes); // unambiguous whatever the strings hold
  let set = SHARED_SETS.get(key);
  if (set === undefined) {
    if (SHARED_SETS.size >= MAX_SHARED_SETS) SHARED_SETS.clear();
    set = newScopeSet(scopes);
    SHARED_SETS.set(key, set);
  }
  return set;
}

function newScopeSet(scopes: readonly string[]): PermissionSet {
  const exact = new Set(scopes);
  return {
    grants(scope) {
      if (exact.has(scope)) return true;
      return exact.has(`${resourceOf(scope)}:*`);
    },
  };
}

/** What both sets grant: a personal token is its scopes ∩ its owner's current role. */
export function intersect(a: PermissionSet, b: PermissionSet): PermissionSet {
  return { grants: (scope) => a.grants(scope) && b.grants(scope) };
}

export const GRANTS_EVERYTHING: PermissionSet = { grants: () => true };
export const GRANTS_NOTHING: PermissionSet = { grants: () => false };

/** The scopes of `requested` that the catalogue does not know (a wildcard is known if its resource is). */
export function unknownScopes(requested: readonly string[], catalogue: readonly string[]): string[] {
  const names = new Set(catalogue);
  const resources = new Set(catalogue.map(resourceOf));
  return requested.filter((s) => {
    if (!SCOPE_RE.test(s)) return true;
    return isWildcard(s) ? !resources.has(resourceOf(s)) : !names.has(s);
  });
}

/**
 * The concrete scopes a holder of `granted` may use now, for display and for the verify response:
 * scopes the permission set grants whole are kept as written; a wildcard it grants only in part is
 * expanded to the catalogue actions it does grant; the rest is dropped.
 */
export function effectiveScopes(granted: readonly string[], permissions: PermissionSet, catalogue: readonly string[]): string[] {
  const out = new Set<string>();
  for (const scope of granted) {
    if (permissions.grants(scope)) {
      out.add(scope);
    } else if (isWildcard(scope)) {
      const resource = resourceOf(scope);
      for (const c of catalogue) if (resourceOf(c) === resource && permissions.grants(c)) out.add(c);
    }
  }
  return [...out];
}

/** Every catalogue scope (no wildcards) that `permissions` grants: the default scopes of a new token. */
export function grantableScopes(permissions: PermissionSet, catalogue: readonly string[]): string[] {
  return catalogue.filter((s) => permissions.grants(s));
}
