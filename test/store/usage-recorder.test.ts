import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newId } from "../../src/core/ids.js";
import { DEFAULT_ORG_SETTINGS } from "../../src/core/settings.js";
import { generateToken, hashToken } from "../../src/core/token-format.js";
import { blankToken, type TokenRecord } from "../../src/core/tokens.js";
import { UsageRecorder } from "../../src/services/usage-recorder.js";
import { createStore, migrate, type Store } from "../../src/store/database.js";
import { insertOrg, type OrgRecord } from "../../src/store/orgs-repository.js";
import { findTokenById, insertToken } from "../../src/store/tokens-repository.js";
import { listTokenRequests, listUsage } from "../../src/store/usage-repository.js";
import { createPostgresDatabase, dialects, type TestDatabase } from "../support/databases.js";

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 15, 10, 0, 0);

function tokenRecord(orgId: string): TokenRecord {
  const generated = generateToken("tsr", "live");
  return {
    ...blankToken(T0),
    id: newId("token"),
    orgId,
    kind: "service",
    name: "used",
    prefix: generated.displayPrefix,
    last4: generated.last4,
    scopes: ["tokens:read"],
  };
}

/**
 * The usage recorder against real storage: on SQLite it writes from a worker thread with its own
 * connection (the main connection writes nothing), on PostgreSQL through the store; both must add up
 * exactly, keep the newest last use, and keep a failed flush's counts for the next one.
 */
