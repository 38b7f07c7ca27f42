import { compileAllowlist, type IpAllowlist } from "./ip.js";
import { type CreditSpec, type LimitSpec, limitSpecs, type NamedRateLimit } from "./limits.js";
import { type Role, rolePermissions } from "./roles.js";
import { effectiveScopes, GRANTS_NOTHING, intersect, MANAGEMENT_SCOPE_NAMES, type PermissionSet, scopeSet } from "./scopes.js";
import { deriveStatus } from "./status.js";
import type { TokenRecord } from "./tokens.js";

/** SPEC §5 verification codes. */
export const VERIFY_CODES = [
  "VALID",
  "MALFORMED",
  "NOT_FOUND",
  "EXPIRED",
  "INACTIVE",
  "SUSPENDED",
  "REVOKED",
  "OWNER_DISABLED",
  "INSUFFICIENT_SCOPE",
  "IP_NOT_ALLOWED",
  "RATE_LIMITED",
  "USAGE_EXCEEDED",
] as const;
export type VerifyCode = (typeof VERIFY_CODES)[number];

/** The owner of a personal token as it stands now: their role in the token's organisation, if any. */
export interface OwnerState {
  role: Role | null;
  disabled: boolean;
}

/**
 * What verification needs of a found token, computed once and cacheable: its permissions now, the
 * scopes it may use, its compiled IP allowlist. Recomputed whenever the token or its owner changes.
 */
export interface PreparedToken {
  token: TokenRecord;
  owner: OwnerState | null;
  permissions: PermissionSet;
  /** The scopes the token may use now (personal tokens: ∩ the owner's current role). */
  scopes: string[];
  allowlist: IpAllowlist;
  /** The token's limits and its organisation's (empty: none). */
  limits: LimitSpec[];
  credits: CreditSpec | null;
}

export function prepareToken(
  token: TokenRecord,
  owner: OwnerState | null,
  orgLimits: readonly NamedRateLimit[] = [],
): PreparedToken {
  const permissions = tokenPermissions(token, owner);
  return {
    token,
    owner,
    permissions,
    scopes: effectiveScopes(token.scopes, permissions, MANAGEMENT_SCOPE_NAMES),
    allowlist: compileAllowlist(token.allowedIps),
    ...limitSpecs(token, orgLimits),
  };
}

export type EvaluationCode = Exclude<VerifyCode, "MALFORMED" | "RATE_LIMITED" | "USAGE_EXCEEDED">;

/** The permissions a token carries now: its scopes, and for personal tokens ∩ its owner's current role. */
export function tokenPermissions(token: TokenRecord, owner: OwnerState | null): PermissionSet {
  const own = scopeSet(token.scopes);
  if (token.kind !== "personal") return own;
  if (!owner || owner.disabled || owner.role === null) return GRANTS_NOTHING;
  return intersect(own, rolePermissions(owner.role));
}

/**
 * Everything verification decides from a token already found: the presented secret's own expiry,
 * status, owner, IP allowlist, scopes. Rate limiting and usage are the verifier's (they hold state).
 * Pure: the same input, the same answer.
 */
export function evaluateToken(
  prepared: PreparedToken,
  /** When the presented secret stops working (a previous secret in its grace period), else null. */
  secretExpiresAt: number | null,
  now: number,
  ip: string | null | undefined,
  requiredScopes: readonly string[] | undefined,
): EvaluationCode {
  const { token, owner } = prepared;
  if (secretExpiresAt !== null && secretExpiresAt <= now) return "NOT_FOUND";
  switch (deriveStatus(token, now)) {
    case "revoked":
      return "REVOKED";
    case "suspended":
      return "SUSPENDED";
    case "inactive":
      return "INACTIVE";
    case "expired":
      return "EXPIRED";
    case "active":
      break;
  }
  if (token.kind === "personal" && (!owner || owner.disabled || owner.role === null)) return "OWNER_DISABLED";
  if (token.allowedIps.length > 0 && !prepared.allowlist.allows(ip)) return "IP_NOT_ALLOWED";
  if (requiredScopes) {
    for (const scope of requiredScopes) if (!prepared.permissions.grants(scope)) return "INSUFFICIENT_SCOPE";
  }
  return "VALID";
}
