import { Redis } from "ioredis";
import { type LimitSpec, refillPeriodStart, type TokenCredits, windowOf } from "../core/limits.js";
import type { CreditsSnapshot } from "../store/tokens-repository.js";
import { CreditJournal, EPOCH, epochOf, type LostSpending } from "./credit-journal.js";
import {
  type CreditSpec,
  type CreditsStore,
  type LimitOutcome,
  type LimitRequest,
  type LimitState,
  type Limits,
  type LimitsHealth,
  type LimitsStats,
  MemoryLimits,
  stateOf,
} from "./limits.js";

/**
 * Limits and credits in Redis, exact across any number of instances (docs/architecture.md, "Limits").
 *
 * A Lua script reads a verification's window counters and credit balance, decides, and only when
 * everything admits the cost takes it from all of them: Redis runs a script alone, so two instances
 * never both see the last unit free. The checks of one turn of the event loop go in one script call,
 * each decided in turn as if alone (so one EVALSHA, one socket write and one Redis wake-up carry a
 * turn's worth of verifications); ioredis falls back to EVAL on NOSCRIPT, after a Redis restart. At most
 * one round trip per warm verification. A balance missing from Redis
 * (first use, or Redis lost its data) is seeded from storage (SET-if-absent-or-older, in a script) and
 * the check retried once. Balances are written behind to storage every `flushMs` with their update
 * counter, only forward.
 *
 * Faults: every command waits at most `timeoutMs` (≤ 100 ms). A failure marks Redis down; until a
 * background PING answers, checks go straight to the fallback (`open`: per-instance {@link MemoryLimits},
 * whose credit spending is replayed into Redis on recovery; `closed`: RATE_LIMITED), so at most one
 * request per probe interval waits on a Redis that does not answer.
 */

/**
 * The checks of one turn of the event loop, in order, each all or nothing (see the class comment).
 * ARGV[1] is the number of checks; each check then has `cost, n, credits?, gen, period, refill amount,
 * lease, floor`, its `n` limits and its `n` window lengths (ms), and takes its `n` window keys and, with
 * credits, its balance key from KEYS in turn. `lease` > 0 asks for that many units more than `cost`
 * (see "Leases" in the class comment), granted only when every limit and the credits keep at least
 * `floor` units after them. Each check answers `n + 4` values: status (0 VALID, 1 RATE_LIMITED,
 * 2 USAGE_EXCEEDED, 3 balance missing or of an older generation: seed it and check again), remaining
 * credits (-1 without), the `n` window counts, the balance's update counter after a spend (-1 else),
 * and the units leased (0 when none).
 */
const CONSUME = `
local m = tonumber(ARGV[1])
local a = 2
local k = 1
local out = {}
local o = 0
for j = 1, m do
  local cost = tonumber(ARGV[a])
  local n = tonumber(ARGV[a + 1])
  local credits = ARGV[a + 2] == '1'
  local gen = tonumber(ARGV[a + 3])
  local period = tonumber(ARGV[a + 4])
  local want = tonumber(ARGV[a + 6])
  local floor = tonumber(ARGV[a + 7])
  local la = a + 8
  local wa = la + n
  local counts = {}
  local status = 0
  for i = 1, n do
    local c = tonumber(redis.call('GET', KEYS[k + i - 1]) or '0')
    counts[i] = c
    if status == 0 and c + cost > tonumber(ARGV[la + i - 1]) then status = 1 end
  end
  local remaining = -1
  local seq = -1
  local s = 0
  local ck = nil
  local changed = false
  if credits then
    ck = KEYS[k + n]
    local h = redis.call('HMGET', ck, 'r', 'g', 'p', 's')
    if not h[1] or tonumber(h[2]) < gen then
      status = 3
    else
      remaining = tonumber(h[1])
      s = tonumber(h[4] or '0')
      if period >= 0 and tonumber(h[3] or '-1') < period then
        remaining = tonumber(ARGV[a + 5])
        s = s + 1
        changed = true
        redis.call('HSET', ck, 'p', period)
      end
      if status == 0 and remaining < cost then status = 2 end
    end
  end
  local take = 0
  if status == 0 and want > 0 then
    local room = nil
    for i = 1, n do
      local r = tonumber(ARGV[la + i - 1]) - counts[i] - cost
      if room == nil or r < room then room = r end
    end
    if credits and (room == nil or remaining - cost < room) then room = remaining - cost end
    if room ~= nil and room - want >= floor then take = want end
  end
  local spend = cost + take
  if credits and status ~= 3 then
    if status == 0 and spend > 0 then
      remaining = remaining - spend
      s = s + 1
      changed = true
      seq = s
    end
    if changed then redis.call('HSET', ck, 'r', string.format('%.0f', remaining), 's', string.format('%.0f', s)) end
  end
  if status == 0 and spend > 0 then
    for i = 1, n do
      local key = KEYS[k + i - 1]
      local v = redis.call('INCRBY', key, spend)
      if v == spend then redis.call('PEXPIRE', key, tonumber(ARGV[wa + i - 1])) end
      counts[i] = v
    end
  end
  out[o + 1] = status
  out[o + 2] = remaining
  for i = 1, n do out[o + 2 + i] = counts[i] end
  out[o + 3 + n] = seq
  out[o + 4 + n] = take
  o = o + 4 + n
  a = wa + n
  k = k + n
  if credits then k = k + 1 end
end
return out
`;

