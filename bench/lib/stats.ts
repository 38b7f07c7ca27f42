/**
 * Small, dependency-free statistics helpers for the benchmark.
 *
 * Percentiles use the nearest-rank method on a sorted copy: no interpolation, so a reported p99 is
 * always a latency that was actually observed.
 */

/** Sorted ascending copy (numeric sort; the default Array#sort is lexicographic). */
function sortedCopy(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values).sort();
}

/** Nearest-rank percentile, `p` in [0, 100]. Throws on an empty sample: a missing figure must not read as 0. */
export function percentile(values: ArrayLike<number>, p: number): number {
  if (values.length === 0) throw new RangeError("percentile of an empty sample");
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile out of range: ${p}`);
  return percentileOfSorted(sortedCopy(values), p);
}

/** Same as {@link percentile} for input already sorted ascending (avoids re-sorting large samples). */
export function percentileOfSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) throw new RangeError("percentile of an empty sample");
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] as number;
}

/** Median; for an even count, the mean of the two middle values. */
export function median(values: ArrayLike<number>): number {
  if (values.length === 0) throw new RangeError("median of an empty sample");
  const s = sortedCopy(values);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function mean(values: ArrayLike<number>): number {
  if (values.length === 0) throw new RangeError("mean of an empty sample");
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i] as number;
  return sum / values.length;
}

/** p50/p99/max of a latency sample, in the sample's unit. */
export function latencySummary(values: ArrayLike<number>): { p50: number; p99: number; max: number } {
  const s = sortedCopy(values);
  return { p50: percentileOfSorted(s, 50), p99: percentileOfSorted(s, 99), max: s[s.length - 1] as number };
}

export interface Scenario<T> {
  name: string;
  run: () => Promise<T>;
}

export interface Round<A, B> {
  round: number;
  /** Which scenario ran first in this round. */
  first: "a" | "b";
  a: A;
  b: B;
  /** value(a) / value(b). */
  ratio: number;
}

export interface AlternatingResult<A, B> {
  rounds: Round<A, B>[];
  medianA: number;
  medianB: number;
  /** Median of the per-round ratios (not the ratio of the medians: each ratio compares two runs done back to back). */
  medianRatio: number;
  minRatio: number;
  maxRatio: number;
}

/**
 * Runs two scenarios in `rounds` back-to-back pairs and compares them round by round.
 *
 * The order flips every round (a,b / b,a / a,b …) so that slow drift of the machine (thermal state, page
 * cache, a neighbour's load) does not systematically favour the scenario that always runs first or last.
 * `value` extracts the figure to compare (e.g. req/s); the ratio is value(a) / value(b).
 */
export async function runAlternatingRounds<A, B>(opts: {
  rounds: number;
  a: Scenario<A>;
  b: Scenario<B>;
  valueA: (result: A) => number;
  valueB: (result: B) => number;
  /** Called after each round, e.g. to print progress. */
  onRound?: (round: Round<A, B>) => void;
  /** Pause between runs so sockets in TIME_WAIT / GC of the previous run do not leak into the next. */
  pauseMs?: number;
}): Promise<AlternatingResult<A, B>> {
  if (!Number.isInteger(opts.rounds) || opts.rounds < 1) throw new RangeError("rounds must be a positive integer");
  const pause = (): Promise<void> => new Promise((r) => setTimeout(r, opts.pauseMs ?? 250));
  const rounds: Round<A, B>[] = [];
  for (let i = 0; i < opts.rounds; i++) {
    const first = i % 2 === 0 ? "a" : "b";
    let a: A;
    let b: B;
    if (first === "a") {
      a = await opts.a.run();
      await pause();
      b = await opts.b.run();
    } else {
      b = await opts.b.run();
      await pause();
      a = await opts.a.run();
    }
    await pause();
    const round: Round<A, B> = { round: i + 1, first, a, b, ratio: opts.valueA(a) / opts.valueB(b) };
    rounds.push(round);
    opts.onRound?.(round);
  }
  const ratios = rounds.map((r) => r.ratio);
  return {
    rounds,
    medianA: median(rounds.map((r) => opts.valueA(r.a))),
    medianB: median(rounds.map((r) => opts.valueB(r.b))),
    medianRatio: median(ratios),
    minRatio: Math.min(...ratios),
    maxRatio: Math.max(...ratios),
  };
}
