import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { systemMeta } from "../../src/services/request-meta.js";
import { createTessera, type Tessera } from "../../src/tessera.js";
import { createPostgresDatabase, dialects, postgresAvailable, type TestDatabase } from "../support/databases.js";

const orgOf = new WeakMap<Tessera, string>();

/** The instance's organisation (set up on first use) and a way to make service tokens in it. */
async function seeded(tessera: Tessera) {
  const meta = systemMeta();
  let orgId = orgOf.get(tessera);
  if (!orgId) {
    const { organization } = await tessera.auth.setup(
      { email: "o@example.test", password: "correct horse battery", name: "O", organization: { name: "Org" } },
      meta,
    );
    orgId = organization.id;
    orgOf.set(tessera, orgId);
  }
  const access = await tessera.orgs.access({ type: "system" }, orgId);
  const make = async (name: string) => tessera.tokens.create(access, { name, kind: "service", scopes: ["tokens:read"] }, meta);
  return { access, make, meta, orgId };
}

function tessera(dataDir: string, databaseUrl?: string, extra: Record<string, string> = {}) {
  return createTessera(loadConfig({ TESSERA_DATA_DIR: dataDir, TESSERA_LOG_LEVEL: "silent", ...extra }, { databaseUrl }));
}

describe.each(await dialects())("verifier cache on %s", (dialect) => {
  let dir: string;
  let db: TestDatabase | undefined;
  let t: Tessera;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "tessera-cache-"));
    db = dialect === "postgres" ? await createPostgresDatabase() : undefined;
    t = await tessera(dir, db?.url);
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("neither reads nor writes storage on a warm verification", async () => {
    const { make } = await seeded(t);
    const { secret } = await make("warm");
    expect((await t.verifier.verify({ token: secret })).code).toBe("VALID");
    const before = { ...t.store.stats };
    const hitsBefore = t.verifier.stats.hits;
    for (let i = 0; i < 1000; i++) expect((await t.verifier.verify({ token: secret, ip: "10.0.0.1" })).code).toBe("VALID");
    expect(t.store.stats).toEqual(before);
    expect(t.verifier.stats.hits - hitsBefore).toBe(1000);
    // A malformed token never reaches storage, not even on the first try.
    expect((await t.verifier.verify({ token: "tsr_live_nope" })).code).toBe("MALFORMED");
    expect(t.store.stats).toEqual(before);
  });

  it("sees a revocation on the same instance at once", async () => {
    const { access, make, meta } = await seeded(t);
    const { token, secret } = await make("revoked-here");
    expect((await t.verifier.verify({ token: secret })).code).toBe("VALID");
    await t.tokens.transition(access, token.id, "suspend", undefined, meta);
    expect((await t.verifier.verify({ token: secret })).code).toBe("SUSPENDED");
    await t.tokens.transition(access, token.id, "revoke", undefined, meta);
    expect((await t.verifier.verify({ token: secret })).code).toBe("REVOKED");
  });
});

