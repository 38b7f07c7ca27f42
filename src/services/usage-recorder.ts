import { newId } from "../core/ids.js";
import { SQLITE_BUSY_TIMEOUT_MS, type Store } from "../store/database.js";
import { SqliteUsageWriter, type UsageMessage } from "../store/sqlite-usage-writer.js";
import { applyUsage, REQUEST_SLOTS, type UsageDelta } from "../store/usage-repository.js";

const HOUR_MS = 3600 * 1000;
/**
 * Rows per flush transaction (a token's update and usage bucket count one each, its history batch one
 * plus one per HISTORY_ENTRIES_PER_ROW requests): a few milliseconds of SQLite work, so neither the
 * event loop (PostgreSQL's statements are built on it) nor a write waiting for SQLite's lock waits long
 * behind it. Counted in rows, not tokens: a busy token's history batch is tens of kilobytes.
 */
const FLUSH_ROWS = 250;
/**
 * History requests that weigh as much as a row in a flush: a request is one slot of a batch's JSON
 * (about 60 bytes, one `JSON.stringify` step), not an insert into three b-trees.
 */
const HISTORY_ENTRIES_PER_ROW = 50;

type HourCounts = { ok: number; denied: number };

/**
 * Requests of one token kept per flush interval for its history (SPEC §4 `…/requests`): the latest this
 * many. Counts stay exact (usage buckets); past this rate (1,000 a second with the default 1 s flush)
 * the history samples the newest of each interval rather than let one hot token write without bound.
 */
export const REQUESTS_PER_FLUSH = 1000;
const SLOTS = REQUEST_SLOTS;

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

  /** Rows a flush writes for this counter: the token's update, its hour buckets and its history batch (weighted). */
  get rows(): number {
    const requests = this.#requests.length / SLOTS;
    const history = requests === 0 ? 0 : 1 + Math.floor(requests / HISTORY_ENTRIES_PER_ROW);
    return 2 + (this.#otherHours?.size ?? 0) + history;
  }

  /**
   * The usage as the SQLite usage writer takes it: the requests flat, in verification order, and the id
   * of the history batch the worker writes (made here: ids are made on the main thread only).
   */
  get message(): UsageMessage {
    const buckets: number[] = [];
    for (const [start, counts] of this.buckets) buckets.push(start, counts.ok, counts.denied);
    const requests = this.requests;
    return {
      tokenId: this.tokenId,
      ok: this.ok,
      lastUsedAt: this.lastUsedAt,
      lastUsedIp: this.lastUsedIp,
      buckets,
      requests,
      historyId: requests.length > 0 ? newId("request") : null,
    };
  }

  /**
   * This interval's requests, flat, oldest first (in verification order): as kept until the ring
   * wraps, then rotated so that the oldest kept comes first.
   */
  get requests(): readonly unknown[] {
    const r = this.#requests;
    if (this.#ringNext === 0) return r;
    return r.slice(this.#ringNext).concat(r.slice(0, this.#ringNext));
  }

  /** Puts a failed flush's requests (older than this counter's) before this counter's, newest kept. */
  prependRequests(older: readonly unknown[]): void {
    if (older.length === 0) return;
    const all = older.concat(this.requests);
    this.#requests = all.length > REQUESTS_PER_FLUSH * SLOTS ? all.slice(all.length - REQUESTS_PER_FLUSH * SLOTS) : all;
    this.#ringNext = 0;
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
  readonly #write: (chunk: UsageCounter[]) => Promise<void>;
  readonly #sqlite: SqliteUsageWriter | undefined;
  readonly #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();

  constructor(store: Store, intervalMs: number) {
    if (store.dialect === "sqlite" && store.sqliteFile !== undefined) {
      // SQLite writes synchronously: off the event loop, in a worker with its own connection.
      const sqlite = new SqliteUsageWriter(store.sqliteFile, SQLITE_BUSY_TIMEOUT_MS, store.sqliteWriting);
      this.#sqlite = sqlite;
      this.#write = (chunk) => sqlite.apply(chunk.map((c) => c.message));
    } else {
      this.#write = (chunk) => store.db.transaction().execute((trx) => applyUsage(trx, chunk));
    }
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

  /**
   * Writes what has gathered so far; concurrent calls are serialised. Each call tries again after a
   * failed one (chained on the previous flush's outcome, not its success: once one had failed, every
   * later flush answered that failure without writing, and usage piled up in memory until restart).
   */
  flush(): Promise<void> {
    const after = () => this.#flushOnce();
    this.#flushing = this.#flushing.then(after, after);
    return this.#flushing;
  }

  /**
   * Writes the gathered usage in chunks of about FLUSH_ROWS rows, one transaction each, yielding to the
   * event loop between chunks. On SQLite the chunks go to the usage worker, and a chunk is how long it
   * holds the file's write lock (which a write of the main thread may have to wait for). Usage is
   * additive, so a flush committed in parts is still exact; a chunk that fails goes back, with the
   * chunks after it, to be retried on the next flush.
   */
  async #flushOnce(): Promise<void> {
    if (this.#pending.size === 0) return;
    const deltas = [...this.#pending.values()];
    this.#pending = new Map();
    for (const counter of deltas) counter.closed = true;
    for (let i = 0; i < deltas.length; ) {
      let end = i;
      for (let rows = 0; end < deltas.length && (end === i || rows + deltas[end]!.rows <= FLUSH_ROWS); end++) {
        rows += deltas[end]!.rows;
      }
      const chunk = deltas.slice(i, end);
      try {
        await this.#write(chunk);
      } catch (error) {
        this.#merge(new Map(deltas.slice(i).map((d) => [d.tokenId, d])));
        throw error;
      }
      i = end;
      if (i < deltas.length) await new Promise((resolve) => setImmediate(resolve));
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
      current.prependRequests(old.requests);
    }
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    try {
      await this.flush();
    } finally {
      await this.#sqlite?.close();
    }
  }
}
