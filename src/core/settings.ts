import { type NamedRateLimit, validateRateLimits } from "./limits.js";
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
  /**
   * Days before expiry at which `token.expiring` is sent, once per token and value (SPEC §10); [] = none.
   * At most `MAX_EXPIRY_NOTICES` distinct values, each 1–`MAX_EXPIRY_DAYS`.
   */
  expiryNoticeDays: number[];
  /** A token not used (or never used) for this many days gets one `token.stale` notice; null = off. */
  staleAfterDays: number | null;
  /** A token not used (or never used) for this many days is deactivated by the system; null = off. */
  autoDeactivateUnusedDays: number | null;
  /** What a confirmed leak (SPEC §11) does to the token besides marking and auditing it. */
  onLeak: OnLeak;
  /**
   * Limits shared by all the organisation's tokens (a customer's plan quota), applied at every
   * verification besides each token's own and answered as `org:<name>`. Empty: none.
   */
  rateLimits: NamedRateLimit[];
}

export const ON_LEAK = ["revoke", "suspend", "notify"] as const;
export type OnLeak = (typeof ON_LEAK)[number];

/** Distinct `expiryNoticeDays` values an organisation may set. */
export const MAX_EXPIRY_NOTICES = 5;

export const DEFAULT_ORG_SETTINGS: OrgSettings = {
  tokenPrefix: DEFAULT_TOKEN_PREFIX,
  defaultExpiryDays: null,
  maxExpiryDays: null,
  requireExpiry: false,
  membersCanCreateTokens: true,
  revokeRequiresSuspension: false,
  membersCanSeeTokens: true,
  auditRetentionDays: null,
  expiryNoticeDays: [7, 1],
  staleAfterDays: null,
  autoDeactivateUnusedDays: null,
  onLeak: "revoke",
  rateLimits: [],
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
  const notices = s.expiryNoticeDays;
  if (
    !Array.isArray(notices) ||
    notices.length > MAX_EXPIRY_NOTICES ||
    new Set(notices).size !== notices.length ||
    !notices.every((d) => Number.isInteger(d) && d >= 1 && d <= MAX_EXPIRY_DAYS)
  ) {
    errors.push({
      field: "expiryNoticeDays",
      message: `must be at most ${MAX_EXPIRY_NOTICES} distinct whole numbers of days from 1 to ${MAX_EXPIRY_DAYS}`,
    });
  }
  for (const field of ["staleAfterDays", "autoDeactivateUnusedDays"] as const) {
    const days = s[field];
    if (days !== null && !(Number.isInteger(days) && days >= 1 && days <= MAX_EXPIRY_DAYS)) {
      errors.push({ field, message: `must be a whole number of days from 1 to ${MAX_EXPIRY_DAYS}, or null` });
    }
  }
  if (!ON_LEAK.includes(s.onLeak)) errors.push({ field: "onLeak", message: `must be one of ${ON_LEAK.join(", ")}` });
  errors.push(...validateRateLimits(s.rateLimits ?? [], "rateLimits"));
  return errors;
}

/** The settings with `expiryNoticeDays` in descending order (7 before 1), as stored and shown. */
export function normaliseSettings(s: OrgSettings): OrgSettings {
  return { ...s, expiryNoticeDays: [...s.expiryNoticeDays].sort((a, b) => b - a) };
}
