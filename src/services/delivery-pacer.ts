import { performance } from "node:perf_hooks";

/** What the pacer reads of the process; the real ones by default, fakes in tests. */
export interface PacerSignals {
  /** Monotonic milliseconds. */
  now(): number;
  /** Requests the HTTP server has received so far (any route): API work that would wait behind deliveries. */
  requests(): number;
  /** Share of wall time the event loop spent running callbacks (0–1) since the previous call. */
  utilization(): number;
}

export interface PacerOptions {
  /** How often the load is looked at, and the rate adjusted. */
  tickMs?: number;
  /** Loop busier than this (0–1) while requests arrive: the API is waiting on the loop, deliveries slow down. */
  busyUtilization?: number;
  /** Deliveries/s never paced below, so a backlog still moves under a saturated API. */
  floorPerSecond?: number;
  signals?: PacerSignals;
}

/** Real signals: the server's request counter and `performance.eventLoopUtilization` over each tick. */
export function processSignals(traffic: { requests: number }): PacerSignals {
  let previous = performance.eventLoopUtilization();
  return {
    now: () => performance.now(),
    requests: () => traffic.requests,
    utilization: () => {
      const current = performance.eventLoopUtilization();
      const share = performance.eventLoopUtilization(current, previous).utilization;
      previous = current;
      return share;
    },
  };
}

/**
 * Paces the webhook dispatcher so that draining a backlog yields to API work (issue 14: a 100,000-event
 * backlog must not raise API p99 by more than 20 %). Every delivery costs the event loop (signing, the
 * HTTP client, its SQLite writes, which better-sqlite3 runs synchronously): at full speed against a fast
 * receiver that is most of the loop, and every request queues behind it.
 *
 * Unpaced while no API request arrives (or while the loop has room): a backlog drains as fast as the
 * concurrency allows. While requests arrive and the loop is busier than `busyUtilization`, a token
 * bucket caps deliveries/s, halved each tick the loop stays that busy (down to `floorPerSecond`) and
 * raised by a quarter each tick it has room again (additive increase, multiplicative decrease, as TCP
 * does for the same reason: take what is spare, give way at once when others wait). Deliveries are
 * claimed in small bursts (50 ms of the rate), so each turn of the loop holds a request back briefly.
 */
export class DeliveryPacer {
  readonly #tickMs: number;
  readonly #busyUtilization: number;
  readonly #floor: number;
  readonly #signals: PacerSignals;
  /** Deliveries/s allowed; Infinity = unpaced. */
  #rate = Number.POSITIVE_INFINITY;
  #tokens = 0;
  #refilledAt: number;
  #tickAt: number;
  #requestsAtTick: number;
  #takenInTick = 0;

  constructor(options: PacerOptions & { signals: PacerSignals }) {
    this.#tickMs = options.tickMs ?? 100;
    this.#busyUtilization = options.busyUtilization ?? 0.9;
    this.#floor = options.floorPerSecond ?? 100;
    this.#signals = options.signals;
    this.#refilledAt = this.#tickAt = this.#signals.now();
    this.#requestsAtTick = this.#signals.requests();
  }

  /** The current cap in deliveries/s (Infinity when unpaced), for tests and metrics. */
  get rate(): number {
    return this.#rate;
  }

  /** How many of `wanted` deliveries may be claimed now (0 when the bucket is empty: see {@link waitMs}). */
  take(wanted: number): number {
    const now = this.#signals.now();
    if (now - this.#tickAt >= this.#tickMs) this.#tick(now);
    let n = wanted;
    if (this.#rate !== Number.POSITIVE_INFINITY) {
      const burst = Math.max(1, this.#rate * 0.05);
      this.#tokens = Math.min(burst, this.#tokens + ((now - this.#refilledAt) / 1000) * this.#rate);
      n = Math.min(wanted, Math.floor(this.#tokens));
    }
    this.#refilledAt = now;
    return n;
  }

  /** Records that `n` deliveries were claimed (fewer than taken when fewer were due). */
  spend(n: number): void {
    this.#takenInTick += n;
    if (this.#rate !== Number.POSITIVE_INFINITY) this.#tokens = Math.max(0, this.#tokens - n);
  }

  /** Milliseconds until the next delivery may be claimed (0 when unpaced). */
  waitMs(): number {
    if (this.#rate === Number.POSITIVE_INFINITY) return 0;
    return Math.max(1, Math.ceil(((1 - this.#tokens) / this.#rate) * 1000));
  }

  #tick(now: number): void {
    const seconds = (now - this.#tickAt) / 1000;
    const requests = this.#signals.requests();
    const utilization = this.#signals.utilization();
    const apiActive = requests !== this.#requestsAtTick;
    // What was actually claimed: halving an infinite (or unused) rate would change nothing.
    const achieved = this.#takenInTick / seconds;
    if (!apiActive) {
      this.#rate = Number.POSITIVE_INFINITY;
    } else if (utilization > this.#busyUtilization) {
      this.#rate = Math.max(this.#floor, Math.min(this.#rate, achieved) / 2);
      this.#tokens = Math.min(this.#tokens, 1);
    } else if (this.#rate !== Number.POSITIVE_INFINITY) {
      // Growth only as far as twice what is used, so a cap never drifts far above the real rate (a
      // later halving must bite at once).
      this.#rate = Math.max(this.#floor, Math.min(this.#rate + Math.max(this.#floor, this.#rate / 4), 2 * achieved));
    }
    this.#tickAt = now;
    this.#requestsAtTick = requests;
    this.#takenInTick = 0;
  }
}
