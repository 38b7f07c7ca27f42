import type { Store } from "../store/database.js";
import { applyUsage, type UsageDelta } from "../store/usage-repository.js";

const HOUR_MS = 3600 * 1000;
/** Tokens per flush transaction: about a millisecond of SQLite work, so no request waits long behind it. */
const FLUSH_CHUNK = 100;

/**
 * One token's usage since the last flush. The verifier keeps it beside the token's cache entry and adds
 * to it directly (no lookup per verification); a flush takes it (`closed`), and counting goes on in a
 * fresh one.
 */
export class UsageCounter implements UsageDelta {
  ok = 0;
  lastUsedAt: number | null = null;
  lastUsedIp: string | null = null;
  readonly buckets = new Map<number, { ok: number; denied: number }>();
  /** Taken by a flush: ask the recorder for the token's current counter. */
  closed = false;
  /** The bucket of the hour counted last, so that counting within one hour looks nothing up. */
  #hourStart = Number.NaN;
  #hour: { ok: number; denied: number } | undefined;

  constructor(readonly tokenId: string) {}

  add(ok: boolean, ip: string | null, now: number): void {
    let bucket = this.#hour;
    if (bucket === undefined || !(now >= this.#hourStart && now < this.#hourStart + HOUR_MS)) {
      const start = now - (now % HOUR_MS);
      bucket = this.buckets.get(start);
      if (!bucket) {
        bucket = { ok: 0, denied: 0 };
        this.buckets.set(start, bucket);
      }
      this.#hourStart = start;
      this.#hour = bucket;
    }
    if (ok) {
      this.ok++;
      bucket.ok++;
      if (this.lastUsedAt === null || now >= this.lastUsedAt) {
        this.lastUsedAt = now;
        this.lastUsedIp = ip;
      }
    } else {
      bucket.denied++;
    }
  }
}

/**
 * Gathers usage in memory (no storage write on the verification path) and writes it in batches:
 * every `intervalMs`, and on close. A failed flush keeps its counts for the next attempt.
 */
export class UsageRecorder {
  #pending = new Map<string, UsageCounter>();
  readonly #store: Store;
  readonly #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();

  constructor(store: Store, intervalMs: number) {
    this.#store = store;
    if (intervalMs > 0) {
      this.#timer = setInterval(() => void this.flush().catch(() => {}), intervalMs);
      this.#timer.unref();
    }
  }

  /** The token's counter for the current interval (valid until `closed`). */
  counter(tokenId: string): UsageCounter {
    let counter = this.#pending.get(tokenId);
    if (!counter) {
      counter = new UsageCounter(tokenId);
      this.#pending.set(tokenId, counter);
    }
    return counter;
  }

  /** Writes what has gathered so far; concurrent calls are serialised. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#flushOnce());
    return this.#flushing;
  }

  /**
   * Writes the gathered usage in chunks of FLUSH_CHUNK tokens, one transaction each, yielding to the
   * event loop between chunks: SQLite statements run synchronously, and one big flush would hold every
   * request for tens of milliseconds. Usage is additive, so a flush committed in parts is still exact;
   * a chunk that fails goes back, with the chunks after it, to be retried on the next flush.
   */
  async #flushOnce(): Promise<void> {
    if (this.#pending.size === 0) return;
    const deltas = [...this.#pending.values()];
    this.#pending = new Map();
    for (const counter of deltas) counter.closed = true;
    for (let i = 0; i < deltas.length; i += FLUSH_CHUNK) {
      const chunk = deltas.slice(i, i + FLUSH_CHUNK);
      try {
        await this.#store.db.transaction().execute((trx) => applyUsage(trx, chunk));
      } catch (error) {
        this.#merge(new Map(deltas.slice(i).map((d) => [d.tokenId, d])));
        throw error;
      }
      if (i + FLUSH_CHUNK < deltas.length) await new Promise((resolve) => setImmediate(resolve));
    }
  }

  #merge(batch: Map<string, UsageCounter>): void {
    for (const [tokenId, old] of batch) {
      const current = this.#pending.get(tokenId);
      if (!current) {
        old.closed = false;
        this.#pending.set(tokenId, old);
        continue;
      }
      current.ok += old.ok;
      if (current.lastUsedAt === null && old.lastUsedAt !== null) {
        current.lastUsedAt = old.lastUsedAt;
        current.lastUsedIp = old.lastUsedIp;
      }
      for (const [start, counts] of old.buckets) {
        const bucket = current.buckets.get(start) ?? { ok: 0, denied: 0 };
        bucket.ok += counts.ok;
        bucket.denied += counts.denied;
        current.buckets.set(start, bucket);
      }
    }
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.flush();
  }
}
