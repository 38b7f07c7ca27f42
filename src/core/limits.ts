import type { FieldError } from "./settings.js";

/**
 * Named rate limits and credits (SPEC §4, §5): the pure part. Windows are fixed (aligned to the epoch,
 * `floor(now / window) * window`), so every instance computes the same window for the same instant and
 * a window's count is one integer, exact under any interleaving of instances (docs/architecture.md).
 */

/** At most this many named limits per token, and per organisation. */
export const MAX_RATE_LIMITS = 5;
/** The name the single legacy `rateLimit` `{limit, windowSeconds}` takes in `rateLimits`. */
export const DEFAULT_LIMIT_NAME = "default";
export const LIMIT_NAME_PATTERN = "^[a-z0-9][a-z0-9_.-]{0,31}$";
const LIMIT_NAME = new RegExp(LIMIT_NAME_PATTERN);
export const MAX_LIMIT = 1_000_000_000;
export const MAX_WINDOW_SECONDS = 86_400 * 31;
export const MAX_CREDITS = 1_000_000_000_000;

/** At most `limit` units of cost per fixed window of `windowSeconds`. */
export interface NamedRateLimit {
  name: string;
  limit: number;
  windowSeconds: number;
}

export type RefillInterval = "day" | "month";
export const REFILL_INTERVALS: readonly RefillInterval[] = ["day", "month"];

/** Credits refill: at the first use in a new UTC day (month), `remaining` is set to `amount`. */
export interface CreditRefill {
  amount: number;
  interval: RefillInterval;
}

/** A token's credits as stored: the balance last written behind, its refill and bookkeeping. */
export interface TokenCredits {
  remaining: number;
  refill: CreditRefill | null;
  /** Start (epoch ms) of the refill period the balance belongs to; null without refill. */
  refilledAt: number | null;
  /** Bumped by every explicit set (create, PATCH): a balance of an older generation is never written back. */
  gen: number;
  /** The live store's update counter that the stored balance reflects (monotonic within a generation). */
  seq: number;
}

/** What a create or PATCH request may say about credits. */
export interface CreditsInput {
  remaining: number;
  refill?: CreditRefill | null | undefined;
}

/** The legacy single limit and/or the named list → the one list (legacy first, as `default`). */
export function normaliseRateLimits(
  rateLimit: { limit: number; windowSeconds: number } | null | undefined,
  rateLimits: readonly NamedRateLimit[] | null | undefined,
): NamedRateLimit[] | undefined {
  if (rateLimit === undefined && rateLimits === undefined) return undefined;
  const list: NamedRateLimit[] = [];
  if (rateLimit) list.push({ name: DEFAULT_LIMIT_NAME, limit: rateLimit.limit, windowSeconds: rateLimit.windowSeconds });
  for (const l of rateLimits ?? []) list.push({ name: l.name, limit: l.limit, windowSeconds: l.windowSeconds });
  return list;
}

/** Names unique and well formed, at most five, bounds respected; `field` names the request field. */
export function validateRateLimits(limits: readonly NamedRateLimit[], field: string): FieldError[] {
  const errors: FieldError[] = [];
  if (limits.length > MAX_RATE_LIMITS) errors.push({ field, message: `at most ${MAX_RATE_LIMITS} limits` });
  const seen = new Set<string>();
  limits.forEach((l, i) => {
    if (!LIMIT_NAME.test(l.name)) errors.push({ field: `${field}/${i}/name`, message: `must match ${LIMIT_NAME_PATTERN}` });
    if (seen.has(l.name)) errors.push({ field: `${field}/${i}/name`, message: `"${l.name}" is named twice` });
    seen.add(l.name);
    if (!Number.isInteger(l.limit) || l.limit < 1 || l.limit > MAX_LIMIT)
      errors.push({ field: `${field}/${i}/limit`, message: `must be a whole number from 1 to ${MAX_LIMIT}` });
    if (!Number.isInteger(l.windowSeconds) || l.windowSeconds < 1 || l.windowSeconds > MAX_WINDOW_SECONDS)
      errors.push({ field: `${field}/${i}/windowSeconds`, message: `must be a whole number from 1 to ${MAX_WINDOW_SECONDS}` });
  });
  return errors;
}

