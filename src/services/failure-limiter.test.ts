import { describe, expect, it } from "vitest";
import { BackoffLimiter, FailureLimiter } from "./failure-limiter.js";
import { MemoryLimits } from "./limits.js";
import { LruMap } from "./lru-map.js";

/** Median time (ms) of `fn` over `rounds` rounds of `perRound` calls. */
function medianRound(fn: (i: number) => void, start: number, rounds: number, perRound: number): number {
  const times: number[] = [];
  let i = start;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let k = 0; k < perRound; k++) fn(i++);
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
}

describe("failure limiter", () => {
  it("blocks a key after max failures until its window ends", () => {
    const limiter = new FailureLimiter(3, 60_000);
    expect(limiter.fail("k", 0)).toBe(false);
    expect(limiter.fail("k", 1)).toBe(false);
    expect(limiter.retryAfter("k", 2)).toBe(0);
    expect(limiter.fail("k", 2)).toBe(true);
    expect(limiter.retryAfter("k", 3)).toBe(60);
    expect(limiter.retryAfter("other", 3)).toBe(0);
    expect(limiter.retryAfter("k", 60_000)).toBe(0);
    limiter.fail("k", 60_001);
    expect(limiter.retryAfter("k", 60_002)).toBe(0);
    limiter.reset("k");
    expect(limiter.retryAfter("k", 60_003)).toBe(0);
  });

  it("keeps at most its size in keys, forgetting the oldest window first", () => {
    const limiter = new FailureLimiter(2, 60_000, 3);
    limiter.fail("a", 0);
    limiter.fail("a", 0);
    for (const key of ["b", "c"]) limiter.fail(key, 1);
    expect(limiter.retryAfter("a", 2)).toBe(60);
    limiter.fail("d", 3); // full: "a" (oldest window) goes
    expect(limiter.size).toBe(3);
    expect(limiter.retryAfter("a", 4)).toBe(0);
    limiter.fail("b", 5);
    expect(limiter.retryAfter("b", 5)).toBe(60); // still remembered
  });
});

describe("backoff limiter (per account and address)", () => {
  const policy = { freeFailures: 3, baseDelayMs: 1000, maxDelayMs: 16_000, forgetAfterMs: 60_000 };

  it("lets the first failures through, then waits 1 s, doubling, capped", () => {
    const limiter = new BackoffLimiter(policy);
    expect([0, 1, 2, 3, 4, 5, 6, 7, 8, 40].map((n) => limiter.delayAfter(n))).toEqual([
      0, 0, 0, 1000, 2000, 4000, 8000, 16_000, 16_000, 16_000,
    ]);
    let now = 0;
    expect(limiter.fail("acct|ip", now)).toBe(false);
    expect(limiter.fail("acct|ip", now)).toBe(false);
    expect(limiter.retryAfter("acct|ip", now)).toBe(0);
    expect(limiter.fail("acct|ip", now)).toBe(true); // the delay starts: audited once
    expect(limiter.retryAfter("acct|ip", now)).toBe(1);
    expect(limiter.retryAfter("acct|other-ip", now)).toBe(0);
    now += 1000;
    expect(limiter.retryAfter("acct|ip", now)).toBe(0);
    expect(limiter.fail("acct|ip", now)).toBe(false);
    expect(limiter.retryAfter("acct|ip", now)).toBe(2);
    for (let i = 0; i < 20; i++) limiter.fail("acct|ip", now);
    expect(limiter.retryAfter("acct|ip", now)).toBe(16);
    limiter.reset("acct|ip");
    expect(limiter.retryAfter("acct|ip", now)).toBe(0);
  });

  it("forgets a key after its wait plus the quiet period", () => {
    const limiter = new BackoffLimiter(policy);
    for (let i = 0; i < 4; i++) limiter.fail("k", 0);
    expect(limiter.retryAfter("k", 0)).toBe(2);
    expect(limiter.retryAfter("k", 2000 + 60_000 - 1)).toBe(0);
    limiter.fail("k", 2000 + 60_000 - 1); // still counted: fifth failure, waits 4 s
    expect(limiter.retryAfter("k", 2000 + 60_000)).toBe(4);
    limiter.fail("k", 200_000); // long quiet: starts again from one failure
    expect(limiter.retryAfter("k", 200_000)).toBe(0);
  });

  it("keeps at most its size in keys", () => {
    const limiter = new BackoffLimiter(policy, 10);
    for (let i = 0; i < 1000; i++) limiter.fail(`k${i}`, 0);
    expect(limiter.size).toBe(10);
  });
});

describe("LruMap", () => {
  it("evicts the least recently set key, set refreshing a key", () => {
    const map = new LruMap<number>(3);
    map.set("a", 1);
    map.set("b", 2);
    map.set("c", 3);
    map.set("a", 10); // a is now newest
    map.set("d", 4); // evicts b
    expect(map.get("b")).toBeUndefined();
    expect(map.get("a")).toBe(10);
    map.delete("c");
    map.set("e", 5);
    map.set("f", 6); // evicts a (d, e, f remain)
    expect([map.get("a"), map.get("d"), map.get("e"), map.get("f")]).toEqual([undefined, 4, 5, 6]);
    expect(map.size).toBe(3);
    expect(() => new LruMap(0)).toThrow(RangeError);
  });

  it("stays the right size and order across many evictions and refreshes", () => {
    const map = new LruMap<number>(100);
    const model: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      const key = `k${i % 7 === 0 ? i % 150 : i}`;
      map.set(key, i);
      const at = model.indexOf(key);
      if (at !== -1) model.splice(at, 1);
      else if (model.length >= 100) model.shift();
      model.push(key);
    }
    expect(map.size).toBe(100);
    for (const key of model) expect(map.get(key), key).toBeDefined();
  });
});

describe("limiters under a flood of unique keys (issue 16 finding 4)", () => {
  it("cost the same per new key at 200,000 keys as at the start, and stay bounded", () => {
    const failures = new FailureLimiter(120, 60_000);
    const backoff = new BackoffLimiter({ freeFailures: 5, baseDelayMs: 1000, maxDelayMs: 900_000, forgetAfterMs: 3_600_000 });
    const rates = new MemoryLimits(
      { read: async () => null, write: async () => false, writeMany: async () => new Set<string>() },
      { persist: false },
    );
    const step = (i: number) => {
      failures.fail(`198.${i}`, 1000);
      backoff.fail(`a@b|198.${i}`, 1000);
      rates.check({
        limits: [{ key: `t:tok_${i}:default`, name: "default", limit: 10, windowSeconds: 60 }],
        credits: null,
        cost: 1,
        now: 1000,
      });
    };
    const first = medianRound(step, 0, 10, 1000);
    medianRound(step, 10_000, 180, 1000);
    const last = medianRound(step, 190_000, 10, 1000);
    expect(failures.size).toBe(100_000);
    expect(backoff.size).toBe(100_000);
    expect(rates.windowCount).toBe(100_000);
    // The old full scan past 100k keys made each new key ~40× dearer.
    expect(last).toBeLessThan(Math.max(first, 0.5) * 3);
  });
});
