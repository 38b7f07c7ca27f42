import type { Change } from "../core/changes.js";
import type { PreparedToken } from "../core/verification.js";
import type { UsageCounter } from "./usage-recorder.js";
import type { VerifyResult } from "./verifier.js";

/**
 * A lookup as the verifier decides from it: the prepared token (null = no such secret), when the
 * presented secret dies, and what the verifier keeps beside it (filled in on first use).
 */
export interface Slot {
  prepared: PreparedToken | null;
  secretExpiresAt: number | null;
  /** The token's shared VALID answer. */
  valid?: VerifyResult;
  /** The token's usage counter for the current flush interval. */
  usage?: UsageCounter;
}

/** A cached lookup. */
export interface CacheEntry extends Slot {
  /** Epoch ms after which the entry is not trusted (the TTL bound on staleness). */
  staleAt: number;
  /**
   * Epoch ms from which a use of the entry should re-read it in the background (see `Verifier`), so that
   * a token in use is refreshed before it goes stale instead of making a request wait for storage. Drawn
   * between 60 % and 80 % of the TTL, so entries filled together are not all re-read together.
   */
  refreshAt: number;
  /** A background re-read is under way. */
  refreshing: boolean;
  /** Last time the entry was moved to the most-recently-used end. */
  touchedAt: number;
}

/** Recency is refreshed at most this often per entry: an LRU to the second, without a re-insert per hit. */
const TOUCH_INTERVAL_MS = 1000;

export interface TokenCacheOptions {
  /** Most found tokens kept (least recently used go first). */
  maxEntries: number;
  /**
   * Most "no such secret" answers kept, in a pool of their own (oldest go first): made-up tokens, however
   * many, only ever evict each other, never a real token's entry. Default 10,000.
   */
  maxNegativeEntries?: number;
  /** How long a found token may be served from memory without hearing of a change. */
  ttlMs: number;
  /** How long a "no such secret" answer is remembered. */
  negativeTtlMs: number;
}

/**
 * Secret hash → prepared token, bounded (LRU) and indexed by token, owner and organisation so that a
 * change evicts exactly the entries it affects. `epoch` moves on every change: a lookup that started
 * before a change must not cache what it read (it may predate the change).
 */
export class TokenCache {
  readonly #o: TokenCacheOptions;
  readonly #maxNegative: number;
  readonly #entries = new Map<string, CacheEntry>();
  /** The "no such secret" answers, apart (see {@link TokenCacheOptions.maxNegativeEntries}). */
  readonly #negatives = new Map<string, CacheEntry>();
  /** As {@link #oldest}, for the negative pool. */
  #oldestNegative: MapIterator<string> = this.#negatives.keys();
  /**
   * Index key → the hashes cached under it: the hash itself while there is one (a token has one secret,
   * two during a regeneration's grace period), a Set beyond. A Set per entry would cost more memory than
   * the rest of the index.
   */
  readonly #byKey = new Map<string, string | Set<string>>();
  #epoch = 0;
  /**
   * Walks the keys oldest first, across evictions. A Map keeps insertion order and leaves a hole where a
   * key was deleted (each eviction, and each touch, which moves a key to the end) until its table is
   * rebuilt. A fresh `keys()` per eviction would step over every hole at the front again: with 100,000
   * entries that made each eviction slower than the storage read it followed. This iterator passes each
   * hole once. Every key behind it has been evicted, so the next key it yields is the oldest.
   */
  #oldest: MapIterator<string> = this.#entries.keys();

  constructor(options: TokenCacheOptions) {
    this.#o = options;
    this.#maxNegative = Math.min(options.maxNegativeEntries ?? 10_000, Math.max(0, options.maxEntries));
  }

  get epoch(): number {
    return this.#epoch;
  }

  /** Entries of both pools. */
  get size(): number {
    return this.#entries.size + this.#negatives.size;
  }

  /** Entries of the negative pool ("no such secret"). */
  get negativeSize(): number {
    return this.#negatives.size;
  }

  get(hash: string, now: number): CacheEntry | undefined {
    const entry = this.#entries.get(hash);
    if (!entry) return this.#negative(hash, now);
    if (entry.staleAt <= now) {
      this.#remove(hash);
      return undefined;
    }
    if (now - entry.touchedAt > TOUCH_INTERVAL_MS) {
      entry.touchedAt = now;
      this.#entries.delete(hash);
      this.#entries.set(hash, entry);
    }
    return entry;
  }

