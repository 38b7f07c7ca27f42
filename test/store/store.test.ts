import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newId } from "../../src/core/ids.js";
import type { Role } from "../../src/core/roles.js";
import { DEFAULT_ORG_SETTINGS } from "../../src/core/settings.js";
import { generateToken, hashToken } from "../../src/core/token-format.js";
import { blankToken, type TokenRecord } from "../../src/core/tokens.js";
import { type AuditEvent, insertEvents, listEvents } from "../../src/store/audit-repository.js";
import { createStore, migrate, type Store } from "../../src/store/database.js";
import { deleteSentMailBefore } from "../../src/store/mail-outbox-repository.js";
import {
  countOwners,
  deleteMembership,
  findMember,
  insertMembership,
  listMembers,
  listMembershipsOfUser,
  updateRole,
} from "../../src/store/memberships-repository.js";
import { migrationProvider } from "../../src/store/migrations/index.js";
import {
  findOrg,
  insertOrg,
  listProductScopes,
  type OrgRecord,
  replaceProductScopes,
  updateOrg,
} from "../../src/store/orgs-repository.js";
import { deleteExpiredSessionsChunk } from "../../src/store/retention-repository.js";
import { deleteSession, findSession, insertSession } from "../../src/store/sessions-repository.js";
import {
  findTokenById,
  findTokenBySecretHash,
  findTokenForUpdate,
  insertToken,
  listTokenRows,
  listTokens,
  readCredits,
  replaceSecret,
  type TokenKeyset,
  type TokenListFilter,
  updateToken,
  writeCreditsBehind,
  writeCreditsBehindMany,
} from "../../src/store/tokens-repository.js";
import { applyUsage, listUsage, type UsageDelta } from "../../src/store/usage-repository.js";
import { countUsers, findUserByEmail, findUserById, insertUser, type UserRecord } from "../../src/store/users-repository.js";
import { deleteFinishedDeliveriesChunk, insertEndpoint } from "../../src/store/webhooks-repository.js";
import { createPostgresDatabase, dialects, type TestDatabase } from "../support/databases.js";

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 15, 10, 0, 0);

function hashOf(): string {
  return hashToken(generateToken("tsr", "live").secret);
}

function tokenRecord(orgId: string | null, overrides: Partial<TokenRecord> = {}): TokenRecord {
  const generated = generateToken("tsr", "live");
  return {
    ...blankToken(T0),
    id: newId("token"),
    orgId,
    kind: "personal",
    name: "a token",
    prefix: generated.displayPrefix,
    last4: generated.last4,
    scopes: ["tokens:read"],
    ...overrides,
  };
}

function event(orgId: string | null, overrides: Partial<AuditEvent> = {}): AuditEvent {
  return {
    id: newId("event"),
    at: T0,
    orgId,
    action: "token.created",
    actor: { type: "user", id: null, name: null },
    target: null,
    ip: "203.0.113.9",
    userAgent: "vitest",
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    details: {},
    ...overrides,
  };
}

