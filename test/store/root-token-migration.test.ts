import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newId } from "../../src/core/ids.js";
import { hashToken } from "../../src/core/token-format.js";
import { blankToken, type TokenRecord } from "../../src/core/tokens.js";
import type { Db } from "../../src/store/database.js";
import { migrate, type Store } from "../../src/store/database.js";
import { instanceScopesFor } from "../../src/store/migrations/2026-12-02T10-00-root-token-scopes.js";
import { findTokenById } from "../../src/store/tokens-repository.js";
import { dialects } from "../support/databases.js";
import { type MigrationStore, storeMigratedTo } from "../support/migrations.js";

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

/**
 * A token row as the initial schema held it (the database under test stops there): the repository's
 * insert writes the columns of the current schema, which later migrations add.
 */
async function insertLegacyToken(db: Db, t: TokenRecord, secretHash: string): Promise<void> {
  await db
    .insertInto("tokens")
    .values({
      id: t.id,
      org_id: t.orgId,
      kind: t.kind,
      name: t.name,
      prefix: t.prefix,
      last4: t.last4,
      environment: t.environment,
      scopes: JSON.stringify(t.scopes),
      allowed_ips: "[]",
      metadata: "{}",
      created_at: t.createdAt,
      updated_at: t.updatedAt,
    })
    .execute();
  await db
    .insertInto("token_secrets")
    .values({ hash: secretHash, token_id: t.id, created_at: t.createdAt, expires_at: null })
    .execute();
}

describe.each(await dialects())("the root-token-scopes migration on %s", (dialect) => {
  let opened: MigrationStore;
  let store: Store;

  beforeAll(async () => {
    opened = await storeMigratedTo(dialect, "2026-11-23T12-00-initial");
    store = opened.store;
  });
  afterAll(() => opened?.close());

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
    for (const t of [full, readOnly, junk]) await insertLegacyToken(store.db, t, hashToken(`${t.id}-secret`));
    // An organisation's service token with the same scopes is not touched (its scopes are organisation scopes).
    const orgId = newId("organization");
    await store.db
      .insertInto("organizations")
      .values({ id: orgId, name: "Acme", settings: "{}", created_at: now, updated_at: now })
      .execute();
    const service = { ...root("svc", ["org:read"]), kind: "service" as const, orgId };
    await insertLegacyToken(store.db, service, hashToken("svc-secret"));

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
