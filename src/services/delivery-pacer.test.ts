import { describe, expect, it } from "vitest";
import { DeliveryPacer, type PacerSignals } from "./delivery-pacer.js";

/** A clock, a request counter and a loop utilization the test sets by hand. */
function fakeSignals(): PacerSignals & { t: number; requests_: number; busy: number } {
  const s = {
    t: 0,
    requests_: 0,
    busy: 0,
    now: () => s.t,
    requests: () => s.requests_,
    utilization: () => s.busy,
  };
  return s;
}

/** Claims as much as the pacer allows every millisecond for `ms`, `perMs` wanted each time; returns how many. */
function drain(pacer: DeliveryPacer, s: ReturnType<typeof fakeSignals>, ms: number, opts: { apiRequestsPerMs?: number } = {}) {
  let claimed = 0;
  for (let i = 0; i < ms; i++) {
    s.t++;
    s.requests_ += opts.apiRequestsPerMs ?? 0;
    const n = pacer.take(32);
    pacer.spend(n);
    claimed += n;
  }
  return claimed;
}

describe("delivery pacer", () => {
  it("never paces while no API request arrives, however busy the loop", () => {
    const s = fakeSignals();
    const pacer = new DeliveryPacer({ signals: s });
    s.busy = 1;
    expect(drain(pacer, s, 1000)).toBe(32 * 1000);
    expect(pacer.rate).toBe(Number.POSITIVE_INFINITY);
  });

  it("never paces while requests arrive but the loop has room", () => {
    const s = fakeSignals();
    const pacer = new DeliveryPacer({ signals: s });
    s.busy = 0.5;
    expect(drain(pacer, s, 1000, { apiRequestsPerMs: 1 })).toBe(32 * 1000);
    expect(pacer.rate).toBe(Number.POSITIVE_INFINITY);
  });

  it("halves to its floor while requests wait on a busy loop, in small bursts", () => {
    const s = fakeSignals();
    const pacer = new DeliveryPacer({ signals: s, floorPerSecond: 100 });
    s.busy = 0.99;
    drain(pacer, s, 2000, { apiRequestsPerMs: 1 });
    expect(pacer.rate).toBe(100);
    // At the floor: about 100 a second, never more than 50 ms of it (5) in one claim.
    let most = 0;
    let claimed = 0;
    for (let i = 0; i < 1000; i++) {
      s.t++;
      s.requests_++;
      const n = pacer.take(32);
      pacer.spend(n);
      claimed += n;
      most = Math.max(most, n);
    }
    expect(claimed).toBeGreaterThanOrEqual(95);
    expect(claimed).toBeLessThanOrEqual(105);
    expect(most).toBeLessThanOrEqual(5);
    expect(pacer.waitMs()).toBeGreaterThan(0);
  });

  it("grows back while the loop has room, and is unpaced again once requests stop", () => {
    const s = fakeSignals();
    const pacer = new DeliveryPacer({ signals: s, floorPerSecond: 100 });
    s.busy = 0.99;
    drain(pacer, s, 2000, { apiRequestsPerMs: 1 });
    expect(pacer.rate).toBe(100);
    s.busy = 0.5;
    drain(pacer, s, 1000, { apiRequestsPerMs: 1 });
    expect(pacer.rate).toBeGreaterThan(100);
    drain(pacer, s, 300);
    expect(pacer.rate).toBe(Number.POSITIVE_INFINITY);
  });

  it("starts halving from what was delivered, so the first busy tick already bites", () => {
    const s = fakeSignals();
    const pacer = new DeliveryPacer({ signals: s, floorPerSecond: 10 });
    // 2 deliveries a millisecond (2,000/s) unpaced, then the API gets busy.
    for (let i = 0; i < 99; i++) {
      s.t++;
      pacer.spend(pacer.take(2));
    }
    s.busy = 0.99;
    s.requests_ = 1;
    s.t = 100; // the first tick
    pacer.take(2);
    expect(pacer.rate).toBeGreaterThan(900);
    expect(pacer.rate).toBeLessThan(1100);
  });
});
