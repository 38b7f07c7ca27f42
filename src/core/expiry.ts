import type { FieldError, OrgSettings } from "./settings.js";

export const DAY_MS = 24 * 3600 * 1000;

export interface ExpiryInput {
  /** ISO 8601 date-time; null asks for "never". */
  expiresAt?: string | null | undefined;
  /** A preset such as 30, 90 or 365 days from now. */
  expiresInDays?: number | null | undefined;
}

export type ExpiryResult = { ok: true; expiresAt: number | null } | { ok: false; error: FieldError };

/**
 * Resolves a requested expiry against the organisation's policy: nothing asked → the default;
 * past dates, "never" under `requireExpiry` and dates beyond `maxExpiryDays` are refused.
 */
export function resolveExpiry(input: ExpiryInput, policy: OrgSettings, now: number): ExpiryResult {
  const fail = (field: string, message: string): ExpiryResult => ({ ok: false, error: { field, message } });
  const hasAt = input.expiresAt !== undefined;
  const hasDays = input.expiresInDays !== undefined && input.expiresInDays !== null;
  if (hasAt && input.expiresAt !== null && hasDays) {
    return fail("expiresAt", "give either expiresAt or expiresInDays, not both");
  }
  let expiresAt: number | null;
  let field = "expiresAt";
  if (hasDays) {
    field = "expiresInDays";
    expiresAt = now + (input.expiresInDays as number) * DAY_MS;
  } else if (hasAt && input.expiresAt !== null) {
    expiresAt = Date.parse(input.expiresAt as string);
    if (Number.isNaN(expiresAt)) return fail("expiresAt", "must be an ISO 8601 date-time");
  } else if (hasAt) {
    expiresAt = null;
  } else {
    expiresAt = policy.defaultExpiryDays === null ? null : now + policy.defaultExpiryDays * DAY_MS;
  }
  if (expiresAt === null) {
    return policy.requireExpiry ? fail(field, "this organisation requires tokens to expire") : { ok: true, expiresAt };
  }
  if (expiresAt <= now) return fail(field, "must be in the future");
  if (policy.maxExpiryDays !== null && expiresAt > now + policy.maxExpiryDays * DAY_MS) {
    return fail(field, `must be at most ${policy.maxExpiryDays} days from now (the organisation's limit)`);
  }
  return { ok: true, expiresAt };
}