/**
 * Gives back the unused units of a lease: takes them off its window counters (those still alive) and
 * adds them to the balance when it is still of the lease's generation and refill period. KEYS: the `n`
 * window keys, then the balance key when ARGV[3] is 1. ARGV: units, n, credits?, gen, period. Answers
 * the balance's update counter after the refund, or -1 when nothing was added to a balance.
 */
const GIVE_BACK = `
local units = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
for i = 1, n do
  local c = redis.call('GET', KEYS[i])
  if c then
    local back = math.min(units, tonumber(c))
    if back > 0 then redis.call('DECRBY', KEYS[i], back) end
  end
end
if ARGV[3] ~= '1' then return -1 end
local ck = KEYS[n + 1]
local h = redis.call('HMGET', ck, 'r', 'g', 'p')
if not h[1] or tonumber(h[2]) ~= tonumber(ARGV[4]) then return -1 end
local period = tonumber(ARGV[5])
if period >= 0 and tonumber(h[3] or '-1') ~= period then return -1 end
redis.call('HSET', ck, 'r', string.format('%.0f', tonumber(h[1]) + units))
return redis.call('HINCRBY', ck, 's', 1)
`;

/**
 * Seeds a balance from storage unless Redis holds a newer one (same generation, later update). The seeded
 * balance is a new incarnation: its `s` starts the epoch after the stored one's, and `b` keeps the
 * stored `s` it came from (see CreditJournal).
 */
const SEED = `
local g = redis.call('HGET', KEYS[1], 'g')
local s = tonumber(redis.call('HGET', KEYS[1], 's') or '0')
local gen = tonumber(ARGV[2])
local base = tonumber(ARGV[4])
if (not g) or tonumber(g) < gen or (tonumber(g) == gen and s < base) then
  local epoch = ${EPOCH}
  local start = (math.floor(base / epoch) + 1) * epoch
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'r', ARGV[1], 'g', ARGV[2], 'p', ARGV[3], 's', string.format('%.0f', start), 'b', ARGV[4])
  return 1
end
return 0
`;

/**
 * Takes spending again from a balance (what the fallback spent while Redis was down, or what Redis lost),
 * never below 0: {remaining, seq}. {-1}: no balance to take from; {-2}: another generation; {-3}: the
 * spending was of a refill period the balance has since left (the refill replaced it).
 */
const DEBIT = `
local h = redis.call('HMGET', KEYS[1], 'g', 'r', 'p')
if not h[1] then return {-1, -1} end
if tonumber(h[1]) ~= tonumber(ARGV[2]) then return {-2, -1} end
local period = tonumber(ARGV[3])
if period >= 0 and tonumber(h[3] or '-1') > period then return {-3, -1} end
local r = tonumber(h[2]) - tonumber(ARGV[1])
if r < 0 then r = 0 end
redis.call('HSET', KEYS[1], 'r', r)
local s = redis.call('HINCRBY', KEYS[1], 's', 1)
return {r, s}
`;

/**
 * Checks sent in one script call at most: Redis runs a script alone, so a call stays short (a check is a
 * few microseconds of Redis's time); a turn with more checks sends several calls.
 */
const MAX_CHECKS_PER_CALL = 256;

/** The longest a lease lives (ms): its unused units go back to Redis then at the latest. */
export const LEASE_MS = 1000;
/**
 * A lease is granted only when every limit and the credits keep at least this many units after it, so
 * that near the end of a budget every check is decided by Redis itself.
 */
export const LEASE_FLOOR = 10_000;
const DAY_MS = 86_400_000;

/**
 * Units of a token's own limits and credits this instance took ahead from Redis (see "Leases" in the
 * class comment). `counts` and `remaining` are what an exact check would have answered right after the
 * grant; `used` is what this instance has spent of the lease since.
 */