  /** Stores a lookup made at `epoch` and returns its entry, unless a change has happened since (then undefined). */
  set(
    hash: string,
    prepared: PreparedToken | null,
    secretExpiresAt: number | null,
    now: number,
    epoch: number,
  ): CacheEntry | undefined {
    if (epoch !== this.#epoch || this.#o.maxEntries <= 0) return undefined;
    this.#remove(hash);
    if (prepared) {
      while (this.#entries.size >= this.#o.maxEntries) this.#evictOldest();
    } else {
      if (this.#maxNegative <= 0) return undefined;
      while (this.#negatives.size >= this.#maxNegative) this.#evictOldestNegative();
    }
    const ttl = prepared ? this.#o.ttlMs : this.#o.negativeTtlMs;
    const refreshAt = now + Math.floor(ttl * (0.6 + 0.2 * Math.random()));
    const entry: CacheEntry = {
      prepared,
      secretExpiresAt,
      valid: undefined,
      usage: undefined,
      staleAt: now + ttl,
      refreshAt,
      refreshing: false,
      touchedAt: now,
    };
    if (!prepared) {
      this.#negatives.set(hash, entry);
      return entry;
    }
    this.#entries.set(hash, entry);
    for (const key of keysOf(prepared)) this.#index(key, hash);
    return entry;
  }

  /** Evicts what a change affects. */
  apply(change: Change): void {
    this.#epoch++;
    switch (change.type) {
      case "token":
        this.#evictKey(`t:${change.tokenId}`);
        break;
      case "member":
        this.#evictKey(`m:${change.orgId}:${change.userId}`);
        break;
      case "org":
        this.#evictKey(`o:${change.orgId}`);
        break;
      case "reset":
        this.clear();
        break;
    }
  }

  clear(): void {
    this.#epoch++;
    this.#entries.clear();
    this.#negatives.clear();
    this.#byKey.clear();
    this.#oldest = this.#entries.keys();
    this.#oldestNegative = this.#negatives.keys();
  }

  /** A cached "no such secret", while it is fresh. Not moved on use: the pool is first in, first out. */
  #negative(hash: string, now: number): CacheEntry | undefined {
    const entry = this.#negatives.get(hash);
    if (!entry) return undefined;
    if (entry.staleAt <= now) {
      this.#negatives.delete(hash);
      return undefined;
    }
    return entry;
  }

  #evictOldestNegative(): void {
    let next = this.#oldestNegative.next();
    if (next.done) {
      this.#oldestNegative = this.#negatives.keys();
      next = this.#oldestNegative.next();
    }
    if (!next.done) this.#negatives.delete(next.value);
  }

  #evictOldest(): void {
    let next = this.#oldest.next();
    if (next.done) {
      // An iterator that has reached the end stays there; entries added since need a new one.
      this.#oldest = this.#entries.keys();
      next = this.#oldest.next();
    }
    if (!next.done) this.#remove(next.value);
  }

  #index(key: string, hash: string): void {
    const hashes = this.#byKey.get(key);
    if (hashes === undefined) this.#byKey.set(key, hash);
    else if (typeof hashes !== "string") hashes.add(hash);
    else if (hashes !== hash) this.#byKey.set(key, new Set([hashes, hash]));
  }

  #unindex(key: string, hash: string): void {
    const hashes = this.#byKey.get(key);
    if (hashes === hash) {
      this.#byKey.delete(key);
    } else if (hashes !== undefined && typeof hashes !== "string") {
      hashes.delete(hash);
      if (hashes.size === 0) this.#byKey.delete(key);
    }
  }

  #evictKey(key: string): void {
    const hashes = this.#byKey.get(key);
    if (hashes === undefined) return;
    if (typeof hashes === "string") this.#remove(hashes);
    else for (const hash of [...hashes]) this.#remove(hash);
    this.#byKey.delete(key);
  }

  #remove(hash: string): void {
    const entry = this.#entries.get(hash);
    if (!entry) {
      this.#negatives.delete(hash);
      return;
    }
    this.#entries.delete(hash);
    if (!entry.prepared) return;
    for (const key of keysOf(entry.prepared)) this.#unindex(key, hash);
  }
}

function keysOf(prepared: PreparedToken): string[] {
  const { token } = prepared;
  const keys = [`t:${token.id}`];
  if (token.orgId) {
    keys.push(`o:${token.orgId}`);
    if (token.ownerId) keys.push(`m:${token.orgId}:${token.ownerId}`);
  }
  return keys;
}
