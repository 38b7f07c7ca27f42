import { createRequire } from "node:module";
import type pg from "pg";

let driver: typeof pg | undefined;

/**
 * The pg driver, loaded on first use rather than imported: a process on embedded SQLite (most CLI
 * commands, `tessera scan`) never pays for loading it. pg is CommonJS, so a synchronous require is
 * the same module object `import pg from "pg"` gives.
 */
export function pgDriver(): typeof pg {
  driver ??= createRequire(import.meta.url)("pg") as typeof pg;
  return driver;
}
