import type { Store } from "../store/database.js";
import { applyUsage, type RequestRecord, type UsageDelta } from "../store/usage-repository.js";

const HOUR_MS = 3600 * 1000;
/** Tokens per flush transaction: about a millisecond of SQLite work, so no request waits long behind it. */
const FLUSH_CHUNK = 100;

type HourCounts = { ok: number; denied: number };

/**
 * Requests of one token kept per flush interval for its history (SPEC §4 `…/requests`): the latest this
 * many. Counts stay exact (usage buckets); past this rate (1,000 a second with the default 1 s flush)
 * the history samples the newest of each interval rather than let one hot token write without bound.
 */
export const REQUESTS_PER_FLUSH = 1000;
const SLOTS = 5;

/**
 * One token's usage since the last flush. The verifier keeps it beside the token's cache entry and adds
 * to it directly (no lookup per verification); a flush takes it (`closed`), and counting goes on in a
 * fresh one. The hour being counted is kept in fields, not in a Map: within one flush interval a token
 * is nearly always counted in a single hour, and the verifier's cache holds one counter per entry.
 */
export class UsageCounter implements UsageDelta {
  ok = 0;
  lastUsedAt: number | null = null;
  lastUsedIp: string | null = null;
  /** Taken by a flush: ask the recorder for the token's current counter. */
  closed = false;
  /** Start of the hour being counted (epoch ms), and its counts. */
  #hourStart = Number.NaN;
  #hourOk = 0;
  #hourDenied = 0;
  /** Other hours counted in this interval (one that crosses an hour, or a clock set back): rarely any. */
  #otherHours: Map<number, HourCounts> | undefined;
  /**
   * This interval's requests, flat (at, code, ip, userAgent, scopes): one push per verification, no
   * object allocated on the hot path; a ring once REQUESTS_PER_FLUSH are in.
   */
  #requests: unknown[] = [];
  #ringNext = 0;

  constructor(readonly tokenId: string) {}

  /** One verification for the request history (the newest REQUESTS_PER_FLUSH of the interval are kept). */
  request(at: number, code: string, ip: string | null, userAgent: string | null, scopes: readonly string[] | undefined): void {
    const r = this.#requests;
    if (r.length < REQUESTS_PER_FLUSH * SLOTS) {
      r.push(at, code, ip, userAgent, scopes);
      return;
    }
    const i = this.#ringNext;
    r[i] = at;
    r[i + 1] = code;
    r[i + 2] = ip;
    r[i + 3] = userAgent;
    r[i + 4] = scopes;
    this.#ringNext = (i + SLOTS) % (REQUESTS_PER_FLUSH * SLOTS);
  }

  /** This interval's requests as the flush writes them. */
  get requests(): RequestRecord[] {
    const r = this.#requests;
    const out: RequestRecord[] = [];
    for (let i = 0; i < r.length; i += SLOTS) {
      out.push({
        at: r[i] as number,
        code: r[i + 1] as string,
        ip: r[i + 2] as string | null,
        userAgent: r[i + 3] as string | null,
        scopes: (r[i + 4] as readonly string[] | undefined) ?? [],
      });
    }
    return out;
  }

  add(ok: boolean, ip: string | null, now: number): void {
    if (!(now >= this.#hourStart && now < this.#hourStart + HOUR_MS)) this.#countHour(now - (now % HOUR_MS));
    if (ok) {
      this.ok++;
      this.#hourOk++;
      if (this.lastUsedAt === null || now >= this.lastUsedAt) {
        this.lastUsedAt = now;
        this.lastUsedIp = ip;
      }
    } else {
      this.#hourDenied++;
    }
  }

  /** Adds counts to an hour's bucket (merging a failed flush back). */
  addToHour(start: number, ok: number, denied: number): void {
    if (start !== this.#hourStart) this.#countHour(start);
    this.#hourOk += ok;
    this.#hourDenied += denied;
  }

  /** Hour start (epoch ms) → counts, as the flush writes them. */
  get buckets(): Map<number, HourCounts> {
    const buckets = new Map(this.#otherHours);
    if (this.#hourOk + this.#hourDenied > 0) buckets.set(this.#hourStart, { ok: this.#hourOk, denied: this.#hourDenied });
    return buckets;
  }

  /** Makes `start` the hour being counted, putting the current one aside. */
  #countHour(start: number): void {
    if (this.#hourOk + this.#hourDenied > 0) {
      this.#otherHours ??= new Map();
      this.#otherHours.set(this.#hourStart, { ok: this.#hourOk, denied: this.#hourDenied });
    }
    const earlier = this.#otherHours?.get(start);
    this.#otherHours?.delete(start);
    this.#hourStart = start;
    this.#hourOk = earlier?.ok ?? 0;
    this.#hourDenied = earlier?.denied ?? 0;
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
      for (const [start, counts] of old.buckets) current.addToHour(start, counts.ok, counts.denied);
      for (const r of old.requests) current.request(r.at, r.code, r.ip, r.userAgent, r.scopes);
    }
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.flush();
  }
}