describe.each(await dialects())("usage recorder on %s", (dialect) => {
  let store: Store;
  let dataDir: string;
  let database: TestDatabase | undefined;
  let org: OrgRecord;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "tessera-usage-"));
    database = dialect === "postgres" ? await createPostgresDatabase() : undefined;
    store = createStore({ databaseUrl: database?.url, dataDir });
    await migrate(store);
    org = { id: newId("organization"), name: "Acme", settings: { ...DEFAULT_ORG_SETTINGS }, createdAt: T0, updatedAt: T0 };
    await insertOrg(store.db, org);
  });

  afterAll(async () => {
    await store?.close();
    await database?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function newToken(): Promise<TokenRecord> {
    const token = tokenRecord(org.id);
    await insertToken(store.db, token, hashToken(generateToken("tsr", "live").secret));
    return token;
  }

  it("writes counts, hour buckets, last use and the history exactly (SQLite: not on the main connection)", async () => {
    const recorder = new UsageRecorder(store, 0);
    try {
      const a = await newToken();
      const b = await newToken();
      const ca = recorder.counter(a.id);
      ca.add(true, "198.51.100.1", T0 + 10);
      ca.request(T0 + 10, "VALID", "198.51.100.1", "curl/8", ["tokens:read"]);
      ca.add(false, "198.51.100.2", T0 + 20);
      ca.request(T0 + 20, "INSUFFICIENT_SCOPE", "198.51.100.2", null, ["tokens:write"]);
      ca.add(true, "198.51.100.3", T0 + HOUR + 5);
      ca.request(T0 + HOUR + 5, "VALID", "198.51.100.3", null, undefined);
      const cb = recorder.counter(b.id);
      for (let i = 0; i < 600; i++) {
        cb.add(true, "192.0.2.1", T0 + i);
        cb.request(T0 + i, "VALID", "192.0.2.1", null, undefined);
      }
      const writes = store.stats.writes;
      await recorder.flush();
      // The worker's connection wrote it all (600 history rows span several transactions).
      if (dialect === "sqlite") expect(store.stats.writes).toBe(writes);

      expect(await findTokenById(store.db, a.id)).toMatchObject({
        usageCount: 2,
        lastUsedAt: T0 + HOUR + 5,
        lastUsedIp: "198.51.100.3",
      });
      expect(await listUsage(store.db, a.id, T0, T0 + 2 * HOUR)).toEqual([
        { start: T0, ok: 1, denied: 1 },
        { start: T0 + HOUR, ok: 1, denied: 0 },
      ]);
      const history = await listTokenRequests(store.db, a.id, undefined, 10);
      expect(history.map((r) => [r.at, r.code, r.ip, r.userAgent, r.scopes])).toEqual([
        [T0 + HOUR + 5, "VALID", "198.51.100.3", null, []],
        [T0 + 20, "INSUFFICIENT_SCOPE", "198.51.100.2", null, ["tokens:write"]],
        [T0 + 10, "VALID", "198.51.100.1", "curl/8", ["tokens:read"]],
      ]);
      // One history batch for the token's flush.
      expect(new Set(history.map((r) => r.position.batchId)).size).toBe(1);
      expect(history.map((r) => r.position.index)).toEqual([0, 1, 2]);
      expect(await findTokenById(store.db, b.id)).toMatchObject({ usageCount: 600, lastUsedAt: T0 + 599 });
      expect(await listTokenRequests(store.db, b.id, undefined, 1000)).toHaveLength(600);

      // A later flush with an older last use (another instance's, late) adds its count, keeps the newest use.
      recorder.counter(a.id).add(true, "203.0.113.9", T0 + 1);
      await recorder.flush();
      expect(await findTokenById(store.db, a.id)).toMatchObject({
        usageCount: 3,
        lastUsedAt: T0 + HOUR + 5,
        lastUsedIp: "198.51.100.3",
      });
    } finally {
      await recorder.close();
    }
  });

  it("keeps a failed flush's counts and writes them with the next one", async () => {
    const recorder = new UsageRecorder(store, 0);
    try {
      const known = await newToken();
      // Usage of a token not (yet) in storage: its bucket breaks the foreign key, the transaction fails.
      const missing = tokenRecord(org.id);
      recorder.counter(known.id).add(true, "192.0.2.7", T0 + 1);
      recorder.counter(known.id).request(T0 + 1, "VALID", "192.0.2.7", null, undefined);
      recorder.counter(missing.id).add(false, null, T0 + 2);
      await expect(recorder.flush()).rejects.toThrow();
      expect(await findTokenById(store.db, known.id)).toMatchObject({ usageCount: 0, lastUsedAt: null });

      // Counting goes on meanwhile; once the token exists, the next flush writes both intervals.
      recorder.counter(known.id).add(true, "192.0.2.8", T0 + 3);
      await insertToken(store.db, missing, hashToken(generateToken("tsr", "live").secret));
      await recorder.flush();
      expect(await findTokenById(store.db, known.id)).toMatchObject({
        usageCount: 2,
        lastUsedAt: T0 + 3,
        lastUsedIp: "192.0.2.8",
      });
      expect(await listUsage(store.db, known.id, T0, T0 + HOUR)).toEqual([{ start: T0, ok: 2, denied: 0 }]);
      expect(await listUsage(store.db, missing.id, T0, T0 + HOUR)).toEqual([{ start: T0, ok: 0, denied: 1 }]);
      expect(await listTokenRequests(store.db, known.id, undefined, 10)).toHaveLength(1);
    } finally {
      await recorder.close();
    }
  });

  it("writes of the store during a long flush wait their turn and succeed, the flush stays exact", async () => {
    const recorder = new UsageRecorder(store, 0);
    try {
      const tokens = await Promise.all(Array.from({ length: 20 }, () => newToken()));
      for (const token of tokens) {
        const counter = recorder.counter(token.id);
        for (let i = 0; i < 500; i++) {
          counter.add(true, "192.0.2.1", T0 + i);
          counter.request(T0 + i, "VALID", "192.0.2.1", null, ["tokens:read"]);
        }
      }
      // 10,000 history rows (40 transactions) while the main connection inserts tokens between them.
      const flushing = recorder.flush();
      const created = await Promise.all(Array.from({ length: 20 }, () => newToken()));
      await flushing;
      for (const token of tokens) expect(await findTokenById(store.db, token.id)).toMatchObject({ usageCount: 500 });
      for (const token of created) expect(await findTokenById(store.db, token.id)).toMatchObject({ usageCount: 0 });
      expect(await listTokenRequests(store.db, tokens[7]!.id, undefined, 1000)).toHaveLength(500);
    } finally {
      await recorder.close();
    }
  });

  it.runIf(dialect === "sqlite")("the worker starts no transaction while the main connection signals a write", async () => {
    const recorder = new UsageRecorder(store, 0);
    const writing = store.sqliteWriting!;
    try {
      const token = await newToken();
      recorder.counter(token.id).add(true, "192.0.2.5", T0 + 5);
      Atomics.store(writing, 0, 1);
      const flushing = recorder.flush();
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await findTokenById(store.db, token.id)).toMatchObject({ usageCount: 0 });
      Atomics.store(writing, 0, 0);
      Atomics.notify(writing, 0);
      await flushing;
      expect(await findTokenById(store.db, token.id)).toMatchObject({ usageCount: 1, lastUsedAt: T0 + 5 });
    } finally {
      Atomics.store(writing, 0, 0);
      await recorder.close();
    }
  });

  it("close writes what was counted", async () => {
    const recorder = new UsageRecorder(store, 60_000);
    const token = await newToken();
    recorder.counter(token.id).add(true, "192.0.2.9", T0 + 7);
    await recorder.close();
    expect(await findTokenById(store.db, token.id)).toMatchObject({ usageCount: 1, lastUsedAt: T0 + 7 });
  });
});
