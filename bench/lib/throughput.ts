import { latencySummary } from "./stats.js";

export interface ThroughputResult {
  /** Completed operations per second over the measured window. */
  opsPerSec: number;
  ops: number;
  elapsedMs: number;
  /** Per-operation latency in milliseconds (from call to settled promise). */
  p50: number;
  p99: number;
  max: number;
  concurrency: number;
}

/**
 * Calls `op` repeatedly for about `durationMs` with `concurrency` calls in flight (1 = sequential awaits)
 * and reports throughput and latency. `op(i)` receives a running index so callers can rotate over keys.
 *
 * Any rejection aborts the measurement: a benchmark that silently counts failures as work is worse than none.
 * The clock is checked between calls, so the window overruns by at most one call per worker.
 */
export async function measureAsync(
  op: (i: number) => Promise<unknown>,
  opts: { durationMs: number; concurrency?: number; warmupMs?: number },
): Promise<ThroughputResult> {
  const concurrency = opts.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError("concurrency must be a positive integer");

  let next = 0;
  if (opts.warmupMs && opts.warmupMs > 0) {
    const warmEnd = performance.now() + opts.warmupMs;
    const warmWorker = async (): Promise<void> => {
      while (performance.now() < warmEnd) await op(next++);
    };
    await Promise.all(Array.from({ length: concurrency }, warmWorker));
  }

  // Latencies go into a growable Float64Array rather than a number[] to keep GC pressure out of the figures.
  let latencies = new Float64Array(1 << 16);
  let count = 0;
  const start = performance.now();
  const end = start + opts.durationMs;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const t0 = performance.now();
      await op(next++);
      const dt = performance.now() - t0;
      if (count === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[count++] = dt;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsedMs = performance.now() - start;
  if (count === 0) throw new Error("measureAsync: no operation completed within the window");
  return {
    opsPerSec: (count / elapsedMs) * 1000,
    ops: count,
    elapsedMs,
    ...latencySummary(latencies.subarray(0, count)),
    concurrency,
  };
}

/**
 * Synchronous counterpart for tight loops (e.g. the "bare SHA-256 + Map lookup" limit): runs `op` in
 * batches and checks the clock once per batch so that `performance.now()` does not dominate the loop.
 */
export function measureSync(
  op: (i: number) => unknown,
  opts: { durationMs: number; batch?: number },
): {
  opsPerSec: number;
  ops: number;
  elapsedMs: number;
} {
  const batch = opts.batch ?? 1024;
  let i = 0;
  // Accumulate something from each result so the JIT cannot drop the work as dead code.
  let sink = 0;
  const start = performance.now();
  const end = start + opts.durationMs;
  while (performance.now() < end) {
    for (let j = 0; j < batch; j++) if (op(i++) !== undefined) sink++;
  }
  const elapsedMs = performance.now() - start;
  if (sink < 0) console.log(sink); // never true; keeps `sink` observable
  return { opsPerSec: (i / elapsedMs) * 1000, ops: i, elapsedMs };
}

/**
 * Sequential `await op(i)` in batches, checking the clock once per batch and recording no per-call
 * latency: the async counterpart of {@link measureSync}, so that an in-process verifier and a synchronous
 * limit loop carry the same (negligible) measurement overhead.
 */
export async function measureAsyncLoop(
  op: (i: number) => Promise<unknown>,
  opts: { durationMs: number; warmupMs?: number; batch?: number },
): Promise<{ opsPerSec: number; ops: number; elapsedMs: number }> {
  const batch = opts.batch ?? 256;
  let i = 0;
  if (opts.warmupMs && opts.warmupMs > 0) {
    const warmEnd = performance.now() + opts.warmupMs;
    while (performance.now() < warmEnd) for (let j = 0; j < batch; j++) await op(i++);
  }
  const first = i;
  const start = performance.now();
  const end = start + opts.durationMs;
  while (performance.now() < end) {
    for (let j = 0; j < batch; j++) await op(i++);
  }
  const elapsedMs = performance.now() - start;
  return { opsPerSec: ((i - first) / elapsedMs) * 1000, ops: i - first, elapsedMs };
}