export function validateCredits(credits: CreditsInput, field: string): FieldError[] {
  const errors: FieldError[] = [];
  if (!Number.isInteger(credits.remaining) || credits.remaining < 0 || credits.remaining > MAX_CREDITS)
    errors.push({ field: `${field}/remaining`, message: `must be a whole number from 0 to ${MAX_CREDITS}` });
  const refill = credits.refill;
  if (refill) {
    if (!Number.isInteger(refill.amount) || refill.amount < 1 || refill.amount > MAX_CREDITS)
      errors.push({ field: `${field}/refill/amount`, message: `must be a whole number from 1 to ${MAX_CREDITS}` });
    if (!REFILL_INTERVALS.includes(refill.interval))
      errors.push({ field: `${field}/refill/interval`, message: "must be day or month" });
  }
  return errors;
}

/** Start (epoch ms) of the UTC day or month containing `now`. */
export function refillPeriodStart(interval: RefillInterval, now: number): number {
  const d = new Date(now);
  return interval === "day"
    ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate())
    : Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

/** The fixed window containing `now`: its start and its length, in ms. */
export function windowOf(windowSeconds: number, now: number): { start: number; ms: number } {
  const ms = windowSeconds * 1000;
  return { start: now - (now % ms), ms };
}

/**
 * Whether `after` gives the token more room than `before`: credits raised (or removed, or a refill added
 * or enlarged or made more frequent), or a rate limit removed, raised or given a shorter window. A
 * member may only tighten what an owner or admin set (core/policy.ts, `decideLimitsChange`).
 */
export function loosensLimits(
  before: { rateLimits: readonly NamedRateLimit[]; credits: TokenCredits | null },
  after: { rateLimits?: readonly NamedRateLimit[] | undefined; credits?: CreditsInput | null | undefined },
): { rateLimits: boolean; credits: boolean } {
  let rateLimits = false;
  if (after.rateLimits !== undefined) {
    for (const old of before.rateLimits) {
      const now = after.rateLimits.find((l) => l.name === old.name);
      // Same limit over a longer window is tighter; per second the rate is limit / windowSeconds.
      if (!now || now.limit > old.limit || now.limit / now.windowSeconds > old.limit / old.windowSeconds) rateLimits = true;
    }
  }
  let credits = false;
  if (after.credits !== undefined && before.credits !== null) {
    const was = before.credits;
    const next = after.credits;
    if (next === null || next.remaining > was.remaining) credits = true;
    else {
      const refill = next.refill === undefined ? was.refill : next.refill;
      if (
        refill &&
        (!was.refill || refill.amount > was.refill.amount || (refill.interval === "day" && was.refill.interval === "month"))
      )
        credits = true;
    }
  }
  return { rateLimits, credits };
}

/** One fixed-window limit to apply. `key` identifies its counter: `t:<tokenId>:<name>` or `o:<orgId>:<name>`. */
export interface LimitSpec {
  key: string;
  /** As answered: the token's own limits by name, the organisation's as `org:<name>`. */
  name: string;
  limit: number;
  windowSeconds: number;
}

/** A token's credits as verification needs them (the balance itself lives in the limiter). */
export interface CreditSpec {
  tokenId: string;
  /** The generation the verifier's copy of the token knows; a live balance of an older one is re-seeded. */
  gen: number;
  refill: CreditRefill | null;
}

/**
 * What verification applies to a token: its own limits (`t:<tokenId>:<name>`), then its organisation's
 * (`o:<orgId>:<name>`, answered as `org:<name>`), and its credits. Computed once per cached token.
 */
export function limitSpecs(
  token: { id: string; orgId: string | null; rateLimits: readonly NamedRateLimit[]; credits: TokenCredits | null },
  orgLimits: readonly NamedRateLimit[],
): { limits: LimitSpec[]; credits: CreditSpec | null } {
  const limits: LimitSpec[] = token.rateLimits.map((l) => ({
    key: `t:${token.id}:${l.name}`,
    name: l.name,
    limit: l.limit,
    windowSeconds: l.windowSeconds,
  }));
  if (token.orgId) {
    for (const l of orgLimits) {
      limits.push({ key: `o:${token.orgId}:${l.name}`, name: `org:${l.name}`, limit: l.limit, windowSeconds: l.windowSeconds });
    }
  }
  const credits = token.credits ? { tokenId: token.id, gen: token.credits.gen, refill: token.credits.refill } : null;
  return { limits, credits };
}