describe("usage batching", () => {
  it("counts exactly N verifications after a clean restart", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tessera-usage-"));
    try {
      const first = await tessera(dir);
      const { make } = await seeded(first);
      const { token, secret } = await make("counted");
      const n = 1234;
      for (let i = 0; i < n; i++) await first.verifier.verify({ token: secret, ip: "192.0.2.7" });
      for (let i = 0; i < 7; i++) await first.verifier.verify({ token: secret, scopes: ["audit:read"] });
      await first.close();
      const second = await tessera(dir);
      const access = await second.orgs.access({ type: "system" }, token.orgId!);
      const stored = await second.tokens.get(access, token.id);
      expect(stored.usageCount).toBe(n);
      expect(stored.lastUsedIp).toBe("192.0.2.7");
      const buckets = await second.tokens.usage(access, token.id, Date.now() - 3600_000, Date.now() + 1, "hour");
      expect(buckets.reduce((s, b) => s + b.ok, 0)).toBe(n);
      expect(buckets.reduce((s, b) => s + b.denied, 0)).toBe(7);
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.runIf(await postgresAvailable())("cross-instance invalidation on PostgreSQL", () => {
  let db: TestDatabase;
  let dirA: string;
  let dirB: string;
  let a: Tessera;
  let b: Tessera;

  beforeAll(async () => {
    db = await createPostgresDatabase();
    dirA = mkdtempSync(join(tmpdir(), "tessera-a-"));
    dirB = mkdtempSync(join(tmpdir(), "tessera-b-"));
    a = await tessera(dirA, db.url);
    b = await tessera(dirB, db.url);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await db?.drop();
    rmSync(dirA, { recursive: true, force: true });
    rmSync(dirB, { recursive: true, force: true });
  });

  async function delayUntil(check: () => Promise<boolean>, limitMs: number): Promise<number> {
    const start = performance.now();
    while (performance.now() - start < limitMs) {
      if (await check()) return performance.now() - start;
      await new Promise((r) => setTimeout(r, 2));
    }
    throw new Error(`not within ${limitMs} ms`);
  }

  it("refuses on B within 1 s a token revoked, suspended or deactivated on A", async () => {
    const { access, make, meta } = await seeded(a);
    for (const transition of ["revoke", "suspend", "deactivate"] as const) {
      const { token, secret } = await make(`cross-${transition}`);
      expect((await b.verifier.verify({ token: secret })).code).toBe("VALID");
      expect((await b.verifier.verify({ token: secret })).code).toBe("VALID");
      await a.tokens.transition(access, token.id, transition, undefined, meta);
      const ms = await delayUntil(async () => !(await b.verifier.verify({ token: secret })).valid, 1000);
      expect(ms).toBeLessThan(1000);
    }
  });

  it("carries regenerations, scope edits and member changes to B within 1 s", async () => {
    const { access, make, meta, orgId } = await seeded(a);
    // Regenerate without grace: the old secret dies on B too.
    const rotated = await make("cross-regenerate");
    expect((await b.verifier.verify({ token: rotated.secret })).code).toBe("VALID");
    await a.tokens.regenerate(access, rotated.token.id, {}, meta);
    await delayUntil(async () => (await b.verifier.verify({ token: rotated.secret })).code === "NOT_FOUND", 1000);
    // A scope edit: B stops granting the removed scope.
    const edited = await make("cross-scopes");
    expect((await b.verifier.verify({ token: edited.secret, scopes: ["tokens:read"] })).code).toBe("VALID");
    await a.tokens.update(access, edited.token.id, { scopes: ["org:read"] }, meta);
    await delayUntil(
      async () => (await b.verifier.verify({ token: edited.secret, scopes: ["tokens:read"] })).code === "INSUFFICIENT_SCOPE",
      1000,
    );
    // A member's personal token stops working on B when the member is removed on A.
    const { acceptUrl } = await a.accounts.invite(access, { email: "m@example.test", role: "member" }, meta);
    const joined = await a.accounts.accept(
      acceptUrl!.split("#token=")[1]!,
      null,
      { name: "M", password: "correct horse battery" },
      meta,
    );
    const member = { userId: joined.user.id };
    const memberAccess = await a.orgs.access({ type: "user", user: joined.user }, orgId);
    const personal = await a.tokens.create(memberAccess, { name: "mine" }, meta);
    expect((await b.verifier.verify({ token: personal.secret })).code).toBe("VALID");
    await a.orgs.removeMember(access, member.userId, meta);
    // Removal revokes the member's personal tokens here (SPEC §2), and B hears of it at once.
    await delayUntil(async () => (await b.verifier.verify({ token: personal.secret })).code === "REVOKED", 1000);
  });

  it("flushes B's cache when its LISTEN connection is cut, and keeps working", async () => {
    const { access, make, meta } = await seeded(a);
    const { token, secret } = await make("reconnect");
    expect((await b.verifier.verify({ token: secret })).code).toBe("VALID");
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    await admin.query(
      "select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and query ilike 'listen%' and pid <> pg_backend_pid()",
    );
    await admin.end();
    // While B's listener is down, A's change cannot reach it; B's reconnect must reset its cache.
    await a.tokens.transition(access, token.id, "revoke", undefined, meta);
    const ms = await delayUntil(async () => (await b.verifier.verify({ token: secret })).code === "REVOKED", 5000);
    expect(ms).toBeLessThan(5000);
  });
});

/** A fresh SQLite instance with this cache TTL and one service token in it, removed afterwards. */
async function withTtl(
  ttlMs: number,
  run: (t: Tessera, made: { token: { id: string }; secret: string }) => Promise<void>,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "tessera-ttl-"));
  const t = await tessera(dir, undefined, { TESSERA_CACHE_TTL_MS: String(ttlMs) });
  try {
    const { make } = await seeded(t);
    await run(t, await make("ttl"));
  } finally {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Changes storage behind the verifier's back, as a lost notification would look. */
const revokeBehindTheBack = (t: Tessera, tokenId: string) =>
  t.store.db.updateTable("tokens").set({ revoked_at: Date.now() }).where("id", "=", tokenId).execute();

describe("TTL fallback", () => {
  it("bounds staleness when no change notification arrives", () =>
    withTtl(300, async (t, { token, secret }) => {
      expect((await t.verifier.verify({ token: secret })).code).toBe("VALID");
      await revokeBehindTheBack(t, token.id);
      expect((await t.verifier.verify({ token: secret })).code).toBe("VALID");
      await new Promise((r) => setTimeout(r, 350));
      expect((await t.verifier.verify({ token: secret })).code).toBe("REVOKED");
    }));

  it("re-reads a token in use in the background before its TTL runs out, so no request waits for storage", () =>
    withTtl(500, async (t, { token, secret }) => {
      expect((await t.verifier.verify({ token: secret })).code).toBe("VALID");
      const { misses } = t.verifier.stats;
      await revokeBehindTheBack(t, token.id);
      // Past 80 % of the TTL: the answer still comes from the cache, and starts a re-read.
      await new Promise((r) => setTimeout(r, 420));
      const refreshesBefore = t.verifier.stats.refreshes;
      const queriesBefore = t.store.stats.queries;
      expect(t.verifier.check({ token: secret })).toMatchObject({ code: "VALID" });
      expect(t.verifier.stats.refreshes).toBe(refreshesBefore + 1);
      await new Promise((r) => setTimeout(r, 30));
      expect(t.store.stats.queries).toBeGreaterThan(queriesBefore);
      // The re-read saw the revocation before the TTL ran out, and nobody missed.
      expect((await t.verifier.verify({ token: secret })).code).toBe("REVOKED");
      expect(t.verifier.stats.misses).toBe(misses);
    }));

  it("keeps a token in steady use warm across many TTLs", () =>
    withTtl(400, async (t, { secret }) => {
      expect((await t.verifier.verify({ token: secret })).code).toBe("VALID");
      const { misses } = t.verifier.stats;
      for (let i = 0; i < 40; i++) {
        expect((await t.verifier.verify({ token: secret })).code).toBe("VALID");
        await new Promise((r) => setTimeout(r, 25));
      }
      expect(t.verifier.stats.misses).toBe(misses);
      expect(t.verifier.stats.refreshes).toBeGreaterThanOrEqual(2);
    }));
});
