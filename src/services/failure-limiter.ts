import { LruMap } from "./lru-map.js";

/**
 * Most keys a limiter remembers (default). Beyond it the key whose window (or delay) started longest ago
 * is forgotten, in O(1): memory stays bounded (about 150 bytes a key, so ~15 MiB) and each request costs
 * the same however many addresses an attacker rotates through. Forgetting a key only ever lets that key
 * start again from zero; an attacker who wants to clear their own count this way must first fail from
 * 100,000 other keys.
 */
export const DEFAULT_LIMITER_ENTRIES = 100_000;

/**
 * Counts failures per key (an address) in fixed windows and says how long a key must wait once it has
 * failed too often. In memory, per instance: an attacker spreading guesses over N instances gets N times
 * the budget, which the limits allow for.
 */
export class FailureLimiter {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #entries: LruMap<{ start: number; failures: number }>;

  constructor(max: number, windowMs: number, maxEntries = DEFAULT_LIMITER_ENTRIES) {
    this.#max = max;
    this.#windowMs = windowMs;
    this.#entries = new LruMap(maxEntries);
  }

  /** Keys remembered now (at most the limiter's size). */
  get size(): number {
    return this.#entries.size;
  }

  /** Seconds to wait before trying again, or 0 when the key may try. */
  retryAfter(key: string, now: number): number {
    const entry = this.#entries.get(key);
    if (!entry || entry.start + this.#windowMs <= now || entry.failures < this.#max) return 0;
    return Math.max(1, Math.ceil((entry.start + this.#windowMs - now) / 1000));
  }

  /** Records a failure; true when this failure reached the limit (the moment to audit it, once). */
  fail(key: string, now: number): boolean {
    let entry = this.#entries.get(key);
    if (!entry || entry.start + this.#windowMs <= now) {
      entry = { start: now, failures: 0 };
      this.#entries.set(key, entry);
    }
    entry.failures++;
    return entry.failures === this.#max;
  }

  reset(key: string): void {
    this.#entries.delete(key);
  }
}

/** How a {@link BackoffLimiter} answers repeated failures. */
export interface BackoffPolicy {
  /** Failures a key may make before it has to wait at all. */
  freeFailures: number;
  /** The first wait; each further failure doubles it. */
  baseDelayMs: number;
  /** The longest wait. */
  maxDelayMs: number;
  /** A key with no failure for its current wait plus this long starts again from zero. */
  forgetAfterMs: number;
}

/**
 * A progressive delay per key (an account seen from one address): the first `freeFailures` failures
 * cost nothing, then each further one makes the key wait `baseDelayMs`, doubling, up to `maxDelayMs`.
 * Nothing is ever locked for everybody: the key is the pair, so a guesser slows down only their own
 * attempts, never the account's owner signing in from elsewhere.
 */
export class BackoffLimiter {
  readonly #policy: BackoffPolicy;
  readonly #entries: LruMap<{ failures: number; last: number }>;

  constructor(policy: BackoffPolicy, maxEntries = DEFAULT_LIMITER_ENTRIES) {
    this.#policy = policy;
    this.#entries = new LruMap(maxEntries);
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The wait after `failures` failures in a row (ms). */
  delayAfter(failures: number): number {
    const { freeFailures, baseDelayMs, maxDelayMs } = this.#policy;
    if (failures < freeFailures) return 0;
    // 2^31 ms is already 24 days: the exponent is capped so the number stays finite.
    return Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(failures - freeFailures, 31));
  }

  /** Seconds to wait before trying again, or 0 when the key may try. */
  retryAfter(key: string, now: number): number {
    const entry = this.#live(key, now);
    if (!entry) return 0;
    const until = entry.last + this.delayAfter(entry.failures);
    return until > now ? Math.max(1, Math.ceil((until - now) / 1000)) : 0;
  }

  /** Records a failure; true when this failure starts the delay (the moment to audit it, once). */
  fail(key: string, now: number): boolean {
    const entry = this.#live(key, now) ?? { failures: 0, last: now };
    entry.failures++;
    entry.last = now;
    this.#entries.set(key, entry);
    return entry.failures === this.#policy.freeFailures;
  }

  reset(key: string): void {
    this.#entries.delete(key);
  }

  #live(key: string, now: number): { failures: number; last: number } | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.last + this.delayAfter(entry.failures) + this.#policy.forgetAfterMs <= now) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }
}
