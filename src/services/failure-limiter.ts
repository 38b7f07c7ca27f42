/**
 * Counts failures per key (an account, an address) in fixed windows and says how long a key must wait
 * once it has failed too often. In memory, per instance: an attacker spreading guesses over N instances
 * gets N times the budget, which the limits allow for.
 */
export class FailureLimiter {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #entries = new Map<string, { start: number; failures: number }>();

  constructor(max: number, windowMs: number) {
    this.#max = max;
    this.#windowMs = windowMs;
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
      if (this.#entries.size > 100_000) this.#sweep(now);
      entry = { start: now, failures: 0 };
      this.#entries.set(key, entry);
    }
    entry.failures++;
    return entry.failures === this.#max;
  }

  reset(key: string): void {
    this.#entries.delete(key);
  }

  #sweep(now: number): void {
    for (const [key, entry] of this.#entries) if (entry.start + this.#windowMs <= now) this.#entries.delete(key);
  }
}