interface Lease {
  /** The verifier's limit list the lease was granted for (a changed token brings a new list). */
  limits: readonly LimitSpec[];
  credits: CreditSpec | null;
  period: number;
  /** Window keys, then the balance key with credits: where unused units go back. */
  keys: string[];
  units: number;
  used: number;
  counts: number[];
  remaining: number;
  expiresAt: number;
}

interface Queued {
  keys: string[];
  args: number[];
  /** Limits of this check: its answer is `n + 4` values. */
  n: number;
  resolve(answer: { reply: number[]; at: number }): void;
  reject(error: unknown): void;
}

/** Scripts defined without `numberOfKeys` take the key count first. */
type ScriptCall = (...args: (string | number)[]) => Promise<unknown>;
interface Scripted {
  tesseraConsume: ScriptCall;
  tesseraGiveBack: ScriptCall;
  tesseraSeed: ScriptCall;
  tesseraDebit: ScriptCall;
}

export interface RedisLimitsOptions {
  url: string;
  prefix: string;
  timeoutMs: number;
  onDown: "open" | "closed";
  flushMs: number;
  /** How often a down Redis is probed (ms). */
  probeMs?: number;
  /** Told once per outage and once per recovery. */
  log?: (message: string) => void;
  /**
   * Units of a token's own limits and credits one check may take ahead from Redis, to spend in memory
   * for up to {@link LEASE_MS} (see "Leases" in the class comment). 0 (the default): every check goes to Redis.
   */
  leaseUnits?: number;
}

export class RedisLimits implements Limits {
  readonly #redis: Redis & Scripted;
  /** Checks waiting for this turn's script call (see {@link #enqueue}). */
  #queue: Queued[] = [];
  readonly #o: RedisLimitsOptions;
  readonly #store: CreditsStore;
  readonly #fallback: MemoryLimits;
  /** Credits the fallback spent while Redis was down, per token: replayed into Redis on recovery. */
  readonly #debits = new Map<string, { gen: number; amount: number }>();
  /** Tokens whose Redis balance changed since the last write-behind. */
  #dirty = new Set<string>();
  /** This instance's spending not yet seen in storage: taken again if Redis loses it. */
  readonly #journal = new CreditJournal();
  #up = false;
  #probing: NodeJS.Timeout | undefined;
  readonly #flushTimer: NodeJS.Timeout;
  #flushing: Promise<void> | undefined;
  #closed = false;
  readonly stats: LimitsStats = { fallbacks: 0, redisErrors: 0, redisUp: false, leased: 0 };
  /** Live leases, by token (see {@link #leaseKey}). */
  readonly #leases = new Map<string, Lease>();
  /**
   * Tokens whose lease request is on its way to Redis (one at a time per token), each with a promise that
   * settles once the answer is applied: their other checks meanwhile wait for it rather than go to Redis.
   */
  readonly #leasing = new Map<string, Promise<void>>();
  /** Tokens whose last lease request was granted (bounded: cleared when it grows past 100,000). */
  readonly #leasable = new Set<string>();
  /** Lease units forfeited because giving them back failed (see {@link #giveBack}). */
  forfeited = 0;

