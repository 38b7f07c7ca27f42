import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStore, type Store } from "../../src/store/database.js";
import { migrationProvider } from "../../src/store/migrations/index.js";
import { runCli } from "../support/cli.js";
import { createPostgresDatabase, dialects, type TestDatabase } from "../support/databases.js";
import { killAllServers, request, type ServerProcess, startServer } from "../support/processes.js";

/**
 * Start-up on a fresh database (SPEC: hardening): four instances started at the same moment all become
 * ready, each migration applied once; `tessera migrate --dry-run` lists what is pending without applying
 * it; an instance older than the database's schema refuses to start and says why.
 */

const INSTANCES = 4;
const FUTURE = "2099-01-01T00-00-from-a-newer-tessera";
const known = Object.keys(await migrationProvider.getMigrations()).sort();

describe.each(await dialects())("start-up and migrations on %s", (dialect) => {
  let dataDir: string;
  let database: TestDatabase | undefined;
  let env: Record<string, string>;
  let store: Store;
  const servers: ServerProcess[] = [];

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "tessera-startup-"));
    database = dialect === "postgres" ? await createPostgresDatabase() : undefined;
    // A long wait for PostgreSQL: four instances start at once while other suites run, and this file is
    // about migrations racing, not about timeouts (a background poll's 2 s connection timeout once
    // printed an error here on a busy CI machine; the instance retried, as it should).
    env = {
      TESSERA_DATA_DIR: dataDir,
      ...(database ? { TESSERA_DATABASE_URL: database.url, TESSERA_DB_TIMEOUT_MS: "20000" } : {}),
    };
  });

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop("SIGKILL")));
    killAllServers();
    await store?.close();
    await database?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const recorded = async () =>
    (await sql<{ name: string }>`select name from kysely_migration order by name`.execute(store.db)).rows.map((r) => r.name);

  it("lists every migration as pending on a fresh database, and applies none of them", { timeout: 60_000 }, async () => {
    const run = await runCli(["migrate", "--dry-run"], env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim().split("\n")).toEqual(known);
    expect(run.stderr).toMatch(new RegExp(`${known.length} pending`));
    store = createStore({ databaseUrl: database?.url, dataDir });
    const tables = await store.db.introspection.getTables({ withInternalKyselyTables: true });
    expect(tables.map((t) => t.name)).not.toContain("kysely_migration");
    expect(tables.map((t) => t.name)).not.toContain("tokens");
  });

  it(`starts ${INSTANCES} instances at the same moment on the fresh database; all become ready`, {
    timeout: 300_000,
  }, async () => {
    const started = await Promise.allSettled(Array.from({ length: INSTANCES }, () => startServer(env, undefined, 240_000)));
    for (const s of started) if (s.status === "fulfilled") servers.push(s.value);
    expect(started.filter((s) => s.status === "rejected").map((s) => String((s as PromiseRejectedResult).reason))).toEqual([]);
    for (const server of servers) {
      const ready = await request(server.base, "GET", "/readyz");
      expect(ready.status, server.output()).toBe(200);
      expect(server.output()).not.toMatch(/error|corrupted/i);
    }
    expect(await recorded()).toEqual(known);
    const run = await runCli(["migrate", "--dry-run"], env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(/up to date/i);
  });

  it("refuses to start, and to migrate, when the database was migrated by a newer Tessera", { timeout: 240_000 }, async () => {
    await sql`insert into kysely_migration (name, timestamp) values (${FUTURE}, ${new Date().toISOString()})`.execute(store.db);
    try {
      // Each exits at once with the reason, one after the other (on a busy machine, three at once may take over a minute) (a server that wrongly started would be killed after 60 s: code null).
      const runs = [];
      for (const args of [["serve"], ["migrate"], ["migrate", "--dry-run"]])
        runs.push(await runCli(args, { ...env, TESSERA_PORT: "0" }));
      for (const run of runs) {
        expect(run.code, run.stderr).toBe(2);
        expect(run.stderr).toMatch(/schema is newer than this Tessera/);
        expect(run.stderr).toContain(FUTURE);
      }
    } finally {
      await sql`delete from kysely_migration where name = ${FUTURE}`.execute(store.db);
    }
  });
});
