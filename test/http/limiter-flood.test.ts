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
  /** The same server, never flooded: the yardstick for the flooded one's cost per request. */
  let control: TestApp;

  beforeAll(async () => {
    // The default bearer limit, not the harness's relaxed one.
    t = await startTestApp("sqlite", { bearerFailuresPerMinute: 120 });
    control = await startTestApp("sqlite", { bearerFailuresPerMinute: 120 });
  });
  afterAll(async () => {
    await t?.close();
    await control?.close();
  });

  /** `batch` failing requests at once from new addresses (`first` onwards); the time per request. */
  const failBatch = async (app: TestApp, first: number, batch: number): Promise<number> => {
    const t0 = performance.now();
    const answers = await Promise.all(
      Array.from({ length: batch }, (_, k) => {
        // 10.x.y.z (11.x.y.z past 2^24): distinct addresses, each failing once (a malformed bearer: no storage).
        const i = first + k;
        return app.app.inject({
          method: "GET",
          url: "/v1/me",
          headers: { authorization: "Bearer not-a-token" },
          remoteAddress: `${10 + (i >> 24)}.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
        });
      }),
    );
    const perRequest = (performance.now() - t0) / batch;
    for (const res of answers) if (res.statusCode !== 401) throw new Error(`from ${first}: ${res.statusCode} ${res.body}`);
    return perRequest;
  };

  it("costs the same per request at the end as a server never flooded, and memory stays bounded", async () => {
    const total = 200_000;
    // Requests go in batches of 50 at once (as a flood would).
    const batch = 50;
    await new Promise((r) => setTimeout(r, 50));
    collectGarbage();
    const heapBefore = process.memoryUsage().heapUsed;
    for (let b = 0; b < total / batch; b++) {
      await failBatch(t, b * batch, batch);
      // Back-to-back `inject` calls never let the event loop turn, and what each leaves for it to release
      // (about 9 KiB) would pile up: a real server turns the loop between requests, so the test does too.
      if (b % 20 === 19) await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 50));
    collectGarbage();
    const heapGrowthMiB = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
    // Then batches of new addresses alternate between the flooded server (full limiters: every new key
    // evicts one) and the control (a few thousand keys): whatever else the machine is doing weighs on
    // both alike, so their medians compare. The old limiters scanned their whole map per new key past
    // 100,000 entries (×39 per request).
    const rounds = 200;
    const flooded = new Float64Array(rounds);
    const fresh = new Float64Array(rounds);
    for (let r = 0; r < rounds; r++) {
      const next = total + r * batch;
      if (r % 2 === 0) {
        flooded[r] = await failBatch(t, next, batch);
        fresh[r] = await failBatch(control, next, batch);
      } else {
        fresh[r] = await failBatch(control, next, batch);
        flooded[r] = await failBatch(t, next, batch);
      }
      if (r % 20 === 19) await new Promise((resolve) => setImmediate(resolve));
    }
    const median = (xs: Float64Array) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const last = median(flooded);
    const yardstick = median(fresh);
    const sizes = t.tessera.auth.limiterSizes;
    console.info(
      `flood: median per request after the flood ${last.toFixed(3)} ms, never flooded ${yardstick.toFixed(3)} ms; bearer limiter ${sizes.bearerByAddress} keys; heap +${heapGrowthMiB.toFixed(0)} MiB`,
    );
    expect(sizes.bearerByAddress).toBe(DEFAULT_LIMITER_ENTRIES);
    expect(last).toBeLessThanOrEqual(yardstick * 3);
    // 100,000 small entries, ~15 MiB (without the cap: 200,000 and growing with every new address).
    expect(heapGrowthMiB).toBeLessThan(48);
    // The limit still holds for an address that keeps failing.
    const hammer = async () =>
      t.app.inject({ method: "GET", url: "/v1/me", headers: { authorization: "Bearer x" }, remoteAddress: "192.0.2.1" });
    for (let i = 0; i < 120; i++) await hammer();
    expect((await hammer()).statusCode).toBe(429);
  }, 180_000);
});
