import { type CreditSpec, type LimitSpec, refillPeriodStart, type TokenCredits, windowOf } from "../core/limits.js";
import type { CreditsSnapshot } from "../store/tokens-repository.js";
import { DEFAULT_LIMITER_ENTRIES } from "./failure-limiter.js";
import { LruMap } from "./lru-map.js";

/**
 * Rate limits and credits at verification (SPEC §5). One request names every limit that applies (the
 * token's and its organisation's) and the token's credits; the answer is all-or-nothing: either every
 * limit and the credits take `cost`, or none does (a refused check consumes nothing anywhere).
 */

export type { CreditSpec, LimitSpec };

export interface LimitRequest {
  limits: readonly LimitSpec[];
  credits: CreditSpec | null;
  /** Units taken from every limit and from the credits (≥ 0; 0 only reads). */
  cost: number;
  now: number;
}

export interface LimitState {
  name: string;
  limit: number;
  remaining: number;
  /** Epoch ms when the window resets. */
  resetAt: number;
}

export type LimitCode = "VALID" | "RATE_LIMITED" | "USAGE_EXCEEDED";

export interface LimitOutcome {
  code: LimitCode;
  /** Every limit, in request order, as it stands after this check. */
  ratelimits: LimitState[];
  /** Null when the token has no credits. */
  credits: { remaining: number } | null;
}

export interface LimitsHealth {
  /** `memory`: this instance alone; `redis`: shared by every instance. */
  mode: "memory" | "redis";
  /** Why limits are not what they should be now (Redis unreachable…), or null. */
  degraded: string | null;
}

export interface LimitsStats {
  /** Checks answered by the per-instance fallback (or refused, `closed`) because Redis was down. */
  fallbacks: number;
  /** Redis commands that failed or timed out. */
  redisErrors: number;
  redisUp: boolean;
  /** Checks answered from a lease: units taken ahead from Redis (RedisLimits only). */
  leased?: number;
}

export interface Limits {
  check(request: LimitRequest): LimitOutcome | Promise<LimitOutcome>;
  /** Drops the live balance of a token whose credits were set explicitly: the next check re-seeds from storage. */
  forget(tokenId: string): Promise<void>;
  /** Writes live balances behind to storage now. */
  flush(): Promise<void>;
  readonly health: LimitsHealth;
  readonly stats: LimitsStats;
  close(): Promise<void>;
}

/** Storage as the limiters use it: the seed of a balance, and the write-behind. */
export interface CreditsStore {
  read(tokenId: string): Promise<TokenCredits | null>;
  /** Writes a balance behind, only forward (see `writeCreditsBehind`): true when storage took it. */
  write(snapshot: CreditsSnapshot): Promise<boolean>;
  /** {@link write} for many balances in one round trip: the ids storage took. */
  writeMany(snapshots: readonly CreditsSnapshot[]): Promise<Set<string>>;
}

interface Balance {
  gen: number;
  seq: number;
  remaining: number;
  refilledAt: number | null;
  /** Changed since the last write-behind. */
  dirty: boolean;
  lastUsed: number;
}

/** A balance idle this long and already written behind is dropped from memory (re-read on next use). */
const IDLE_BALANCE_MS = 5 * 60_000;

export function stateOf(spec: LimitSpec, count: number, now: number): LimitState {
  const window = windowOf(spec.windowSeconds, now);
  return { name: spec.name, limit: spec.limit, remaining: Math.max(0, spec.limit - count), resetAt: window.start + window.ms };
}

/**
 * Limits and credits in this process's memory: exact on one instance (a check is synchronous once its
 * balance is loaded, so nothing interleaves between testing and taking), per instance on several.
 * Balances are seeded from storage and, when `persist`, written behind every `flushMs` and on close.
 * Used alone without Redis, and as the `open` fallback while Redis is down (then `persist` is off and
 * `onDebit` records what was spent, to be replayed into Redis when it answers again).
 */
export class MemoryLimits implements Limits {
  readonly #windows: LruMap<{ start: number; count: number }>;
  readonly #balances = new Map<string, Balance>();
  readonly #seeding = new Map<string, Promise<void>>();
  readonly #store: CreditsStore;
  readonly #persist: boolean;
  readonly #onDebit: ((tokenId: string, gen: number, amount: number) => void) | undefined;
  readonly #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;

  readonly health: LimitsHealth = { mode: "memory", degraded: null };
  readonly stats: LimitsStats = { fallbacks: 0, redisErrors: 0, redisUp: false };

  constructor(
    store: CreditsStore,
    options: {
      persist?: boolean;
      flushMs?: number;
      maxWindows?: number;
      onDebit?: (tokenId: string, gen: number, amount: number) => void;
    } = {},
  ) {
    this.#store = store;
    this.#persist = options.persist ?? true;
    this.#onDebit = options.onDebit;
    this.#windows = new LruMap(options.maxWindows ?? DEFAULT_LIMITER_ENTRIES);
    if (this.#persist) {
      this.#timer = setInterval(() => void this.flush().catch(() => undefined), options.flushMs ?? 1000);
      this.#timer.unref();
    }
  }

