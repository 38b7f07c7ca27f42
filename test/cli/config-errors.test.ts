import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCli } from "../support/cli.js";

/**
 * Start-up mistakes (issue 12): each names the variable and its value, exits 2 without a stack, and
 * never hangs (TESSERA_DATA_DIR=/proc/tessera used to spin at full CPU with no output).
 */

const dataDir = mkdtempSync(join(tmpdir(), "tessera-config-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** A process start through tsx on a loaded machine takes seconds; a hang takes the whole 60 s runner timeout. */
const BOUND_MS = 30_000;

const cases: [string, Record<string, string>, RegExp][] = [
  [
    "a data directory under /proc",
    { TESSERA_DATA_DIR: "/proc/tessera" },
    /cannot create the data directory \/proc\/tessera \(TESSERA_DATA_DIR\): ENOENT/,
  ],
  [
    "a data directory under a file",
    { TESSERA_DATA_DIR: "/dev/null/tessera" },
    /cannot create the data directory \/dev\/null\/tessera \(TESSERA_DATA_DIR\): ENOTDIR/,
  ],
  [
    "a loud log level",
    { TESSERA_LOG_LEVEL: "loud" },
    /^tessera: TESSERA_LOG_LEVEL="loud": must be one of fatal, error, warn, info, debug, trace, silent\n$/,
  ],
  [
    "a malformed database URL",
    { TESSERA_DATABASE_URL: "postgres://bob:hunter2@db:port/tessera" },
    /^tessera: TESSERA_DATABASE_URL="postgres:\/\/bob:\*\*\*@db:port\/tessera": is not a valid URL/,
  ],
  [
    "a database URL of another kind",
    { TESSERA_DATABASE_URL: "mysql://bob:hunter2@db/tessera" },
    /^tessera: TESSERA_DATABASE_URL="mysql:\/\/bob:\*\*\*@db\/tessera": expected a postgres:\/\/ or postgresql:\/\/ URL/,
  ],
  [
    "a hexadecimal port",
    { TESSERA_PORT: "0x1C96" },
    /^tessera: TESSERA_PORT="0x1C96": must be a whole number from 0 to 65535 \(decimal digits only\)\n$/,
  ],
  ["a port out of range", { TESSERA_PORT: "70000" }, /^tessera: TESSERA_PORT="70000": must be a whole number from 0 to 65535/],
  [
    "a Redis URL that is not one",
    { TESSERA_REDIS_URL: "localhost:6379" },
    /^tessera: TESSERA_REDIS_URL="localhost:6379": expected a redis:\/\/ or rediss:\/\/ URL/,
  ],
  [
    "a TLS certificate that does not exist",
    { TESSERA_TLS_CERT: "/nonexistent/cert.pem", TESSERA_TLS_KEY: "/nonexistent/key.pem" },
    /^tessera: TESSERA_TLS_CERT="\/nonexistent\/cert.pem": cannot read the file \(ENOENT\)/,
  ],
  [
    "an unreachable PostgreSQL",
    { TESSERA_DATABASE_URL: "postgres://postgres:hunter2@127.0.0.1:1/tessera" },
    /^tessera: cannot use the PostgreSQL database at 127.0.0.1:1\/tessera \(TESSERA_DATABASE_URL\): .*ECONNREFUSED/,
  ],
];

describe.concurrent("configuration errors", () => {
  it.each(cases)(
    "%s: exit 2, the variable and value named, no stack, no hang",
    { timeout: BOUND_MS + 10_000 },
    async (_, env, message) => {
      const started = Date.now();
      const run = await runCli(["token", "list", "--org", "org_x"], { TESSERA_DATA_DIR: dataDir, ...env });
      expect(Date.now() - started).toBeLessThan(BOUND_MS);
      expect(run.code, run.stderr).toBe(2);
      expect(run.stdout).toBe("");
      expect(run.stderr).toMatch(message);
      expect(run.stderr).not.toMatch(/\n\s+at /);
      expect(run.stderr).not.toContain("hunter2");
    },
  );
});
