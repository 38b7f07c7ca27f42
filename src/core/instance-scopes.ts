/**
 * Root (instance) tokens carry instance scopes, not organisation scopes (SPEC §2). The list is closed:
 * anything else is refused when a root token is made, and ignored (grants nothing) if found in storage.
 */
export const INSTANCE_SCOPES = [
  {
    name: "instance:admin",
    description: "Every management operation in every organisation, root tokens included",
  },
  { name: "tokens:verify", description: "POST /v1/verify for any organisation" },
  { name: "orgs:provision", description: "Signed embed sessions that provision organisations (SPEC §9)" },
] as const;

export type InstanceScope = (typeof INSTANCE_SCOPES)[number]["name"];

export const INSTANCE_SCOPE_NAMES: readonly InstanceScope[] = INSTANCE_SCOPES.map((s) => s.name);

export function isInstanceScope(value: string): value is InstanceScope {
  return (INSTANCE_SCOPE_NAMES as readonly string[]).includes(value);
}

/** The requested scopes that are not instance scopes (exact names only: no wildcards at instance level). */
export function unknownInstanceScopes(requested: readonly string[]): string[] {
  return requested.filter((s) => !isInstanceScope(s));
}

/** Whether a root token's scope list holds `scope` (exact match: instance scopes have no wildcards). */
export function holdsInstanceScope(scopes: readonly string[], scope: InstanceScope): boolean {
  return scopes.includes(scope);
}
