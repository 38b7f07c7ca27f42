import { DEFAULT_TOKEN_PREFIX } from "./token-format.js";

/** An organisation's token policy (SPEC §4). */
export interface OrgSettings {
  /** 2–8 lowercase letters that start every new token of the organisation. */
  tokenPrefix: string;
  /** Expiry applied when a create request names none; null = never. */
  defaultExpiryDays: number | null;
  /** Longest lifetime a token may be given; null = unbounded. */
  maxExpiryDays: number | null;
  /** Tokens must have an expiry ("never" is not offered). */
  requireExpiry: boolean;
  /** Members (not only owners/admins) may create personal tokens. */
  membersCanCreateTokens: boolean;
  /** A token must be suspended before it can be revoked (a two-step, reviewable revocation). */
  revokeRequiresSuspension: boolean;
  /** Members see the API tokens screen (their own tokens); off: only owners and admins see any token. */
  membersCanSeeTokens: boolean;
  /**
   * Audit events older than this many days are pruned by the retention job; null keeps them forever
   * (the default). Instance-level events have their own instance-wide period.
   */
  auditRetentionDays: number | null;
}

export const DEFAULT_ORG_SETTINGS: OrgSettings = {
  tokenPrefix: DEFAULT_TOKEN_PREFIX,
  defaultExpiryDays: null,
  maxExpiryDays: null,
  requireExpiry: false,
  membersCanCreateTokens: true,
  revokeRequiresSuspension: false,
  membersCanSeeTokens: true,
  auditRetentionDays: null,
};

/** Ten years: the upper bound of any expiry setting. */
export const MAX_EXPIRY_DAYS = 3650;

/** A hundred years: the upper bound of `auditRetentionDays` (past it, null says "forever" honestly). */
export const MAX_AUDIT_RETENTION_DAYS = 36_500;

export interface FieldError {
  field: string;
  message: string;
}

/** Cross-field checks that a schema cannot express. */
export function validateSettings(s: OrgSettings): FieldError[] {
  const errors: FieldError[] = [];
  if (s.defaultExpiryDays !== null && s.maxExpiryDays !== null && s.defaultExpiryDays > s.maxExpiryDays) {
    errors.push({ field: "defaultExpiryDays", message: "must not exceed maxExpiryDays" });
  }
  const retention = s.auditRetentionDays;
  if (retention !== null && !(Number.isInteger(retention) && retention >= 1 && retention <= MAX_AUDIT_RETENTION_DAYS)) {
    errors.push({
      field: "auditRetentionDays",
      message: `must be a whole number of days from 1 to ${MAX_AUDIT_RETENTION_DAYS}, or null`,
    });
  }
  return errors;
}
