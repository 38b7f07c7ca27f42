import { describe, expect, it } from "vitest";
import { REQUEST_SLOTS } from "../store/usage-repository.js";
import { REQUESTS_PER_FLUSH, UsageCounter } from "./usage-recorder.js";

const HOUR = 3600_000;
const T = 100 * HOUR; // the start of an hour

describe("UsageCounter", () => {
  it("counts within one hour in one bucket", () => {
    const c = new UsageCounter("tok_1");
    c.add(true, "10.0.0.1", T + 5);
    c.add(false, "10.0.0.2", T + 6);
    c.add(true, "10.0.0.3", T + 7);
    expect(c.ok).toBe(2);
    expect([...c.buckets]).toEqual([[T, { ok: 2, denied: 1 }]]);
    expect([c.lastUsedAt, c.lastUsedIp]).toEqual([T + 7, "10.0.0.3"]);
  });

  it("an interval that crosses the hour, and a clock set back, keep each hour's counts", () => {
    const c = new UsageCounter("tok_1");
    c.add(true, null, T + HOUR - 1);
    c.add(true, null, T + HOUR);
    c.add(false, null, T + HOUR + 1);
    c.add(true, "back", T + 10); // the clock stepped back into the first hour
    expect(new Map(c.buckets)).toEqual(
      new Map([
        [T, { ok: 2, denied: 0 }],
        [T + HOUR, { ok: 1, denied: 1 }],
      ]),
    );
    expect(c.ok).toBe(3);
    expect(c.lastUsedAt).toBe(T + HOUR); // last use is the latest time, not the last call
  });

  it("merging counts back (a failed flush) adds to the right hours", () => {
    const c = new UsageCounter("tok_1");
    c.add(true, null, T + HOUR + 1);
    c.addToHour(T, 5, 1);
    c.addToHour(T + HOUR, 2, 0);
    c.add(true, null, T + HOUR + 2);
    expect(new Map(c.buckets)).toEqual(
      new Map([
        [T, { ok: 5, denied: 1 }],
        [T + HOUR, { ok: 4, denied: 0 }],
      ]),
    );
  });

  it("an unused counter has no buckets", () => {
    expect(new UsageCounter("tok_1").buckets.size).toBe(0);
  });
});

describe("UsageCounter's history", () => {
  const ats = (flat: readonly unknown[]) => flat.filter((_, i) => i % REQUEST_SLOTS === 0);

  it("keeps the newest REQUESTS_PER_FLUSH, oldest first, also once the ring has wrapped", () => {
    const c = new UsageCounter("tok_1");
    for (let i = 0; i < REQUESTS_PER_FLUSH + 7; i++) c.request(T + i, "VALID", null, null, undefined);
    const kept = ats(c.requests);
    expect(kept).toHaveLength(REQUESTS_PER_FLUSH);
    expect(kept[0]).toBe(T + 7);
    expect(kept.at(-1)).toBe(T + REQUESTS_PER_FLUSH + 6);
    expect(kept).toEqual([...kept].sort((a, b) => (a as number) - (b as number)));
    expect(c.rows).toBe(2 + 1 + REQUESTS_PER_FLUSH / 50);
  });

  it("a failed flush's requests go before the current ones, the newest kept", () => {
    const failed = new UsageCounter("tok_1");
    for (let i = 0; i < 600; i++) failed.request(T + i, "VALID", null, null, ["tokens:read"]);
    const c = new UsageCounter("tok_1");
    for (let i = 600; i < 1000 + 600 - 100; i++) c.request(T + i, "DENIED", null, null, undefined);
    c.prependRequests(failed.requests);
    const kept = ats(c.requests);
    expect(kept).toHaveLength(REQUESTS_PER_FLUSH);
    expect(kept[0]).toBe(T + 500);
    expect(kept).toEqual([...kept].sort((a, b) => (a as number) - (b as number)));
    c.request(T + 5000, "VALID", null, null, undefined);
    expect(ats(c.requests).at(-1)).toBe(T + 5000);
    expect(ats(c.requests)[0]).toBe(T + 501);
  });
});
