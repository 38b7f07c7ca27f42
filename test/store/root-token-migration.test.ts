import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Migrator } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newId } from "../../src/core/ids.js";
import { hashToken } from "../../src/core/token-format.js";
import { blankToken } from "../../src/core/tokens.js";
import { createStore, migrate, type Store } from "../../src/store/database.js";
import { instanceScopesFor } from "../../src/store/migrations/2026-12-02T10-00-root-token-scopes.js";
import { migrationProvider } from "../../src/store/migrations/index.js";
import { findTokenById, insertToken } from "../../src/store/tokens-repository.js";
import { createPostgresDatabase, dialects, type TestDatabase } from "../support/databases.js";

/** Issue 9 finding 9: legacy root tokens' management scopes become instance scopes, granting nothing new. */

const ALL_LEGACY = [
  "tokens:read",
  "tokens:write",
  "tokens:verify",
  "members:read",
  "members:write",
  "audit:read",
  "org:read",
  "org:write",
];

describe("instanceScopesFor (the legacy mapping)", () => {
  it.each([
    { legacy: ALL_LEGACY, expected: ["instance:admin", "tokens:verify"] },
    { legacy: ["tokens:*", "members:*", "audit:read", "org:*"], expected: ["instance:admin", "tokens:verify"] },
    { legacy: ALL_LEGACY.filter((s) => s !== "org:write"), expected: ["tokens:verify"] },
    { legacy: ALL_LEGACY.filter((s) => s !== "tokens:verify"), expected: [] },
    { legacy: ["org:read"], expected: [] },
    { legacy: ["tokens:verify"], expected: ["tokens:verify"] },
    { legacy: ["everything", "*"], expected: [] },
    // Literal instance scopes in an old list were never enforced: they grant nothing now either.
    { legacy: ["instance:admin", "orgs:provision"], expected: [] },
    { legacy: [], expected: [] },
  ])("$legacy → $expected", ({ legacy, expected }) => {
    expect(instanceScopesFor(legacy)).toEqual(expected);
  });
});

describe.each(await dialects())("the root-token-scopes migration on %s", (dialect) => {
  let store: Store;
  let dir: string;
  let database: TestDatabase | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "tessera-migration-"));
    database = dialect === "postgres" ? await createPostgresDatabase() : undefined;
    store = createStore({ databaseUrl: database?.url, dataDir: dir });
    const migrator = new Migrator({ db: store.db, provider: migrationProvider });
    const { error } = await migrator.migrateTo("2026-11-23T12-00-initial");
    if (error) throw error;
  });
  afterAll(async () => {
    await store?.close();
    await database?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("maps every legacy root token, audits each change, and leaves organisation tokens alone", async () => {
    const now = Date.now();
    const root = (name: string, scopes: string[]) => ({
      ...blankToken(now),
      id: newId("token"),
      kind: "root" as const,
      name,
      prefix: "tsr_live_abcdef",
      last4: "wxyz",
      scopes,
    });
    const full = root("ops", ALL_LEGACY);
    const readOnly = root("read only", ["org:read"]);
    const junk = root("junk", ["everything", "*"]);
    for (const t of [full, readOnly, junk]) await insertToken(store.db, t, hashToken(`${t.id}-secret`));
    // An organisation's service token with the same scopes is not touched (its scopes are organisation scopes).
    const orgId = newId("organization");
    await store.db
      .insertInto("organizations")
      .values({ id: orgId, name: "Acme", settings: "{}", created_at: now, updated_at: now })
      .execute();
    const service = { ...root("svc", ["org:read"]), kind: "service" as const, orgId };
    await insertToken(store.db, service, hashToken("svc-secret"));

    expect(await migrate(store.db)).toContain("2026-12-02T10-00-root-token-scopes");

    expect((await findTokenById(store.db, full.id))!.scopes).toEqual(["instance:admin", "tokens:verify"]);
    expect((await findTokenById(store.db, readOnly.id))!.scopes).toEqual([]);
    expect((await findTokenById(store.db, junk.id))!.scopes).toEqual([]);
    expect((await findTokenById(store.db, service.id))!.scopes).toEqual(["org:read"]);
    const events = await store.db.selectFrom("audit_events").selectAll().where("action", "=", "token.scopes_changed").execute();
    expect(events.map((e) => e.target_id).sort()).toEqual([full.id, readOnly.id, junk.id].sort());
    const ofFull = events.find((e) => e.target_id === full.id)!;
    expect(ofFull.actor_type).toBe("system");
    expect(JSON.parse(ofFull.details)).toMatchObject({ from: ALL_LEGACY, to: ["instance:admin", "tokens:verify"] });
  });
});
