import { describe, expect, it } from "vitest";
import { FailureLimiter } from "./failure-limiter.js";

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
});