describe.each(await dialects())("storage on %s", (dialect) => {
  let store: Store;
  let dataDir: string;
  let database: TestDatabase | undefined;
  let orgA: OrgRecord;
  let orgB: OrgRecord;
  const users: Record<"olive" | "adam" | "mia" | "gus", UserRecord> = {} as never;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "tessera-store-"));
    database = dialect === "postgres" ? await createPostgresDatabase() : undefined;
    store = createStore({ databaseUrl: database?.url, dataDir });
    expect(store.dialect).toBe(dialect);
  });

  afterAll(async () => {
    await store?.close();
    await database?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const db = () => store.db;

  describe("migrations", () => {
    it("apply once, then apply nothing", async () => {
      const all = Object.keys(await migrationProvider.getMigrations()).sort();
      expect(all[0]).toBe("2026-11-23T12-00-initial");
      expect(await migrate(db())).toEqual(all);
      expect(await migrate(db())).toEqual([]);
      const recorded = await db()
        .selectFrom("kysely_migration" as never)
        .select(sql<string>`name`.as("name"))
        .execute();
      expect(recorded.map((r) => r.name).sort()).toEqual(all);
    });

    it("create every table, readable while empty", async () => {
      for (const table of [
        "users",
        "organizations",
        "memberships",
        "org_scopes",
        "tokens",
        "token_secrets",
        "sessions",
        "audit_events",
        "token_usage",
      ] as const) {
        expect(await db().selectFrom(table).selectAll().execute(), table).toEqual([]);
      }
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it.runIf(dialect === "sqlite")("keeps SQLite in WAL mode with foreign keys on", async () => {
      const mode = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(db());
      expect(mode.rows[0]?.journal_mode).toBe("wal");
      const fk = await sql<{ foreign_keys: number }>`pragma foreign_keys`.execute(db());
      expect(fk.rows[0]?.foreign_keys).toBe(1);
    });
  });

  describe("users, organisations, memberships", () => {
    beforeAll(async () => {
      const mk = async (key: keyof typeof users, email: string, name: string, at: number) => {
        users[key] = { id: newId("user"), email, name, instanceAdmin: false, disabledAt: null, createdAt: at };
        await insertUser(db(), { ...users[key], passwordHash: `scrypt$${key}` });
      };
      await mk("olive", "olive@acme.test", "Olive Owner", T0);
      await mk("adam", "adam@acme.test", "Adam Admin", T0 + 1);
      await mk("mia", "mia@acme.test", "Mia Member", T0 + 2);
      await mk("gus", "gus@globex.test", "Gus Globex", T0 + 3);
      orgA = { id: newId("organization"), name: "Acme", settings: { ...DEFAULT_ORG_SETTINGS }, createdAt: T0, updatedAt: T0 };
      orgB = { id: newId("organization"), name: "Globex", settings: { ...DEFAULT_ORG_SETTINGS }, createdAt: T0, updatedAt: T0 };
      await insertOrg(db(), orgA);
      await insertOrg(db(), orgB);
      const member = (org: OrgRecord, user: UserRecord, role: Role, at: number) =>
        insertMembership(db(), org.id, user.id, role, at);
      await member(orgA, users.olive, "owner", T0);
      await member(orgA, users.adam, "admin", T0 + 1);
      await member(orgA, users.mia, "member", T0 + 2);
      await member(orgB, users.gus, "owner", T0 + 3);
      await member(orgB, users.olive, "viewer", T0 + 4);
    });

    it("finds users by id and by email, case-insensitively, with the password hash only for sign-in", async () => {
      expect(await countUsers(db())).toBe(4);
      expect(await findUserById(db(), users.adam.id)).toEqual(users.adam);
      const byEmail = await findUserByEmail(db(), "ADAM@Acme.Test");
      expect(byEmail).toEqual({ ...users.adam, passwordHash: "scrypt$adam" });
      expect(await findUserByEmail(db(), "nobody@acme.test")).toBeUndefined();
      expect(await findUserById(db(), newId("user"))).toBeUndefined();
    });

    it("refuses a second account with the same email, as a conflict that does not repeat the email", async () => {
      const dup = { id: newId("user"), email: "mia@acme.test", name: "Impostor", instanceAdmin: false, disabledAt: null };
      const refused = await insertUser(db(), { ...dup, createdAt: T0, passwordHash: "x" }).catch((e: unknown) => e);
      expect(refused).toMatchObject({ name: "TesseraError", code: "conflict" });
      expect(String((refused as Error).message)).not.toContain("mia@acme.test");
      expect(await countUsers(db())).toBe(4);
    });

    it("refuses a duplicate membership", async () => {
      await expect(insertMembership(db(), orgA.id, users.mia.id, "admin", T0)).rejects.toMatchObject({ code: "conflict" });
      expect((await findMember(db(), orgA.id, users.mia.id))?.role).toBe("member");
    });

    it("reads members with their account, and counts owners as roles change", async () => {
      expect(await findMember(db(), orgA.id, users.mia.id)).toEqual({
        orgId: orgA.id,
        userId: users.mia.id,
        email: "mia@acme.test",
        name: "Mia Member",
        role: "member",
        disabledAt: null,
        createdAt: T0 + 2,
      });
      expect(await findMember(db(), orgA.id, users.gus.id)).toBeUndefined();
      expect((await listMembers(db(), orgA.id)).map((m) => [m.name, m.role])).toEqual([
        ["Olive Owner", "owner"],
        ["Adam Admin", "admin"],
        ["Mia Member", "member"],
      ]);
      expect(await countOwners(db(), orgA.id)).toBe(1);
      expect(await countOwners(db(), orgB.id)).toBe(1);
      expect(await countOwners(db(), newId("organization"))).toBe(0);

      await updateRole(db(), orgA.id, users.adam.id, "owner");
      expect(await countOwners(db(), orgA.id)).toBe(2);
      expect(await countOwners(db(), orgB.id)).toBe(1);
      await deleteMembership(db(), orgA.id, users.olive.id);
      expect(await countOwners(db(), orgA.id)).toBe(1);
      expect(await findMember(db(), orgA.id, users.olive.id)).toBeUndefined();
      // Olive is still Globex's viewer.
      expect(await listMembershipsOfUser(db(), users.olive.id)).toEqual([{ orgId: orgB.id, orgName: "Globex", role: "viewer" }]);
      // Put things back for the suites below.
      await insertMembership(db(), orgA.id, users.olive.id, "owner", T0);
      await updateRole(db(), orgA.id, users.adam.id, "admin");
      expect(await countOwners(db(), orgA.id)).toBe(1);
      expect((await listMembershipsOfUser(db(), users.olive.id)).map((m) => m.orgName).sort()).toEqual(["Acme", "Globex"]);
    });

    it("stores organisation settings and the product scope catalogue", async () => {
      const changed: OrgRecord = {
        ...orgA,
        name: "Acme Corp",
        settings: { ...orgA.settings, tokenPrefix: "acme", maxExpiryDays: 90, requireExpiry: true },
        updatedAt: T0 + 10,
      };
      await updateOrg(db(), changed);
      expect(await findOrg(db(), orgA.id)).toEqual(changed);
      expect(await findOrg(db(), orgB.id)).toEqual(orgB);
      expect(await findOrg(db(), newId("organization"))).toBeUndefined();
      await updateOrg(db(), orgA);

      await replaceProductScopes(
        db(),
        orgA.id,
        [
          { name: "messages:send", description: "Send" },
          { name: "messages:read", description: "Read" },
        ],
        T0,
      );
      expect(await listProductScopes(db(), orgA.id)).toEqual([
        { name: "messages:read", description: "Read" },
        { name: "messages:send", description: "Send" },
      ]);
      expect(await listProductScopes(db(), orgB.id)).toEqual([]);
      await replaceProductScopes(db(), orgA.id, [{ name: "reports:read", description: "" }], T0);
      expect(await listProductScopes(db(), orgA.id)).toEqual([{ name: "reports:read", description: "" }]);
      await replaceProductScopes(db(), orgA.id, [], T0);
      expect(await listProductScopes(db(), orgA.id)).toEqual([]);
    });

    it("stores sessions by hash and drops expired ones", async () => {
      const live = {
        idHash: hashOf(),
        publicId: "ses_live",
        userId: users.mia.id,
        csrfToken: "csrf-live",
        expiresAt: T0 + HOUR,
        ip: "203.0.113.7",
        userAgent: "curl/8",
      };
      const stale = { idHash: hashOf(), publicId: "ses_stale", userId: users.mia.id, csrfToken: "csrf-stale", expiresAt: T0 - 1 };
      await insertSession(db(), live, T0 - HOUR);
      await insertSession(db(), stale, T0 - HOUR);
      const stored = { ...live, createdAt: T0 - HOUR, lastSeenAt: T0 - HOUR };
      expect(await findSession(db(), live.idHash)).toEqual(stored);
      await deleteExpiredSessionsChunk(db(), T0, 100);
      expect(await findSession(db(), stale.idHash)).toBeUndefined();
      expect(await findSession(db(), live.idHash)).toEqual(stored);
      await deleteSession(db(), live.idHash);
      expect(await findSession(db(), live.idHash)).toBeUndefined();
    });
  });

  describe("tokens", () => {
    it("round-trips every field and finds a token by id and by secret hash", async () => {
      const hash = hashOf();
      const token = tokenRecord(orgA.id, {
        kind: "service",
        name: "Deploy bot",
        description: "CI deploys",
        issuedFor: "GitHub Actions",
        createdById: users.olive.id,
        createdByName: "Olive Owner",
        environment: "test",
        scopes: ["tokens:read", "messages:*"],
        expiresAt: T0 + 30 * 24 * HOUR,
        allowedIps: ["10.0.0.0/8", "2001:db8::/32"],
        rateLimits: [
          { name: "default", limit: 100, windowSeconds: 60 },
          { name: "burst", limit: 10, windowSeconds: 1 },
        ],
        credits: { remaining: 500, refill: { amount: 500, interval: "day" }, refilledAt: T0, gen: 1, seq: 0 },
        metadata: { team: "platform", nested: { n: 1, list: [true, null] } },
      });
      await insertToken(db(), token, hash);
      const found = await findTokenById(db(), token.id);
      expect(found).toEqual({ ...token, createdByEmail: "olive@acme.test" });
      // bigint columns come back as numbers on both dialects.
      expect(typeof found?.expiresAt).toBe("number");
      expect(typeof found?.usageCount).toBe("number");

      const match = await findTokenBySecretHash(db(), hash);
      expect(match?.secretExpiresAt).toBeNull();
      expect(match?.token).toMatchObject({ ...token, createdByEmail: null });
      expect(await findTokenBySecretHash(db(), hashOf())).toBeUndefined();
      expect(await findTokenById(db(), newId("token"))).toBeUndefined();
    });

    it("writes credit balances behind only forward, one by one or many at once", async () => {
      const credits = (remaining: number | null) =>
        remaining === null ? null : { remaining, refill: null, refilledAt: null, gen: 2, seq: 10 };
      const tokens = [100, 100, 100, 100, null].map((remaining) => tokenRecord(orgA.id, { credits: credits(remaining) }));
      for (const t of tokens) await insertToken(db(), t, hashOf());
      // credits_gen/seq as a live store would have left them (the insert writes gen 2's first state, seq 10).
      await sql`update tokens set credits_gen = 2, credits_seq = 10 where id in (${sql.join(tokens.map((t) => t.id))})`.execute(
        db(),
      );
      const [later, same, older, otherGen, none] = tokens.map((t) => t.id) as [string, string, string, string, string];
      const snapshot = (tokenId: string, seq: number, gen = 2) => ({ tokenId, gen, seq, remaining: 40, refilledAt: null });
      expect(await writeCreditsBehind(db(), snapshot(same, 10))).toBe(false);
      const taken = await writeCreditsBehindMany(db(), [
        snapshot(later, 11),
        snapshot(same, 10),
        snapshot(older, 9),
        snapshot(otherGen, 20, 1),
        snapshot(none, 20),
      ]);
      expect([...taken]).toEqual([later]);
      expect(await readCredits(db(), later)).toMatchObject({ remaining: 40, seq: 11, gen: 2 });
      for (const id of [same, older, otherGen]) expect(await readCredits(db(), id)).toMatchObject({ remaining: 100, seq: 10 });
      expect(await readCredits(db(), none)).toBeNull();
      expect(await writeCreditsBehindMany(db(), [])).toEqual(new Set());
    });

    it("stores instance-level root tokens without an organisation", async () => {
      const root = tokenRecord(null, { kind: "root", name: "ops root", scopes: ["tokens:verify"] });
      const hash = hashOf();
      await insertToken(db(), root, hash);
      expect((await findTokenBySecretHash(db(), hash))?.token).toMatchObject({ id: root.id, orgId: null, kind: "root" });
    });

    it("updates a token and locks it for update inside a transaction", async () => {
      const token = tokenRecord(orgA.id, { ownerId: users.mia.id });
      await insertToken(db(), token, hashOf());
      await db()
        .transaction()
        .execute(async (trx) => {
          const locked = await findTokenForUpdate(trx, token.id, dialect);
          expect(locked?.id).toBe(token.id);
          await updateToken(trx, token.id, { name: "renamed", scopes: JSON.stringify(["org:read"]), updated_at: T0 + 5 });
        });
      expect(await findTokenById(db(), token.id)).toMatchObject({ name: "renamed", scopes: ["org:read"], updatedAt: T0 + 5 });
    });

    it("a failed transaction leaves nothing half-written", async () => {
      const token = tokenRecord(orgA.id);
      const hash = hashOf();
      await expect(
        db()
          .transaction()
          .execute(async (trx) => {
            await insertToken(trx, token, hash);
            throw new Error("boom");
          }),
      ).rejects.toThrow("boom");
      expect(await findTokenById(db(), token.id)).toBeUndefined();
      expect(await findTokenBySecretHash(db(), hash)).toBeUndefined();
    });

    it("refuses a secret hash that another token already uses", async () => {
      const hash = hashOf();
      await insertToken(db(), tokenRecord(orgA.id), hash);
      await expect(insertToken(db(), tokenRecord(orgA.id), hash)).rejects.toThrow();
    });

    describe("replaceSecret", () => {
      const secretsOf = async (tokenId: string) =>
        (
          await db()
            .selectFrom("token_secrets")
            .select(["hash", "expires_at"])
            .where("token_id", "=", tokenId)
            .orderBy("created_at")
            .execute()
        ).map((r) => ({ hash: r.hash, expiresAt: r.expires_at === null ? null : Number(r.expires_at) }));

      it("keeps the previous secret until the grace ends, drops older ones, and kills it at once without grace", async () => {
        const h1 = hashOf();
        const h2 = hashOf();
        const h3 = hashOf();
        const h4 = hashOf();
        const token = tokenRecord(orgA.id, { name: "rotating" });
        const bystander = tokenRecord(orgA.id, { name: "bystander" });
        const bystanderHash = hashOf();
        await insertToken(db(), token, h1);
        await insertToken(db(), bystander, bystanderHash);

        await replaceSecret(db(), token.id, h2, T0 + 1, T0 + HOUR);
        expect(await secretsOf(token.id)).toEqual([
          { hash: h1, expiresAt: T0 + HOUR },
          { hash: h2, expiresAt: null },
        ]);
        expect((await findTokenBySecretHash(db(), h1))?.secretExpiresAt).toBe(T0 + HOUR);
        expect((await findTokenBySecretHash(db(), h2))?.secretExpiresAt).toBeNull();

        // A second rotation with grace: h1 (already in grace) goes, h2 enters its grace.
        await replaceSecret(db(), token.id, h3, T0 + 2, T0 + 2 * HOUR);
        expect(await secretsOf(token.id)).toEqual([
          { hash: h2, expiresAt: T0 + 2 * HOUR },
          { hash: h3, expiresAt: null },
        ]);
        expect(await findTokenBySecretHash(db(), h1)).toBeUndefined();

        // Without grace every previous secret dies now.
        await replaceSecret(db(), token.id, h4, T0 + 3, null);
        expect(await secretsOf(token.id)).toEqual([{ hash: h4, expiresAt: null }]);
        expect(await findTokenBySecretHash(db(), h2)).toBeUndefined();
        expect(await findTokenBySecretHash(db(), h3)).toBeUndefined();
        expect((await findTokenBySecretHash(db(), h4))?.token.id).toBe(token.id);

        // Other tokens' secrets are untouched throughout.
        expect(await secretsOf(bystander.id)).toEqual([{ hash: bystanderHash, expiresAt: null }]);
      });
    });

    describe("listTokens", () => {
      const now = T0 + 1000 * HOUR;
      const made: Record<string, TokenRecord> = {};
      let filterOrg: OrgRecord;

      beforeAll(async () => {
        // A separate organisation, so the tokens of the tests above do not interfere.
        filterOrg = {
          id: newId("organization"),
          name: "Filters",
          settings: { ...DEFAULT_ORG_SETTINGS },
          createdAt: T0,
          updatedAt: T0,
        };
        await insertOrg(db(), filterOrg);
        const add = async (key: string, overrides: Partial<TokenRecord>) => {
          made[key] = tokenRecord(filterOrg.id, { ownerId: users.mia.id, ...overrides });
          await insertToken(db(), made[key], hashOf());
        };
        // Inserted in this order, so ids (and "newest first") follow it.
        await add("active", { name: "Deploy Bot" });
        await add("activeFuture", { name: "nightly backup", expiresAt: now + HOUR, ownerId: users.adam.id });
        await add("expired", { name: "old export", expiresAt: now - 1 });
        await add("expiresNow", { name: "boundary", expiresAt: now });
        await add("inactive", { name: "100% coverage", deactivatedAt: now - 5, expiresAt: now - 1 });
        await add("suspended", { name: "snake_case", suspendedAt: now - 5, deactivatedAt: now - 6 });
        await add("revoked", { name: "snakeXcase", revokedAt: now - 5, suspendedAt: now - 6, expiresAt: now - 1 });
        await add("service", { name: "back\\slash svc", kind: "service", ownerId: null, issuedFor: "Zapier" });
        await add("percent", { name: "100 coverage" });
        // Another organisation's token never shows.
        await insertToken(db(), tokenRecord(orgB.id, { name: "Deploy Bot", ownerId: users.gus.id }), hashOf());
      });

      const names = async (filter: Partial<TokenListFilter>) =>
        (await listTokens(db(), { orgId: filterOrg.id, limit: 100, ...filter }, now)).map((t) => t.name);
      const keys = async (filter: Partial<TokenListFilter>) => {
        const byId = new Map(Object.entries(made).map(([k, t]) => [t.id, k]));
        return (await listTokens(db(), { orgId: filterOrg.id, limit: 100, ...filter }, now)).map((t) => byId.get(t.id));
      };

      it("lists an organisation's tokens newest first", async () => {
        expect(await keys({})).toEqual([
          "percent",
          "service",
          "revoked",
          "suspended",
          "inactive",
          "expiresNow",
          "expired",
          "activeFuture",
          "active",
        ]);
      });

      it("lists the same rows whether it walks the sort's index (whole or for a few rows) or reads the matches and sorts them", async () => {
        const filters: Partial<TokenListFilter>[] = [
          {},
          { status: "active" },
          { status: "expired" },
          { status: "revoked" },
          { kind: "personal" },
          { ownerId: users.mia.id },
          { createdById: made.active?.createdById ?? "usr_none" },
          { unusedBefore: now },
          { q: "cov" },
          { q: "snake" },
          { q: "ac" },
          { q: "coverage" },
          { q: "snake", status: "revoked" },
          { kind: "personal", status: "active" },
          { ownerId: users.mia.id, unusedBefore: now },
        ];
        // fewRows: SQLite's count (0: always walk; large: always read and sort). walkRows: PostgreSQL's
        // budgeted walk (0: always read and sort; 1 and 3: a walk that stops inside the matches; large: whole).
        const plans: Pick<TokenListFilter, "fewRows" | "walkRows">[] = [
          { fewRows: 1_000_000, walkRows: 0 },
          { fewRows: 0, walkRows: 1_000_000 },
          { walkRows: 1 },
          { walkRows: 3 },
        ];
        for (const filter of filters) {
          for (const sort of ["createdAt", "lastUsedAt", "expiresAt", "name"] as const) {
            for (const order of ["asc", "desc"] as const) {
              const page = async (plan: Pick<TokenListFilter, "fewRows" | "walkRows">) => {
                const ids: string[] = [];
                let after: TokenKeyset | undefined;
                // Pages of 2, so that the keyset cursor is part of what is compared.
                for (let i = 0; i < 10; i++) {
                  const rows = await listTokenRows(
                    db(),
                    { orgId: filterOrg.id, ...filter, sort, order, after, limit: 2, ...plan },
                    now,
                  );
                  ids.push(...rows.map((r) => r.token.id));
                  const last = rows[rows.length - 1];
                  if (rows.length < 2 || !last) break;
                  after = { key: last.key, id: last.token.id };
                }
                return ids;
              };
              const sorted = await page(plans[0] ?? {});
              for (const plan of plans.slice(1)) {
                expect(await page(plan), JSON.stringify({ filter, sort, order, plan })).toEqual(sorted);
              }
              expect(sorted.length, JSON.stringify({ filter, sort, order })).toBe(new Set(sorted).size);
            }
          }
        }
      });

      it("finds a renamed token by its new name only (the name index follows updates)", async () => {
        const token = tokenRecord(filterOrg.id, { name: "Renamed Later", ownerId: users.mia.id });
        await insertToken(db(), token, hashOf());
        expect(await names({ q: "renamed later" })).toEqual(["Renamed Later"]);
        await updateToken(db(), token.id, { name: "Quarterly Export" });
        expect(await names({ q: "renamed" })).toEqual([]);
        expect(await names({ q: "QUARTERLY" })).toEqual(["Quarterly Export"]);
        // Revoked, so the other tests' status filters keep their counts… and out of the name search.
        await updateToken(db(), token.id, { name: "zz gone", revoked_at: now - 5 });
        expect(await names({ q: "quarterly" })).toEqual([]);
        await db().deleteFrom("tokens").where("id", "=", token.id).execute();
        expect(await names({ q: "zz gone" })).toEqual([]);
      });

      it("filters by the derived status, in the order revoked › suspended › inactive › expired › active", async () => {
        expect(await keys({ status: "revoked" })).toEqual(["revoked"]);
        expect(await keys({ status: "suspended" })).toEqual(["suspended"]);
        expect(await keys({ status: "inactive" })).toEqual(["inactive"]);
        // expiresAt <= now is expired (the same boundary as deriveStatus).
        expect(await keys({ status: "expired" })).toEqual(["expiresNow", "expired"]);
        expect(await keys({ status: "active" })).toEqual(["percent", "service", "activeFuture", "active"]);
      });

      it("matches q case-insensitively as a plain substring: % _ and \\ are literal", async () => {
        expect(await names({ q: "deploy" })).toEqual(["Deploy Bot"]);
        expect(await names({ q: "BOT" })).toEqual(["Deploy Bot"]);
        expect(await names({ q: "%" })).toEqual(["100% coverage"]);
        expect(await names({ q: "100%" })).toEqual(["100% coverage"]);
        expect(await names({ q: "coverage" })).toEqual(["100 coverage", "100% coverage"]);
        expect(await names({ q: "_" })).toEqual(["snake_case"]);
        expect(await names({ q: "e_c" })).toEqual(["snake_case"]);
        expect(await names({ q: "\\" })).toEqual(["back\\slash svc"]);
        expect(await names({ q: "k\\s" })).toEqual(["back\\slash svc"]);
        expect(await names({ q: "'" })).toEqual([]);
        expect(await names({ q: "nothing like it" })).toEqual([]);
      });

      it("filters by kind and owner, and combines filters", async () => {
        expect(await keys({ kind: "service" })).toEqual(["service"]);
        expect(await keys({ kind: "root" })).toEqual([]);
        expect(await keys({ ownerId: users.adam.id })).toEqual(["activeFuture"]);
        expect(await keys({ ownerId: users.gus.id })).toEqual([]);
        expect(await keys({ kind: "personal", status: "active" })).toEqual(["percent", "activeFuture", "active"]);
        expect(await keys({ q: "snake", status: "revoked" })).toEqual(["revoked"]);
        expect(await keys({ q: "snake", ownerId: users.mia.id, status: "suspended" })).toEqual(["suspended"]);
      });

      it("pages by id cursor, newest first, without gaps or repeats", async () => {
        const all = (await listTokens(db(), { orgId: filterOrg.id, limit: 100 }, now)).map((t) => t.id);
        expect(all).toEqual([...all].sort().reverse());
        const seen: string[] = [];
        let before: string | undefined;
        for (let page = 0; page < 10; page++) {
          const rows = await listTokens(db(), { orgId: filterOrg.id, limit: 2, before }, now);
          seen.push(...rows.map((t) => t.id));
          if (rows.length < 2) break;
          before = rows[rows.length - 1]?.id;
        }
        expect(seen).toEqual(all);
        // The cursor also combines with filters.
        const active = await listTokens(db(), { orgId: filterOrg.id, status: "active", limit: 1, before: made.service?.id }, now);
        expect(active.map((t) => t.id)).toEqual([made.activeFuture?.id]);
      });
    });
  });

  describe("usage", () => {
    let token: TokenRecord;
    const delta = (
      ok: number,
      lastUsedAt: number | null,
      lastUsedIp: string | null,
      buckets: [number, number, number][],
    ): UsageDelta => ({
      tokenId: token.id,
      ok,
      lastUsedAt,
      lastUsedIp,
      buckets: new Map(buckets.map(([start, o, d]) => [start, { ok: o, denied: d }])),
    });

    beforeAll(async () => {
      token = tokenRecord(orgA.id, { name: "used" });
      await insertToken(db(), token, hashOf());
    });

    it("adds batches up and keeps the latest use", async () => {
      await applyUsage(db(), [delta(3, T0 + 100, "198.51.100.1", [[T0, 3, 1]])]);
      // An older batch (another instance flushing late) adds counts but does not move lastUsedAt back.
      await applyUsage(db(), [
        delta(2, T0 + 50, "198.51.100.2", [
          [T0, 2, 0],
          [T0 + HOUR, 0, 4],
        ]),
      ]);
      let found = await findTokenById(db(), token.id);
      expect(found).toMatchObject({ usageCount: 5, lastUsedAt: T0 + 100, lastUsedIp: "198.51.100.1" });
      expect(await listUsage(db(), token.id, T0, T0 + 2 * HOUR)).toEqual([
        { start: T0, ok: 5, denied: 1 },
        { start: T0 + HOUR, ok: 0, denied: 4 },
      ]);

      // A newer batch moves lastUsedAt and lastUsedIp forward; a denied-only batch touches the buckets alone.
      await applyUsage(db(), [delta(1, T0 + HOUR + 10, "2001:db8::1", [[T0 + HOUR, 1, 0]])]);
      await applyUsage(db(), [delta(0, null, null, [[T0 + HOUR, 0, 2]])]);
      found = await findTokenById(db(), token.id);
      expect(found).toMatchObject({ usageCount: 6, lastUsedAt: T0 + HOUR + 10, lastUsedIp: "2001:db8::1" });
      expect(typeof found?.usageCount).toBe("number");
      expect(await listUsage(db(), token.id, T0, T0 + 2 * HOUR)).toEqual([
        { start: T0, ok: 5, denied: 1 },
        { start: T0 + HOUR, ok: 1, denied: 6 },
      ]);
    });

    it("adds concurrent flushes without losing any", async () => {
      const other = tokenRecord(orgA.id, { name: "busy" });
      await insertToken(db(), other, hashOf());
      const batch = (i: number): UsageDelta => ({
        tokenId: other.id,
        ok: 1,
        lastUsedAt: T0 + i,
        lastUsedIp: `192.0.2.${i}`,
        buckets: new Map([[T0, { ok: 1, denied: 1 }]]),
      });
      await Promise.all(Array.from({ length: 10 }, (_, i) => applyUsage(db(), [batch(i + 1)])));
      expect(await findTokenById(db(), other.id)).toMatchObject({
        usageCount: 10,
        lastUsedAt: T0 + 10,
        lastUsedIp: "192.0.2.10",
      });
      expect(await listUsage(db(), other.id, T0, T0 + HOUR)).toEqual([{ start: T0, ok: 10, denied: 10 }]);
    });

    it("lists buckets in [from, to)", async () => {
      expect(await listUsage(db(), token.id, T0 + HOUR, T0 + 2 * HOUR)).toEqual([{ start: T0 + HOUR, ok: 1, denied: 6 }]);
      expect(await listUsage(db(), token.id, T0, T0 + HOUR)).toEqual([{ start: T0, ok: 5, denied: 1 }]);
      expect(await listUsage(db(), token.id, T0 + 2 * HOUR, T0 + 3 * HOUR)).toEqual([]);
    });
  });

  describe("outbox retention chunks", () => {
    it("delete sent mail and finished deliveries older than the cut, at most `limit` a call, nothing else", async () => {
      const mail = (id: string, sentAt: number | null) => ({
        id,
        to_address: "a@example.com",
        subject: "s",
        text_body: "t",
        html_body: "h",
        created_at: T0 - 10 * HOUR,
        next_attempt_at: T0,
        attempts: 1,
        sent_at: sentAt,
        last_error: null,
      });
      const mailIds = ["mail_old1", "mail_old2", "mail_old3", "mail_new", "mail_unsent"].map((m) => `${m}_${dialect}`);
      await db()
        .insertInto("mail_outbox")
        .values([
          mail(mailIds[0]!, T0 - 3 * HOUR),
          mail(mailIds[1]!, T0 - 2 * HOUR),
          mail(mailIds[2]!, T0 - HOUR),
          mail(mailIds[3]!, T0 + HOUR),
          mail(mailIds[4]!, null),
        ])
        .execute();
      const mailLeft = async () =>
        (await db().selectFrom("mail_outbox").select("id").where("id", "in", mailIds).orderBy("id").execute()).map((r) => r.id);
      expect(await deleteSentMailBefore(db(), T0, 2)).toBe(2);
      expect(await deleteSentMailBefore(db(), T0, 2)).toBe(1);
      expect(await deleteSentMailBefore(db(), T0, 2)).toBe(0);
      expect(await mailLeft()).toEqual([mailIds[3], mailIds[4]].sort());

      const orgId = newId("organization");
      await insertOrg(db(), { id: orgId, name: "Hooked", settings: DEFAULT_ORG_SETTINGS, createdAt: T0, updatedAt: T0 });
      const endpointId = newId("webhook");
      await insertEndpoint(db(), {
        id: endpointId,
        orgId,
        url: "https://example.com/hook",
        description: null,
        eventTypes: [],
        enabled: true,
        status: "active",
        secretEnc: "x",
        failingSince: null,
        createdAt: T0,
        updatedAt: T0,
      });
      const delivery = (id: string, state: string, createdAt: number) => ({
        id,
        endpoint_id: endpointId,
        org_id: orgId,
        event_id: `evt_${id}`,
        type: "token.created",
        payload: "{}",
        order_key: id,
        seq: 0,
        state,
        attempts: 1,
        next_attempt_at: null,
        lease_id: null,
        lease_until: null,
        last_attempt_at: null,
        last_status: null,
        last_duration_ms: null,
        last_error: null,
        created_at: createdAt,
        delivered_at: null,
      });
      await db()
        .insertInto("webhook_deliveries")
        .values([
          delivery("dlv_delivered", "delivered", T0 - 2 * HOUR),
          delivery("dlv_failed", "failed", T0 - HOUR),
          delivery("dlv_pending", "pending", T0 - 2 * HOUR),
          delivery("dlv_recent", "delivered", T0 + HOUR),
        ])
        .execute();
      const deliveriesLeft = async () =>
        (
          await db().selectFrom("webhook_deliveries").select("id").where("endpoint_id", "=", endpointId).orderBy("id").execute()
        ).map((r) => r.id);
      expect(await deleteFinishedDeliveriesChunk(db(), T0, 1)).toBe(1);
      expect(await deleteFinishedDeliveriesChunk(db(), T0, 1)).toBe(1);
      expect(await deleteFinishedDeliveriesChunk(db(), T0, 1)).toBe(0);
      expect(await deliveriesLeft()).toEqual(["dlv_pending", "dlv_recent"]);
    });
  });

  describe("audit events", () => {
    const e: Record<string, AuditEvent> = {};
    let auditOrg: string;

    beforeAll(async () => {
      auditOrg = newId("organization");
      await insertOrg(db(), { id: auditOrg, name: "Audited", settings: DEFAULT_ORG_SETTINGS, createdAt: T0, updatedAt: T0 });
      const tok = newId("token");
      const user = (u: UserRecord) => ({ type: "user" as const, id: u.id, name: u.name });
      const list: [string, Partial<AuditEvent>][] = [
        ["created", { at: T0, action: "token.created", actor: user(users.olive), target: { type: "token", id: tok, name: "t" } }],
        [
          "scopes",
          {
            at: T0 + 10,
            action: "token.scopes_changed",
            actor: user(users.adam),
            target: { type: "token", id: tok, name: "t" },
            details: { added: ["messages:send"], removed: [] },
          },
        ],
        [
          "member",
          {
            at: T0 + 20,
            action: "member.added",
            actor: user(users.olive),
            target: { type: "user", id: users.mia.id, name: "Mia" },
          },
        ],
        ["login", { at: T0 + 30, action: "auth.login_failed", actor: { type: "system", id: null, name: null } }],
        [
          "revoked",
          {
            at: T0 + 40,
            action: "token.revoked",
            actor: { type: "token", id: newId("token"), name: "automation" },
            target: { type: "token", id: tok, name: "t" },
            details: { reason: "leaked" },
          },
        ],
        // Look-alikes for the prefix filter.
        ["lookalike", { at: T0 + 50, action: "tokenXcreated", actor: user(users.olive) }],
        ["upper", { at: T0 + 60, action: "Token.Created", actor: user(users.olive) }],
        ["underscore", { at: T0 + 70, action: "api_key.created", actor: user(users.adam) }],
        ["underscoreLookalike", { at: T0 + 80, action: "apiXkey.created", actor: user(users.adam) }],
      ];
      for (const [key, overrides] of list) e[key] = event(auditOrg, overrides);
      // One batch, in one statement.
      await insertEvents(db(), Object.values(e));
      await insertEvents(db(), []);
      await insertEvents(db(), [event(orgB.id, { action: "token.created" }), event(null, { action: "instance.root_created" })]);
    });

    const ids = async (filter: Record<string, unknown> = {}) => {
      const byId = new Map(Object.entries(e).map(([k, v]) => [v.id, k]));
      return (await listEvents(db(), { orgId: auditOrg, limit: 100, ...filter })).map((x) => byId.get(x.id));
    };

    it("round-trips an event and lists the organisation's events newest first", async () => {
      const events = await listEvents(db(), { orgId: auditOrg, limit: 100 });
      // Stored events also carry their place in the hash chain (seq, prevHash, hash).
      const unchained = (x: object | undefined) => {
        const { seq: _seq, prevHash: _prev, hash: _hash, ...rest } = x as Record<string, unknown>;
        return rest;
      };
      expect(unchained(events.find((x) => x.id === e.revoked?.id))).toEqual(e.revoked);
      expect(unchained(events.find((x) => x.id === e.login?.id))).toEqual({ ...e.login, target: null });
      expect(await ids()).toEqual([
        "underscoreLookalike",
        "underscore",
        "upper",
        "lookalike",
        "revoked",
        "login",
        "member",
        "scopes",
        "created",
      ]);
    });

    it("filters by exact action and by a `prefix.*`, taken literally and case-sensitively", async () => {
      expect(await ids({ action: "token.revoked" })).toEqual(["revoked"]);
      expect(await ids({ action: "token" })).toEqual([]);
      expect(await ids({ action: "token.*" })).toEqual(["revoked", "scopes", "created"]);
      expect(await ids({ action: "member.*" })).toEqual(["member"]);
      expect(await ids({ action: "api_key.*" })).toEqual(["underscore"]);
      expect(await ids({ action: "api%.*" })).toEqual([]);
      expect(await ids({ action: "Token.*" })).toEqual(["upper"]);
      expect(await ids({ action: "nothing.*" })).toEqual([]);
    });

    it("filters by actor, target and time, inclusive", async () => {
      expect(await ids({ actorId: users.adam.id })).toEqual(["underscoreLookalike", "underscore", "scopes"]);
      expect(await ids({ actorId: users.olive.id, action: "token.*" })).toEqual(["created"]);
      expect(await ids({ targetId: e.created?.target?.id })).toEqual(["revoked", "scopes", "created"]);
      expect(await ids({ targetId: users.mia.id })).toEqual(["member"]);
      expect(await ids({ from: T0 + 10, to: T0 + 30 })).toEqual(["login", "member", "scopes"]);
      expect(await ids({ from: T0 + 41, to: T0 + 60 })).toEqual(["upper", "lookalike"]);
      expect(await ids({ to: T0 })).toEqual(["created"]);
    });

    it("pages by id cursor", async () => {
      const byId = new Map(Object.entries(e).map(([k, v]) => [v.id, k]));
      const pages: (string | undefined)[][] = [];
      let before: string | undefined;
      for (let i = 0; i < 5; i++) {
        const page = await listEvents(db(), { orgId: auditOrg, limit: 4, before });
        pages.push(page.map((x) => byId.get(x.id)));
        if (page.length < 4) break;
        before = page[3]?.id;
      }
      expect(pages).toEqual([
        ["underscoreLookalike", "underscore", "upper", "lookalike"],
        ["revoked", "login", "member", "scopes"],
        ["created"],
      ]);
      expect(await ids({ action: "token.*", before: e.revoked?.id, limit: 1 })).toEqual(["scopes"]);
    });
  });
});
