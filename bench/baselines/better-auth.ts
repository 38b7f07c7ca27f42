/**
 * Competitor baseline: better-auth's API-key plugin (`@better-auth/api-key`, pinned 1.7.5) on a real
 * SQLite file through better-sqlite3, verifying with `auth.api.verifyApiKey` — the server-side call a
 * better-auth user makes to check a key.
 *
 * Configuration, chosen to be fair (and if anything generous) to better-auth:
 * - its per-key rate limiting is OFF (`rateLimit: { enabled: false }`), as the issue asks;
 * - default `storage: "database"`, no secondary storage (no Redis in this benchmark);
 * - the SQLite connection gets the same pragmas Tessera uses (WAL, synchronous=NORMAL, busy_timeout,
 *   foreign_keys) instead of SQLite's rollback-journal default, which would be much slower on writes.
 *
 * What one successful verifyApiKey does in 1.7.5 (read from dist/index.mjs: validateApiKey →
 * claimUsageInDatabase → consumeRateLimit), with rate limiting off:
 *   SHA-256 of the key → SELECT the apikey row by hashed key → UPDATE apikey SET lastRequest
 *   → UPDATE apikey SET updatedAt. That is one read and two row writes per verification; there is no cache.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { apiKey } from "@better-auth/api-key";
import { betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import Database from "better-sqlite3";

export interface BetterAuthBaseline {
  /** The plaintext keys, as returned once by `createApiKey`. */
  keys: string[];
  /** `auth.api.verifyApiKey({ body: { key } })` → its `valid`. */
  verify(key: string): Promise<boolean>;
  /** Rows changed on the connection so far (SQLite `total_changes()`); diff it around calls to count writes. */
  totalChanges(): number;
  /** Path of the SQLite file. */
  file: string;
  close(): Promise<void>;
}

/** better-auth logs every failed verification at error level; drop that one expected line, keep the rest. */
function benchLogger(level: string, message: string, ...args: unknown[]): void {
  if (message.startsWith("Failed to validate API key")) return;
  console.error(`[better-auth ${level}]`, message, ...args);
}

export async function createBetterAuthBaseline(opts: { keys: number; dir: string }): Promise<BetterAuthBaseline> {
  if (!Number.isInteger(opts.keys) || opts.keys < 1) throw new RangeError("keys must be a positive integer");
  const file = join(opts.dir, "better-auth.sqlite");
  // Start from an empty database so that repeated runs measure the same thing.
  for (const suffix of ["", "-wal", "-shm"]) rmSync(file + suffix, { force: true });

  // BENCH_SQL_TRACE=1 prints every statement better-auth runs (how the per-verify writes were found).
  const db = new Database(file, process.env.BENCH_SQL_TRACE ? { verbose: (m?: unknown) => console.log("SQL", m) } : {});
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("busy_timeout = 5000");
  db.pragma("foreign_keys = ON");

  const options = {
    database: db,
    // Fixed values so better-auth neither warns about a missing secret/baseURL nor tries to infer them.
    secret: "tessera-bench-secret-not-used-for-anything-0123456789",
    baseURL: "http://127.0.0.1:3000",
    telemetry: { enabled: false },
    // Only used to create the one user that owns the keys, through better-auth's public sign-up endpoint.
    emailAndPassword: { enabled: true },
    logger: { level: "warn" as const, log: benchLogger },
    plugins: [apiKey({ rateLimit: { enabled: false } })],
  };

  // Same code path as `npx auth migrate`: plan the schema diff for these options and apply it.
  const { runMigrations } = await getMigrations(options);
  await runMigrations();

  const auth = betterAuth(options);
  const { user } = await auth.api.signUpEmail({
    body: { email: "bench@example.com", password: "bench-password-0123456789", name: "Bench User" },
  });

  // Keys are created one by one through the plugin's own endpoint (server-side call with `userId`),
  // so rows, hashing and defaults are exactly what better-auth produces.
  const keys: string[] = [];
  for (let i = 0; i < opts.keys; i++) {
    const created = await auth.api.createApiKey({ body: { userId: user.id, name: `bench-${i}` } });
    keys.push(created.key);
  }

  const changes = db.prepare<[], { n: number }>("SELECT total_changes() AS n");
  return {
    keys,
    file,
    verify: async (key: string): Promise<boolean> => {
      const result = await auth.api.verifyApiKey({ body: { key } });
      return result.valid;
    },
    totalChanges: () => (changes.get() as { n: number }).n,
    close: async () => {
      db.close();
    },
  };
}
