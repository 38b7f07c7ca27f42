import { compileAllowlist } from "./ip.js";
import { type Role, rolePermissions } from "./roles.js";
import { effectiveScopes, intersect, MANAGEMENT_SCOPE_NAMES, type PermissionSet, scopeSet } from "./scopes.js";
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
] as const;
export type VerifyCode = (typeof VERIFY_CODES)[number];

/** The owner of a personal token as it stands now: their role in the token's organisation, if any. */
export interface OwnerState {
  role: Role | null;
  disabled: boolean;
}

export interface EvaluationInput {
  token: TokenRecord;
  /** When the presented secret stops working (a previous secret in its grace period), else null. */
  secretExpiresAt: number | null;
  owner: OwnerState | null;
  now: number;
  ip?: string | null | undefined;
  requiredScopes?: readonly string[] | undefined;
}

export interface Evaluation {
  code: Exclude<VerifyCode, "MALFORMED" | "RATE_LIMITED">;
  permissions: PermissionSet;
  /** The scopes the token may use now (personal tokens: ∩ the owner's current role). */
  scopes: string[];
}

/** The permissions a token carries now: its scopes, and for personal tokens ∩ its owner's current role. */
export function tokenPermissions(token: TokenRecord, owner: OwnerState | null): PermissionSet {
  const own = scopeSet(token.scopes);
  if (token.kind !== "personal") return own;
  if (!owner || owner.disabled || owner.role === null) return { grants: () => false };
  return intersect(own, rolePermissions(owner.role));
}

/**
 * Everything verification decides from a token already found: status, owner, IP allowlist, scopes.
 * Rate limiting and usage are the verifier's (they hold state). Pure: the same input, the same answer.
 */
export function evaluateToken(input: EvaluationInput): Evaluation {
  const { token, owner, now } = input;
  const permissions = tokenPermissions(token, owner);
  const result = (code: Evaluation["code"]): Evaluation => ({
    code,
    permissions,
    scopes:
      code === "VALID" || code === "INSUFFICIENT_SCOPE" ? effectiveScopes(token.scopes, permissions, MANAGEMENT_SCOPE_NAMES) : [],
  });
  if (input.secretExpiresAt !== null && input.secretExpiresAt <= now) return result("NOT_FOUND");
  switch (deriveStatus(token, now)) {
    case "revoked":
      return result("REVOKED");
    case "suspended":
      return result("SUSPENDED");
    case "inactive":
      return result("INACTIVE");
    case "expired":
      return result("EXPIRED");
    case "active":
      break;
  }
  if (token.kind === "personal" && (!owner || owner.disabled || owner.role === null)) return result("OWNER_DISABLED");
  if (token.allowedIps.length > 0 && !compileAllowlist(token.allowedIps).allows(input.ip)) return result("IP_NOT_ALLOWED");
  for (const scope of input.requiredScopes ?? []) {
    if (!permissions.grants(scope)) return result("INSUFFICIENT_SCOPE");
  }
  return result("VALID");
}
