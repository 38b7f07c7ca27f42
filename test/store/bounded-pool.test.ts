import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { createStore, type Store } from "../../src/store/database.js";
import { StorageTimeoutError } from "../../src/store/pg-pool.js";
import { ADMIN_PG_URL, createPostgresDatabase, postgresAvailable, type TestDatabase } from "../support/databases.js";
import { TcpProxy } from "../support/processes.js";

/** TESSERA_DB_TIMEOUT_MS and the bounded PostgreSQL pool (src/store/pg-pool.ts) on a real PostgreSQL. */

describe("TESSERA_DB_TIMEOUT_MS", () => {
  it("defaults to 2000 and refuses what is not a whole number of ms from 100, naming the variable", () => {
    expect(loadConfig({}).dbTimeoutMs).toBe(2000);
    expect(loadConfig({ TESSERA_DB_TIMEOUT_MS: "5000" }).dbTimeoutMs).toBe(5000);
    for (const bad of ["abc", "50", "1.5", "-1"]) {
      expect(() => loadConfig({ TESSERA_DB_TIMEOUT_MS: bad })).toThrow(ConfigError);
      expect(() => loadConfig({ TESSERA_DB_TIMEOUT_MS: bad })).toThrow(/TESSERA_DB_TIMEOUT_MS/);
    }
  });
});

describe.skipIf(!(await postgresAvailable()))("the bounded PostgreSQL pool", () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let store: Store;
  const TIMEOUT = 400;

  beforeAll(async () => {
    database = await createPostgresDatabase();
    const admin = new URL(ADMIN_PG_URL);
    proxy = new TcpProxy({ host: admin.hostname, port: Number(admin.port || 5432) });
    await proxy.start();
    const proxied = new URL(database.url);
    proxied.hostname = "127.0.0.1";
    proxied.port = String(proxy.port);
    store = createStore({ databaseUrl: proxied.toString(), dataDir: "/nonexistent", poolSize: 2, timeoutMs: TIMEOUT });
  });

  afterAll(async () => {
    await store?.close();
    await proxy?.stop();
    await database?.drop();
  });

  const timed = async (run: () => Promise<unknown>) => {
    const started = performance.now();
    const error = await run().then(
      () => undefined,
      (e: unknown) => e,
    );
    return { error: error as { code?: string } | undefined, ms: performance.now() - started };
  };

  it("ends a slow statement at the bound (statement_timeout) and the pool keeps serving", async () => {
    const slow = await timed(() => sql`select pg_sleep(3)`.execute(store.db));
    expect(slow.error?.code).toMatch(/^(57014|ETIMEDOUT)$/);
    expect(slow.ms).toBeLessThan(TIMEOUT + 1_000);
    expect((await sql<{ one: number }>`select 1 as one`.execute(store.db)).rows).toEqual([{ one: 1 }]);
  });

  it("gives up on a database that never answers — open connections and new ones — and recovers after it", async () => {
    await Promise.all([1, 2].map(() => sql`select 1`.execute(store.db)));
    proxy.freeze();
    // Both pooled connections hang mid-statement; the third request waits for a connection.
    const hung = await Promise.all([1, 2, 3].map(() => timed(() => sql`select 1`.execute(store.db))));
    for (const h of hung) {
      expect(h.error).toBeDefined();
      expect(h.ms).toBeLessThan(2 * TIMEOUT + 1_000);
    }
    expect(hung.some((h) => h.error instanceof StorageTimeoutError)).toBe(true);
    // A transaction whose statement timed out does not leave its connection in the pool.
    const inTx = await timed(() => store.db.transaction().execute((trx) => sql`select 1`.execute(trx)));
    expect(inTx.error).toBeDefined();
    await proxy.stop();
    await proxy.start();
    for (let i = 0; i < 4; i++) {
      expect((await sql<{ one: number }>`select 1 as one`.execute(store.db)).rows).toEqual([{ one: 1 }]);
    }
  });
});
