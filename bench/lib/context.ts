import { mkdtempSync } from "node:fs";
import { join } from "node:path";

/** What every scenario gets from the runner. */
export interface BenchContext {
  /** BENCH_QUICK=1: fewer, shorter rounds and smaller data sets (a smoke run, figures indicative only). */
  quick: boolean;
  /** This run's temporary directory (removed at the end, even on failure). */
  tmp: string;
  /** Whether PostgreSQL answers at BENCH_PG_URL (scenarios d, e, f skip their PostgreSQL parts otherwise). */
  postgres: boolean;
  /** BENCH_CPU_PROF=<dir>: every Tessera server writes a V8 CPU profile there when it stops. */
  cpuProfileDir: string | undefined;
  /** Progress line on stdout, prefixed with the elapsed time of the run. */
  log(message: string): void;
}

/** A fresh directory under the run's temporary directory. */
export function tempDir(ctx: BenchContext, name: string): string {
  return mkdtempSync(join(ctx.tmp, `${name}-`));
}

/** `quick` or `full` value depending on BENCH_QUICK. */
export function pick<T>(ctx: BenchContext, full: T, quick: T): T {
  return ctx.quick ? quick : full;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