  constructor(store: CreditsStore, options: RedisLimitsOptions) {
    this.#o = options;
    this.#store = store;
    this.#fallback = new MemoryLimits(store, {
      persist: false,
      onDebit: (tokenId, gen, amount) => {
        const pending = this.#debits.get(tokenId);
        if (pending && pending.gen === gen) pending.amount += amount;
        else this.#debits.set(tokenId, { gen, amount });
      },
    });
    const redis = new Redis(options.url, {
      lazyConnect: true,
      // No `commandTimeout`: see `#timed`.
      connectTimeout: Math.max(500, options.timeoutMs),
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // Reconnect forever, quickly: recovery needs no restart.
      retryStrategy: () => 200,
    });
    redis.on("error", () => {
      // Reported through `down()`; ioredis also emits every failed reconnect here.
    });
    redis.defineCommand("tesseraConsume", { lua: CONSUME });
    redis.defineCommand("tesseraGiveBack", { lua: GIVE_BACK });
    redis.defineCommand("tesseraSeed", { lua: SEED, numberOfKeys: 1 });
    redis.defineCommand("tesseraDebit", { lua: DEBIT, numberOfKeys: 1 });
    this.#redis = redis as Redis & Scripted;
    this.#flushTimer = setInterval(() => void this.flush().catch(() => undefined), options.flushMs);
    this.#flushTimer.unref();
  }

  /** Connects (within the timeout, else starts degraded and keeps probing). */
  async start(): Promise<void> {
    try {
      await this.#redis.connect();
      await this.#timed(this.#redis.ping());
      this.#up = true;
      this.stats.redisUp = true;
    } catch {
      this.#down();
    }
  }

  /** The connection to Redis is open (it may still be marked down until the next probe). */
  get connected(): boolean {
    return this.#redis.status === "ready";
  }

  get health(): LimitsHealth {
    return {
      mode: "redis",
      degraded: this.#up
        ? null
        : this.#o.onDown === "open"
          ? "redis unreachable: limits and credits apply per instance"
          : "redis unreachable: verifications of tokens with limits or credits are refused",
    };
  }

  /**
   * `command`, or a rejection once `timeoutMs` has passed without its reply. Two allowances keep a busy
   * process from taking its own slowness for Redis's: when the timer fires, the verdict waits one more
   * turn of the event loop (`setImmediate` runs after the I/O poll), so a reply that arrived meanwhile is
   * read first; and a timer that fired late by more than half the timeout (the process itself was
   * blocked, e.g. by a burst of requests on a loaded machine) is re-armed, at most three times.
   */
  #timed<T>(command: Promise<T>): Promise<T> {
    const timeout = this.#o.timeoutMs;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      let rearms = 0;
      let due = performance.now() + timeout;
      const expire = () => {
        const late = performance.now() - due;
        if (late > timeout / 2 && rearms < 3) {
          rearms++;
          due = performance.now() + timeout;
          timer = setTimeout(expire, timeout);
          return;
        }
        setImmediate(() => {
          if (settled) return;
          settled = true;
          reject(new Error(`redis did not answer within ${timeout} ms`));
        });
      };
      let timer = setTimeout(expire, timeout);
      command.then(
        (value) => {
          clearTimeout(timer);
          if (settled) return;
          settled = true;
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          if (settled) return;
          settled = true;
          reject(error);
        },
      );
    });
  }

  check(request: LimitRequest): LimitOutcome | Promise<LimitOutcome> {
    const key = this.#leaseKey(request);
    if (key !== undefined) {
      const lease = this.#leases.get(key);
      if (lease !== undefined) {
        if (this.#fits(lease, request)) return this.#spend(lease, request);
        void this.#retire(key, lease);
      }
      // The token's lease is being asked for and its last request was granted: wait for it (one round
      // trip, as an exact check would). Otherwise (a new token, or one near its end) straight to Redis,
      // in the same script call.
      const pending = this.#leasing.get(key);
      if (pending !== undefined && this.#up && this.#leasable.has(key)) return pending.then(() => this.#afterLease(key, request));
    }
    return this.#exact(request, key !== undefined);
  }

  /** A check that waited for its token's lease request: from the lease if it came, else from Redis. */
  #afterLease(key: string, request: LimitRequest): LimitOutcome | Promise<LimitOutcome> {
    const lease = this.#leases.get(key);
    if (lease !== undefined && this.#fits(lease, request)) return this.#spend(lease, request);
    return this.#exact(request, false);
  }

  /** Decided by Redis (and with `mayLease`, a lease asked for with it), or by the fallback while Redis is down. */
  #exact(request: LimitRequest, mayLease: boolean): LimitOutcome | Promise<LimitOutcome> {
    if (!this.#up) return this.#fallBack(request);
    return this.#consume(request, true, mayLease).catch((error: unknown) => {
      if (this.#closed) throw error;
      this.stats.redisErrors++;
      this.#down();
      return this.#fallBack(request);
    });
  }

  #fallBack(request: LimitRequest): LimitOutcome | Promise<LimitOutcome> {
    this.stats.fallbacks++;
    if (this.#o.onDown === "open") return this.#fallback.check(request);
    const resetAt = request.now + (this.#o.probeMs ?? 250);
    return {
      code: "RATE_LIMITED",
      ratelimits: request.limits.map((l) => ({ name: l.name, limit: l.limit, remaining: 0, resetAt })),
      credits: null,
    };
  }

  /**
   * Where a check's lease lives: its token's id. Undefined when the check may not lease: leasing off, no
   * cost, a cost the lease could not carry, nothing to limit, or an organisation's limit (shared by all
   * its tokens: leases of many tokens would hold back more than one token's share).
   */
  #leaseKey(request: LimitRequest): string | undefined {
    const units = this.#o.leaseUnits ?? 0;
    const { limits, credits, cost } = request;
    if (units <= 0 || cost <= 0 || cost > units) return undefined;
    for (const spec of limits) if (!spec.key.startsWith("t:")) return undefined;
    return credits ? credits.tokenId : limits.length > 0 ? limits[0]!.key : undefined;
  }

  /** The lease still stands for this check: same token state, not expired, enough units left. */
  #fits(lease: Lease, request: LimitRequest): boolean {
    return (
      lease.units >= request.cost &&
      request.now < lease.expiresAt &&
      lease.limits === request.limits &&
      (lease.credits === null) === (request.credits === null) &&
      (request.credits === null || request.credits.gen === lease.credits!.gen)
    );
  }

  /** Spends a check from a lease: what an exact check would answer, less what other instances spent meanwhile. */
  #spend(lease: Lease, request: LimitRequest): LimitOutcome {
    lease.units -= request.cost;
    lease.used += request.cost;
    this.stats.leased = (this.stats.leased ?? 0) + 1;
    const { limits, now } = request;
    const ratelimits = new Array<LimitState>(limits.length);
    for (let i = 0; i < limits.length; i++) ratelimits[i] = stateOf(limits[i]!, lease.counts[i]! + lease.used, now);
    return { code: "VALID", ratelimits, credits: lease.credits ? { remaining: lease.remaining - lease.used } : null };
  }

  /** Ends a lease: its unused units go back to Redis (or are forfeited if that fails, see {@link #giveBack}). */
  #retire(key: string, lease: Lease): Promise<void> {
    if (this.#leases.get(key) === lease) this.#leases.delete(key);
    return lease.units > 0 ? this.#giveBack(lease) : Promise.resolve();
  }

  #giveBack(lease: Lease): Promise<void> {
    const units = lease.units;
    lease.units = 0;
    const n = lease.limits.length;
    const credits = lease.credits;
    return this.#timed(
      this.#redis.tesseraGiveBack(
        lease.keys.length,
        ...lease.keys,
        units,
        n,
        credits ? 1 : 0,
        credits?.gen ?? 0,
        lease.period,
      ) as Promise<number>,
    ).then(
      (seq) => {
        if (!credits || Number(seq) < 0) return;
        this.#dirty.add(credits.tokenId);
        // A refund is spending of minus `units` (so that Redis losing it is repaired like any spending).
        this.#journal.record(credits.tokenId, credits.gen, Number(seq), -units, lease.period);
      },
      () => {
        // Not retried: a give-back that timed out may still have run in Redis, and running it twice would
        // grant units twice. The units are forfeited (fewer granted, never more), as by a killed instance.
        this.forfeited += units;
      },
    );
  }

  #creditsKey(tokenId: string): string {
    return `${this.#o.prefix}cr:${tokenId}`;
  }

  async #consume(request: LimitRequest, seedIfMissing: boolean, mayLease: boolean): Promise<LimitOutcome> {
    const leaseKey = mayLease ? this.#leaseKey(request) : undefined;
    if (leaseKey === undefined || this.#leasing.has(leaseKey)) return this.#consumeOnce(request, seedIfMissing, undefined);
    let release!: () => void;
    this.#leasing.set(
      leaseKey,
      new Promise<void>((resolve) => {
        release = resolve;
      }),
    );
    try {
      return await this.#consumeOnce(request, seedIfMissing, leaseKey);
    } finally {
      this.#leasing.delete(leaseKey);
      release();
    }
  }

  /** One check in Redis; with `leaseKey`, a lease for it asked for too. */
  async #consumeOnce(request: LimitRequest, seedIfMissing: boolean, leaseKey: string | undefined): Promise<LimitOutcome> {
    const { limits, credits, cost, now } = request;
    const n = limits.length;
    const keys: string[] = [];
    const want = leaseKey !== undefined ? this.#o.leaseUnits! : 0;
    const args: number[] = [cost, n, credits ? 1 : 0, credits?.gen ?? 0, -1, credits?.refill?.amount ?? 0, want, LEASE_FLOOR];
    const windows: number[] = [];
    for (const spec of limits) {
      const { start, ms } = windowOf(spec.windowSeconds, now);
      keys.push(`${this.#o.prefix}rl:${spec.key}:${ms}:${start}`);
      args.push(spec.limit);
      windows.push(ms);
    }
    for (const ms of windows) args.push(ms);
    let period = -1;
    if (credits) {
      keys.push(this.#creditsKey(credits.tokenId));
      if (credits.refill) period = refillPeriodStart(credits.refill.interval, now);
      args[4] = period;
    }
    const answer = await this.#enqueue(keys, args, n);
    const reply = answer.reply;
    const at = answer.at;
    const status = Number(reply[at]);
    if (status === 3) {
      if (!seedIfMissing || !credits) throw new Error("credits balance could not be seeded");
      await this.#seed(credits);
      // Redis lost the balance: what this instance spent and storage does not have yet goes back first.
      if (this.#journal.has(credits.tokenId)) await this.#reconcile(credits.tokenId);
      return this.#consumeOnce(request, false, leaseKey);
    }
    const take = Number(reply[at + 3 + n]);
    if (credits) {
      this.#dirty.add(credits.tokenId);
      if (status === 0 && cost + take > 0) {
        const seq = Number(reply[at + 2 + n]);
        // A newer incarnation than this instance last saw: Redis lost the balance and another instance
        // re-seeded it; place what this instance had spent before then.
        if (this.#journal.record(credits.tokenId, credits.gen, seq, cost + take, period)) {
          void this.#reconcile(credits.tokenId).catch(() => undefined);
        }
      }
    }
    // The answer is the exact one for this check: a lease taken with it is not spent yet.
    const ratelimits = limits.map((spec, i) => stateOf(spec, Number(reply[at + 2 + i]) - take, now));
    const remaining = Number(reply[at + 1]) + (credits && take > 0 ? take : 0);
    if (leaseKey !== undefined && take === 0) this.#leasable.delete(leaseKey);
    if (take > 0 && leaseKey !== undefined) {
      if (this.#leasable.size >= 100_000) this.#leasable.clear();
      this.#leasable.add(leaseKey);
      const previous = this.#leases.get(leaseKey);
      if (previous) this.#retire(leaseKey, previous);
      let expiresAt = now + LEASE_MS;
      for (const spec of limits)
        expiresAt = Math.min(expiresAt, windowOf(spec.windowSeconds, now).start + spec.windowSeconds * 1000);
      // A refill starts a new period at midnight UTC at the earliest: the lease ends before it.
      if (credits?.refill) expiresAt = Math.min(expiresAt, (Math.floor(now / DAY_MS) + 1) * DAY_MS);
      this.#leases.set(leaseKey, {
        limits,
        credits,
        period,
        keys,
        units: take,
        used: 0,
        counts: limits.map((_, i) => Number(reply[at + 2 + i]) - take),
        remaining,
        expiresAt,
      });
    }
    return {
      code: status === 0 ? "VALID" : status === 1 ? "RATE_LIMITED" : "USAGE_EXCEEDED",
      ratelimits,
      credits: credits ? { remaining } : null,
    };
  }

  /**
   * Queues a check for the script call that ends this turn of the event loop: every check queued in one
   * turn (the verifications of every request read in it) goes to Redis as one EVALSHA, checked in queue
   * order. Resolves with the reply and where this check's `n + 3` values start in it.
   */
  #enqueue(keys: string[], args: number[], n: number): Promise<{ reply: number[]; at: number }> {
    return new Promise((resolve, reject) => {
      if (this.#queue.length === 0) setImmediate(this.#sendQueued);
      this.#queue.push({ keys, args, n, resolve, reject });
    });
  }

  readonly #sendQueued = (): void => {
    const queue = this.#queue;
    this.#queue = [];
    for (let i = 0; i < queue.length; i += MAX_CHECKS_PER_CALL) this.#send(queue.slice(i, i + MAX_CHECKS_PER_CALL));
  };

  #send(batch: Queued[]): void {
    const keys: string[] = [];
    const args: number[] = [batch.length];
    for (const q of batch) {
      for (const key of q.keys) keys.push(key);
      for (const arg of q.args) args.push(arg);
    }
    this.#timed(this.#redis.tesseraConsume(keys.length, ...keys, ...args) as Promise<number[]>).then(
      (reply) => {
        let at = 0;
        for (const q of batch) {
          q.resolve({ reply, at });
          at += q.n + 4;
        }
      },
      (error: unknown) => {
        for (const q of batch) q.reject(error);
      },
    );
  }

  async #seed(credits: CreditSpec): Promise<void> {
    const stored = await this.#store.read(credits.tokenId);
    if (!stored) {
      // The token no longer has credits (a concurrent edit): an empty balance of its generation refuses
      // until the verifier's cache hears of the change.
      await this.#timed(this.#redis.tesseraSeed(this.#creditsKey(credits.tokenId), 0, credits.gen, -1, 0));
      return;
    }
    await this.#seedFrom(credits.tokenId, stored);
  }

  /**
   * Seeds Redis from a stored balance as a new incarnation and, when this instance's seed is the one Redis
   * took, writes that incarnation's first state behind at once (same balance, `seq` at the incarnation's
   * start): the next seed then reads a later epoch, so no two incarnations share a number even when the
   * first never wrote anything behind before Redis lost it (CreditJournal tells them apart by number).
   */
  async #seedFrom(tokenId: string, stored: TokenCredits): Promise<void> {
    const took = await this.#timed(
      this.#redis.tesseraSeed(this.#creditsKey(tokenId), stored.remaining, stored.gen, stored.refilledAt ?? -1, stored.seq),
    );
    if (took !== 1) return;
    await this.#store
      .write({
        tokenId,
        gen: stored.gen,
        seq: (epochOf(stored.seq) + 1) * EPOCH,
        remaining: stored.remaining,
        refilledAt: stored.refilledAt,
      })
      .catch(() => undefined);
  }

  #down(): void {
    if (this.#closed) return;
    if (this.#up) this.#o.log?.("redis unreachable: limits fall back per TESSERA_LIMITS_ON_REDIS_DOWN");
    this.#up = false;
    this.stats.redisUp = false;
    if (this.#probing) return;
    const probe = async () => {
      try {
        await this.#timed(this.#redis.ping());
        await this.#replayDebits();
        this.#fallback.reset();
        this.#up = true;
        this.stats.redisUp = true;
        this.#probing = undefined;
        this.#o.log?.("redis reachable again: limits are cluster-wide again");
      } catch {
        if (this.#closed) return;
        this.#probing = setTimeout(() => void probe(), this.#o.probeMs ?? 250);
        this.#probing.unref();
      }
    };
    this.#probing = setTimeout(() => void probe(), this.#o.probeMs ?? 250);
    this.#probing.unref();
  }

  /**
   * Takes from the Redis balances what the fallback spent while Redis was down, then what Redis lost of
   * this instance's earlier spending (seeding any balance Redis lost first).
   */
  async #replayDebits(): Promise<void> {
    for (const [tokenId, debit] of [...this.#debits]) {
      await this.#takeAgain(tokenId, debit.gen, [{ period: -1, amount: debit.amount }]);
      this.#debits.delete(tokenId);
    }
    for (const tokenId of this.#journal.tokens()) await this.#reconcile(tokenId);
  }

  /** Takes `lost` from a balance (seeding it first if Redis has none), journaled as this instance's spending. */
  async #takeAgain(tokenId: string, gen: number, lost: readonly LostSpending[]): Promise<void> {
    for (const l of lost) {
      const call = () =>
        this.#timed(this.#redis.tesseraDebit(this.#creditsKey(tokenId), l.amount, gen, l.period)) as Promise<number[]>;
      let [left, seq] = (await call()).map(Number) as [number, number];
      if (left === -1) {
        await this.#seed({ tokenId, gen, refill: null });
        [left, seq] = (await call()).map(Number) as [number, number];
      }
      if (left >= 0) this.#journal.record(tokenId, gen, seq, l.amount, l.period);
    }
    this.#dirty.add(tokenId);
  }

  /**
   * Places this instance's journal for a token against the live balance, and takes again what Redis lost
   * (CreditJournal). A balance Redis does not hold is seeded first.
   */
  async #reconcile(tokenId: string): Promise<void> {
    const key = this.#creditsKey(tokenId);
    let fields = (await this.#timed(this.#redis.hmget(key, "g", "s", "b"))) as (string | null)[];
    if (fields[0] === null) {
      const gen = this.#journal.genOf(tokenId);
      if (gen === null) return;
      await this.#seed({ tokenId, gen, refill: null });
      fields = (await this.#timed(this.#redis.hmget(key, "g", "s", "b"))) as (string | null)[];
      if (fields[0] === null) return;
    }
    const gen = Number(fields[0]);
    const base = fields[2] === null ? null : Number(fields[2]);
    const lost = this.#journal.takeLost(tokenId, gen, Number(fields[1]), base);
    if (lost.length === 0) return;
    try {
      await this.#takeAgain(tokenId, gen, lost);
    } catch (error) {
      if (base !== null) this.#journal.restore(tokenId, gen, base + 1, lost);
      throw error;
    }
  }

  async forget(tokenId: string): Promise<void> {
    // A lease of the old balance is void (its generation is replaced), not given back.
    this.#leases.delete(tokenId);
    this.#debits.delete(tokenId);
    this.#journal.forget(tokenId);
    await this.#fallback.forget(tokenId);
    // Best effort: a balance left behind is of an older generation, so the next check re-seeds anyway.
    await this.#redis.del(this.#creditsKey(tokenId)).catch(() => undefined);
  }

  flush(): Promise<void> {
    this.#flushing ??= this.#flush().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  /**
   * Reads the touched balances in one pipeline and writes them behind, only forward. Tokens with
   * spending in the journal stay in every flush until storage is seen to hold it; a balance of a newer
   * incarnation first takes again what Redis lost of it.
   */
  async #flush(): Promise<void> {
    // Leases past their time give their unused units back first, so that this write-behind holds them.
    const at = Date.now();
    const expired: Promise<void>[] = [];
    for (const [key, lease] of this.#leases) if (lease.expiresAt <= at) expired.push(this.#retire(key, lease));
    await Promise.all(expired);
    if (!this.#up) return;
    for (const id of this.#journal.tokens()) this.#dirty.add(id);
    if (this.#dirty.size === 0) return;
    const ids = [...this.#dirty];
    this.#dirty = new Set();
    const pipeline = this.#redis.pipeline();
    for (const id of ids) pipeline.hmget(this.#creditsKey(id), "r", "g", "p", "s", "b");
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await pipeline.exec();
    } catch {
      for (const id of ids) this.#dirty.add(id);
      return;
    }
    const toWrite: CreditsSnapshot[] = [];
    for (const [i, id] of ids.entries()) {
      const [error, value] = replies?.[i] ?? [new Error("no reply"), null];
      const fields = value as (string | null)[] | null;
      if (error || !fields) {
        this.#dirty.add(id);
        continue;
      }
      try {
        if (fields[0] === null) {
          // Redis holds no balance (it lost it): seed it and take again what this instance had spent.
          if (this.#journal.has(id)) await this.#reconcile(id);
          continue;
        }
        const snapshot: CreditsSnapshot = {
          tokenId: id,
          remaining: Number(fields[0]),
          gen: Number(fields[1]),
          refilledAt: Number(fields[2]) < 0 ? null : Number(fields[2]),
          seq: Number(fields[3]),
        };
        const lost = this.#journal.takeLost(id, snapshot.gen, snapshot.seq, fields[4] === null ? null : Number(fields[4]));
        if (lost.length > 0) {
          // The snapshot lacks what is taken now: written on the next flush.
          await this.#takeAgain(id, snapshot.gen, lost);
          continue;
        }
        toWrite.push(snapshot);
      } catch {
        // Redis failed for this token: it stays for the next flush.
        this.#dirty.add(id);
      }
    }
    // One round trip for every balance (PostgreSQL: one statement).
    let taken: Set<string>;
    try {
      taken = await this.#store.writeMany(toWrite);
    } catch {
      for (const snapshot of toWrite) this.#dirty.add(snapshot.tokenId);
      return;
    }
    const written: CreditsSnapshot[] = [];
    for (const snapshot of toWrite) {
      if (taken.has(snapshot.tokenId)) {
        written.push(snapshot);
        continue;
      }
      const id = snapshot.tokenId;
      try {
        // Not taken: another instance wrote a later update, an explicit set made a new generation, or
        // Redis went back in time (restored from an older snapshot). Only the last is repaired here: the
        // stored balance (later, so smaller) replaces Redis's.
        const stored = await this.#store.read(id);
        if (stored && stored.gen === snapshot.gen && stored.seq >= snapshot.seq) {
          if (epochOf(stored.seq) === epochOf(snapshot.seq)) written.push(snapshot);
          if (stored.seq > snapshot.seq) await this.#seedFrom(id, stored).catch(() => undefined);
        }
      } catch {
        // Storage failed for this token: it stays for the next flush.
        this.#dirty.add(id);
      }
    }
    if (written.length === 0) return;
    // Storage holds these; the spending they include is safe only if Redis still holds the incarnation
    // they were read from (lost between the read and the write, the new one may lack it).
    const check = this.#redis.pipeline();
    for (const snapshot of written) check.hmget(this.#creditsKey(snapshot.tokenId), "g", "s");
    const now = await check.exec().catch(() => null);
    for (const [i, snapshot] of written.entries()) {
      const [error, value] = now?.[i] ?? [new Error("no reply"), null];
      const fields = value as (string | null)[] | null;
      if (error || !fields || fields[0] === null) continue;
      const seq = Number(fields[1]);
      if (Number(fields[0]) === snapshot.gen && epochOf(seq) === epochOf(snapshot.seq) && seq >= snapshot.seq) {
        this.#journal.durable(snapshot.tokenId, snapshot.gen, snapshot.seq);
      }
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#flushTimer);
    // Unused lease units go back before the last write-behind, so that storage holds them.
    await Promise.all([...this.#leases].map(([key, lease]) => this.#retire(key, lease)));
    await this.flush().catch(() => undefined);
    this.#closed = true;
    if (this.#probing) clearTimeout(this.#probing);
    await this.#fallback.close();
    this.#redis.disconnect();
  }
}
