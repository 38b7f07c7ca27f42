import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_LIMITER_ENTRIES } from "../../src/services/failure-limiter.js";
import { startTestApp, type TestApp } from "../support/harness.js";

/**
 * Issue 16 finding 4: one client rotating source addresses must not make every request dearer. The old
 * limiters scanned their whole map for each new key once past 100,000 entries (per-request cost ×39);
 * now they evict in O(1) and hold at most DEFAULT_LIMITER_ENTRIES keys. The limits live in memory, so
 * SQLite alone.
 */
/** A full garbage collection, so that heap figures count what is kept, not what awaits collection. */
function collectGarbage(): void {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
}

describe("a flood of 200,000 unique addresses", () => {
  let t: TestApp;

  beforeAll(async () => {
    // The default bearer limit, not the harness's relaxed one.
    t = await startTestApp("sqlite", { bearerFailuresPerMinute: 120 });
  });
  afterAll(() => t?.close());

  it("costs the same per request at the end as at the start, and memory stays bounded", async () => {
    const total = 200_000;
    const sample = 10_000;
    // Requests go in batches of 50 at once (as a flood would); each batch's time per request is one sample.
    const batch = 50;
    const perRequest = new Float64Array(total / batch);
    await new Promise((r) => setTimeout(r, 50));
    collectGarbage();
    const heapBefore = process.memoryUsage().heapUsed;
    for (let b = 0; b < total / batch; b++) {
      const t0 = performance.now();
      const answers = await Promise.all(
        Array.from({ length: batch }, (_, k) => {
          // 10.x.y.z: 200,000 distinct addresses, each failing once (a malformed bearer: no storage involved).
          const i = b * batch + k;
          return t.app.inject({
            method: "GET",
            url: "/v1/me",
            headers: { authorization: "Bearer not-a-token" },
            remoteAddress: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
          });
        }),
      );
      perRequest[b] = (performance.now() - t0) / batch;
      for (const res of answers) if (res.statusCode !== 401) throw new Error(`batch ${b}: ${res.statusCode} ${res.body}`);
      // Back-to-back `inject` calls never let the event loop turn, and what each leaves for it to release
      // (about 9 KiB) would pile up: a real server turns the loop between requests, so the test does too.
      if (b % 20 === 19) await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 50));
    collectGarbage();
    const median = (xs: Float64Array) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const first = median(perRequest.subarray(0, sample / batch));
    const last = median(perRequest.subarray(perRequest.length - sample / batch));
    const sizes = t.tessera.auth.limiterSizes;
    const heapGrowthMiB = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
    console.info(
      `flood: median first ${first.toFixed(3)} ms, last ${last.toFixed(3)} ms; bearer limiter ${sizes.bearerByAddress} keys; heap +${heapGrowthMiB.toFixed(0)} MiB`,
    );
    expect(sizes.bearerByAddress).toBe(DEFAULT_LIMITER_ENTRIES);
    expect(last).toBeLessThanOrEqual(first * 3);
    // 100,000 small entries, ~15 MiB (without the cap: 200,000 and growing with every new address).
    expect(heapGrowthMiB).toBeLessThan(48);
    // The limit still holds for an address that keeps failing.
    const hammer = async () =>
      t.app.inject({ method: "GET", url: "/v1/me", headers: { authorization: "Bearer x" }, remoteAddress: "192.0.2.1" });
    for (let i = 0; i < 120; i++) await hammer();
    expect((await hammer()).statusCode).toBe(429);
  }, 180_000);
});
