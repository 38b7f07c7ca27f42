import type { RateLimit } from "../core/tokens.js";
import { DEFAULT_LIMITER_ENTRIES } from "./failure-limiter.js";
import { LruMap } from "./lru-map.js";

export interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Epoch ms when the window resets. */
  resetAt: number;
}

/**
 * Counts uses of a key against a limit. This in-memory fixed window is per instance; a Redis
 * implementation of the same interface makes it cluster-wide (`TESSERA_REDIS_URL`).
 */
export interface RateLimiter {
  consume(key: string, limit: RateLimit, now: number): RateLimitDecision | Promise<RateLimitDecision>;
}

/**
 * Windows are kept for at most `maxEntries` keys (token ids); a new window moves its key to the newest
 * end, so the one forgotten first, in O(1), is the key whose window started longest ago: nearly always
 * an expired one. A token forgotten while its window runs starts a new one (it may then be used up to
 * its limit again); that takes more keys in use at once than the limit, 100,000 by default.
 */
export class MemoryRateLimiter implements RateLimiter {
  readonly #windows: LruMap<{ start: number; count: number; windowMs: number }>;

  constructor(maxEntries = DEFAULT_LIMITER_ENTRIES) {
    this.#windows = new LruMap(maxEntries);
  }

  /** Keys with a window in memory (at most `maxEntries`). */
  get size(): number {
    return this.#windows.size;
  }

  consume(key: string, { limit, windowSeconds }: RateLimit, now: number): RateLimitDecision {
    const windowMs = windowSeconds * 1000;
    const start = now - (now % windowMs);
    let entry = this.#windows.get(key);
    if (!entry || entry.start !== start || entry.windowMs !== windowMs) {
      entry = { start, count: 0, windowMs };
      this.#windows.set(key, entry);
    }
    const allowed = entry.count < limit;
    if (allowed) entry.count++;
    return { allowed, limit, remaining: Math.max(0, limit - entry.count), resetAt: start + windowMs };
  }
}