  /** Window counters in memory (at most `maxWindows`: the oldest window is forgotten first). */
  get windowCount(): number {
    return this.#windows.size;
  }

  check(request: LimitRequest): LimitOutcome | Promise<LimitOutcome> {
    const credits = request.credits;
    if (credits) {
      const balance = this.#balances.get(credits.tokenId);
      if (!balance || balance.gen < credits.gen) return this.#seed(credits).then(() => this.#decide(request));
    }
    return this.#decide(request);
  }

  /** Test and take, synchronously: nothing else runs between the two. */
  #decide({ limits, credits, cost, now }: LimitRequest): LimitOutcome {
    const windows = limits.map((spec) => {
      const { start, ms } = windowOf(spec.windowSeconds, now);
      const key = `${spec.key}:${ms}`;
      let entry = this.#windows.get(key);
      if (!entry || entry.start !== start) {
        entry = { start, count: 0 };
        this.#windows.set(key, entry);
      }
      return entry;
    });
    const limited = limits.some((spec, i) => windows[i]!.count + cost > spec.limit);
    let balance: Balance | undefined;
    if (credits) {
      balance = this.#balances.get(credits.tokenId);
      if (balance) {
        balance.lastUsed = now;
        if (credits.refill) {
          const period = refillPeriodStart(credits.refill.interval, now);
          if (balance.refilledAt === null || period > balance.refilledAt) {
            balance.remaining = credits.refill.amount;
            balance.refilledAt = period;
            balance.seq++;
            balance.dirty = true;
          }
        }
      }
    }
    const states = () => limits.map((spec, i) => stateOf(spec, windows[i]!.count, now));
    const creditsView = balance ? { remaining: balance.remaining } : credits ? { remaining: 0 } : null;
    if (limited) return { code: "RATE_LIMITED", ratelimits: states(), credits: creditsView };
    if (credits && (!balance || balance.remaining < cost)) {
      return { code: "USAGE_EXCEEDED", ratelimits: states(), credits: creditsView };
    }
    for (const w of windows) w.count += cost;
    if (balance && cost > 0) {
      balance.remaining -= cost;
      balance.seq++;
      balance.dirty = true;
      this.#onDebit?.(credits!.tokenId, balance.gen, cost);
    }
    return { code: "VALID", ratelimits: states(), credits: balance ? { remaining: balance.remaining } : null };
  }

  /** Loads a balance from storage (once, however many checks wait for it). */
  #seed(credits: CreditSpec): Promise<void> {
    let pending = this.#seeding.get(credits.tokenId);
    if (!pending) {
      pending = this.#store
        .read(credits.tokenId)
        .then((stored) => {
          const current = this.#balances.get(credits.tokenId);
          if (!stored) {
            this.#balances.delete(credits.tokenId);
            return;
          }
          if (current && current.gen >= stored.gen) return;
          this.#balances.set(credits.tokenId, {
            gen: stored.gen,
            seq: stored.seq,
            remaining: stored.remaining,
            refilledAt: stored.refilledAt,
            dirty: false,
            lastUsed: Date.now(),
          });
        })
        .finally(() => this.#seeding.delete(credits.tokenId));
      this.#seeding.set(credits.tokenId, pending);
    }
    return pending;
  }

  async forget(tokenId: string): Promise<void> {
    this.#balances.delete(tokenId);
  }

  /** Forgets everything (the fallback, once Redis is back: the next outage starts from storage again). */
  reset(): void {
    this.#balances.clear();
    this.#windows.clear();
  }

  flush(): Promise<void> {
    if (!this.#persist) return Promise.resolve();
    this.#flushing ??= this.#flush().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  async #flush(): Promise<void> {
    const now = Date.now();
    const dirty: Balance[] = [];
    const snapshots: CreditsSnapshot[] = [];
    for (const [tokenId, balance] of this.#balances) {
      if (!balance.dirty) {
        if (now - balance.lastUsed > IDLE_BALANCE_MS) this.#balances.delete(tokenId);
        continue;
      }
      balance.dirty = false;
      dirty.push(balance);
      snapshots.push({
        tokenId,
        gen: balance.gen,
        seq: balance.seq,
        remaining: balance.remaining,
        refilledAt: balance.refilledAt,
      });
    }
    if (snapshots.length === 0) return;
    // One round trip for every balance (PostgreSQL: one statement), as RedisLimits writes behind.
    try {
      await this.#store.writeMany(snapshots);
    } catch (error) {
      for (const balance of dirty) balance.dirty = true;
      throw error;
    }
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.flush();
  }
}
