import type { RateLimit } from "../core/tokens.js";

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

/** Entries beyond which expired windows are swept (bounds memory under many distinct keys). */
const SWEEP_THRESHOLD = 100_000;

export class MemoryRateLimiter implements RateLimiter {
  readonly #windows = new Map<string, { start: number; count: number; windowMs: number }>();

  consume(key: string, { limit, windowSeconds }: RateLimit, now: number): RateLimitDecision {
    const windowMs = windowSeconds * 1000;
    const start = now - (now % windowMs);
    let entry = this.#windows.get(key);
    if (!entry || entry.start !== start || entry.windowMs !== windowMs) {
      if (this.#windows.size >= SWEEP_THRESHOLD) this.#sweep(now);
      entry = { start, count: 0, windowMs };
      this.#windows.set(key, entry);
    }
    const allowed = entry.count < limit;
    if (allowed) entry.count++;
    return { allowed, limit, remaining: Math.max(0, limit - entry.count), resetAt: start + windowMs };
  }

  #sweep(now: number): void {
    for (const [key, entry] of this.#windows) if (entry.start + entry.windowMs <= now) this.#windows.delete(key);
  }
}
