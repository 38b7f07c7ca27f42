/**
 * When a failed delivery is tried again (ms after the failed attempt, by number of failures so far). The
 * sum is 32 h 35 min: past 24 hours, as SPEC §10 asks, so an endpoint down over a whole day still gets
 * everything once it is back. After the last, the delivery is given up and the endpoint marked failing.
 */
export const DEFAULT_RETRY_SCHEDULE_MS: readonly number[] = [
  5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000, 28_800_000, 28_800_000, 28_800_000,
];

/**
 * The delay before the next attempt after `failures` failed ones (1-based), or null to give up. ±20 %
 * jitter so that deliveries failing together (an endpoint that went down) do not all return at once.
 */
export function nextRetryDelay(schedule: readonly number[], failures: number, random: () => number = Math.random): number | null {
  const base = schedule[failures - 1];
  if (base === undefined) return null;
  return Math.round(base * (0.8 + 0.4 * random()));
}
