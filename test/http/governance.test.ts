import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyFile } from "../../src/cli/audit-command.js";
import { insertEvents } from "../../src/store/audit-repository.js";
import { runCli } from "../support/cli.js";
import { dialects } from "../support/databases.js";
import { call, createToken, login, rootToken, seedWorld, startTestApp, type TestApp, type World } from "../support/harness.js";

const DAY = 86_400_000;

describe.each(await dialects())("governance (issue 11) on %s", (dialect) => {
  let t: TestApp;
  let w: World;
  let root: string;
  const tokens = () => `/v1/orgs/${w.orgId}/tokens`;
  const cliEnv = (): Record<string, string> =>
    t.databaseUrl ? { TESSERA_DATABASE_URL: t.databaseUrl, TESSERA_DATA_DIR: t.dataDir } : { TESSERA_DATA_DIR: t.dataDir };

  // Seeding hashes a handful of passwords (argon2): slow when the machine is busy.
  beforeAll(async () => {
    t = await startTestApp(dialect);
    w = await seedWorld(t.app);
    root = await rootToken(t.tessera);
  }, 180_000);
  afterAll(() => t?.close());

  const auditOf = async (id: string) =>
    (await call(t.app, "GET", `${tokens()}/${id}/audit`, w.owner.creds)).body.items as {
      action: string;
      details: Record<string, unknown>;
    }[];

  describe("PATCH a token", () => {
    it("edits every field and audits each change with before and after", async () => {
      const { id } = await createToken(t.app, w.owner.creds, w.orgId, { name: "editable", scopes: ["tokens:read"] });
      const expiresAt = new Date(Date.now() + 10 * DAY).toISOString();
      const res = await call(t.app, "PATCH", `${tokens()}/${id}`, w.owner.creds, {
        name: "edited",
        description: "now described",
        scopes: ["tokens:read", "tokens:write"],
        allowedIps: ["10.0.0.0/8", "2001:db8::/32"],
        rateLimit: { limit: 10, windowSeconds: 60 },
        metadata: { team: "core" },
        expiresAt,
      });
      expect(res.status, res.raw).toBe(200);
      expect(res.body).toMatchObject({
        name: "edited",
        description: "now described",
        scopes: ["tokens:read", "tokens:write"],
        allowedIps: ["10.0.0.0/8", "2001:db8::/32"],
        rateLimit: { limit: 10, windowSeconds: 60 },
        metadata: { team: "core" },
        expiresAt,
      });
      const events = await auditOf(id);
      const updated = events.find((e) => e.action === "token.updated")!;
      expect(updated.details.changes).toMatchObject({
        name: { from: "editable", to: "edited" },
        description: { from: null, to: "now described" },
        expiresAt: { from: null, to: expiresAt },
        metadata: { from: {}, to: { team: "core" } },
      });
      expect(events.find((e) => e.action === "token.scopes_changed")!.details).toMatchObject({ added: ["tokens:write"] });
    });

    it("shortens an expiry freely and extends it only within the organisation's policy", async () => {
      const org = `/v1/orgs/${w.orgId}`;
      expect((await call(t.app, "PATCH", org, w.owner.creds, { maxExpiryDays: 30 })).status).toBe(200);
      try {
        const { id } = await createToken(t.app, w.owner.creds, w.orgId, { name: "expiring", expiresInDays: 20 });
        const patch = (body: unknown) => call(t.app, "PATCH", `${tokens()}/${id}`, w.owner.creds, body);
        const in5 = new Date(Date.now() + 5 * DAY).toISOString();
        expect((await patch({ expiresAt: in5 })).body.expiresAt).toBe(in5);
        const in29 = new Date(Date.now() + 29 * DAY).toISOString();
        expect((await patch({ expiresAt: in29 })).body.expiresAt).toBe(in29);
        for (const bad of [new Date(Date.now() + 31 * DAY).toISOString(), null, new Date(Date.now() - 1000).toISOString()]) {
          const res = await patch({ expiresAt: bad });
          expect(res.status, res.raw).toBe(400);
          expect(res.body.errors[0].field).toBe("expiresAt");
        }
        expect((await patch({ expiresAt: "tomorrow" })).status).toBe(400);
      } finally {
        await call(t.app, "PATCH", org, w.owner.creds, { maxExpiryDays: null });
      }
    });

    it("refuses another organisation (404), a viewer (403), a member on someone else's token (404) and a revoked token (409)", async () => {
      const { id } = await createToken(t.app, w.owner.creds, w.orgId, { name: "guarded" });
      const path = `${tokens()}/${id}`;
      expect((await call(t.app, "PATCH", path, w.otherOwner.creds, { name: "x" })).status).toBe(404);
      expect(
        (await call(t.app, "PATCH", `/v1/orgs/${w.otherOrgId}/tokens/${id}`, w.otherOwner.creds, { name: "x" })).status,
      ).toBe(404);
      expect((await call(t.app, "PATCH", path, w.viewer.creds, { name: "x" })).status).toBe(403);
      expect((await call(t.app, "PATCH", path, w.member.creds, { name: "x" })).status).toBe(404);
      expect((await call(t.app, "PATCH", path, w.owner.creds, { bogus: 1 })).body.errors[0].field).toBe("bogus");
      await call(t.app, "POST", `${path}/revoke`, w.owner.creds, {});
      const res = await call(t.app, "PATCH", path, w.owner.creds, { name: "after" });
      expect(res.status).toBe(409);
      expect(res.body.code).toBe("invalid_state");
    });

    it("never widens: an admin cannot add scopes to a member's token, a narrow token cannot edit", async () => {
      const mine = await createToken(t.app, w.member.creds, w.orgId, { name: "member's", scopes: ["tokens:read"] });
      const path = `${tokens()}/${mine.id}`;
      const widen = await call(t.app, "PATCH", path, w.admin.creds, { scopes: ["tokens:read", "tokens:write"] });
      expect(widen.status).toBe(403);
      expect((await call(t.app, "PATCH", path, w.admin.creds, { scopes: [] })).status).toBe(200);
      // The member's own token holding only tokens:read cannot edit (tokens:write), nor widen itself.
      const narrow = await createToken(t.app, w.member.creds, w.orgId, { name: "narrow", scopes: ["tokens:read"] });
      const self = await call(
        t.app,
        "PATCH",
        `${tokens()}/${narrow.id}`,
        { bearer: narrow.secret },
        { scopes: ["tokens:write"] },
      );
      expect(self.status).toBe(403);
      // A member cannot grant a scope they do not hold.
      const beyond = await call(t.app, "PATCH", path, w.member.creds, { scopes: ["members:write"] });
      expect(beyond.status).toBe(400);
      expect(beyond.body.errors[0].field).toBe("scopes");
    });

    it("serialises a concurrent edit and revoke: never an edit recorded after the revocation", async () => {
      const { id } = await createToken(t.app, w.owner.creds, w.orgId, { name: "twin" });
      const path = `${tokens()}/${id}`;
      const [edit, revoke] = await Promise.all([
        call(t.app, "PATCH", path, w.owner.creds, { name: "twin edited" }),
        call(t.app, "POST", `${path}/revoke`, w.admin.creds, {}),
      ]);
      expect(revoke.status).toBe(200);
      expect([200, 409]).toContain(edit.status);
      const actions = (await auditOf(id)).map((e) => e.action);
      expect(actions[0]).toBe("token.revoked");
      expect(actions.filter((a) => a === "token.updated").length).toBe(edit.status === 200 ? 1 : 0);
    });
  });

  describe("list", () => {
    let ids: Record<string, { id: string; secret: string; token: any }>;
    beforeAll(async () => {
      const make = (name: string, creds = w.admin.creds, extra = {}) => createToken(t.app, creds, w.orgId, { name, ...extra });
      ids = {
        alpha: await make("List Alpha", w.admin.creds, { expiresInDays: 3 }),
        beta: await make("list beta", w.admin.creds, { expiresInDays: 1 }),
        gamma: await make("List GAMMA", w.admin.creds),
        mine: await make("list member", w.member.creds),
      };
      // Earlier tests used tokens as bearers ("narrow" above): write that usage now, or a flush landing
      // in the middle of a test below moves such a token within the lastUsedAt order (the paging test
      // then missed it in a CI run on a busy machine).
      await t.tessera.usage.flush();
      // Used tokens: alpha used long ago, beta now; gamma and mine never.
      await t.tessera.store.db
        .updateTable("tokens")
        .set({ last_used_at: Date.now() - 40 * DAY })
        .where("id", "=", ids.alpha!.id)
        .execute();
      await t.tessera.store.db.updateTable("tokens").set({ last_used_at: Date.now() }).where("id", "=", ids.beta!.id).execute();
    });
    const list = async (query: string, creds = w.owner.creds) => call(t.app, "GET", `${tokens()}?${query}`, creds);
    const names = async (query: string) => {
      const res = await list(query);
      expect(res.status, res.raw).toBe(200);
      return (res.body.items as { name: string }[]).map((i) => i.name).filter((n) => n.toLowerCase().startsWith("list "));
    };

    it("finds by name (case-insensitive) and by display prefix, and by a pasted token", async () => {
      expect(await names("q=LIST%20a")).toEqual(["List Alpha"]);
      const prefix = ids.gamma!.token.prefix as string;
      expect(prefix).toMatch(/^tsr_live_[0-9A-Za-z]{6}$/);
      const byPrefix = await list(`q=${prefix}`);
      expect(byPrefix.body.items.map((i: { id: string }) => i.id)).toEqual([ids.gamma!.id]);
      expect((await list(`q=${prefix.slice(0, 12)}`)).body.items.map((i: { id: string }) => i.id)).toContain(ids.gamma!.id);
      expect((await list(`q=${ids.gamma!.secret}`)).body.items.map((i: { id: string }) => i.id)).toEqual([ids.gamma!.id]);
      expect((await list("q=50%25_")).body.items).toEqual([]);
    });

    it("sorts by each key in both orders", async () => {
      expect(await names("sort=name&order=asc&q=list")).toEqual(["List Alpha", "list beta", "List GAMMA", "list member"]);
      expect(await names("sort=name&q=list")).toEqual(["list member", "List GAMMA", "list beta", "List Alpha"]);
      expect(await names("sort=createdAt&order=asc&q=list")).toEqual(["List Alpha", "list beta", "List GAMMA", "list member"]);
      expect(await names("q=list")).toEqual(["list member", "List GAMMA", "list beta", "List Alpha"]);
      // Never expiring counts as latest; never used as oldest.
      expect((await names("sort=expiresAt&order=asc&q=list")).slice(0, 2)).toEqual(["list beta", "List Alpha"]);
      expect((await names("sort=lastUsedAt&q=list"))[0]).toBe("list beta");
      expect((await names("sort=lastUsedAt&q=list"))[1]).toBe("List Alpha");
    });

    it("pages every sort with nextCursor without losing or repeating a row", async () => {
      for (const sort of ["createdAt", "lastUsedAt", "expiresAt", "name"]) {
        for (const order of ["asc", "desc"]) {
          const all = (await list(`sort=${sort}&order=${order}&limit=100`)).body.items.map((i: { id: string }) => i.id);
          const paged: string[] = [];
          let cursor: string | null = null;
          do {
            const res = await list(`sort=${sort}&order=${order}&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
            expect(res.status, res.raw).toBe(200);
            paged.push(...res.body.items.map((i: { id: string }) => i.id));
            cursor = res.body.nextCursor;
          } while (cursor);
          expect(paged, `${sort} ${order}`).toEqual(all);
        }
      }
      const bad = await list("sort=name&cursor=tok_0000000000000000000000");
      expect(bad.status).toBe(400);
      expect(bad.body.errors[0].field).toBe("query.cursor");
    });

    it("filters stale tokens and by creator", async () => {
      expect(await names("unusedForDays=30&sort=name&order=asc")).toEqual(["List Alpha", "List GAMMA", "list member"]);
      expect(await names(`createdById=${w.member.id}`)).toEqual(["list member"]);
      expect(await names(`createdById=${w.admin.id}&q=list&sort=name&order=asc`)).toEqual([
        "List Alpha",
        "list beta",
        "List GAMMA",
      ]);
    });

    it("answers 400 naming an unknown or invalid parameter", async () => {
      for (const [query, field] of [
        ["sortt=name", "querystring.sortt"],
        ["sort=size", "querystring.sort"],
        ["order=up", "querystring.order"],
        ["unusedForDays=0", "querystring.unusedForDays"],
      ]) {
        const res = await list(query!);
        expect(res.status, query).toBe(400);
        expect(res.body.code).toBe("validation_failed");
        expect(res.body.errors[0].field).toBe(field);
        expect(res.body.detail).toContain(field);
      }
    });
  });

  describe("batch", () => {
    it("acts on each id as if alone and reports each result", async () => {
      const a = await createToken(t.app, w.owner.creds, w.orgId, { name: "batch a" });
      const b = await createToken(t.app, w.owner.creds, w.orgId, { name: "batch b" });
      const foreign = await createToken(t.app, w.otherOwner.creds, w.otherOrgId, { name: "foreign" });
      await call(t.app, "POST", `${tokens()}/${b.id}/revoke`, w.owner.creds, {});
      const res = await call(t.app, "POST", `${tokens()}/batch`, w.admin.creds, {
        action: "revoke",
        ids: [a.id, b.id, foreign.id, "tok_nope"],
        reason: "cleanup",
      });
      expect(res.status, res.raw).toBe(200);
      expect(res.body.results).toMatchObject([
        { id: a.id, ok: true, status: "revoked" },
        { id: b.id, ok: false, problem: { code: "invalid_state", status: 409 } },
        { id: foreign.id, ok: false, problem: { code: "not_found", status: 404 } },
        { id: "tok_nope", ok: false, problem: { code: "not_found" } },
      ]);
      expect((await auditOf(a.id))[0]).toMatchObject({ action: "token.revoked", details: { reason: "cleanup" } });
      expect((await call(t.app, "GET", `/v1/orgs/${w.otherOrgId}/tokens/${foreign.id}`, w.otherOwner.creds)).body.status).toBe(
        "active",
      );
    });

    it("keeps a member to their own tokens, refuses a viewer and a narrow token, and validates the body", async () => {
      const owners = await createToken(t.app, w.owner.creds, w.orgId, { name: "owner's" });
      const mine = await createToken(t.app, w.member.creds, w.orgId, { name: "member's own" });
      const res = await call(t.app, "POST", `${tokens()}/batch`, w.member.creds, {
        action: "suspend",
        ids: [owners.id, mine.id],
      });
      expect(res.body.results).toMatchObject([
        { id: owners.id, ok: false, problem: { code: "not_found" } },
        { id: mine.id, ok: true, status: "suspended" },
      ]);
      expect((await call(t.app, "POST", `${tokens()}/batch`, w.viewer.creds, { action: "suspend", ids: [mine.id] })).status).toBe(
        403,
      );
      const narrow = await createToken(t.app, w.owner.creds, w.orgId, { name: "read only", scopes: ["tokens:read"] });
      const byNarrow = await call(
        t.app,
        "POST",
        `${tokens()}/batch`,
        { bearer: narrow.secret },
        { action: "revoke", ids: [owners.id] },
      );
      expect(byNarrow.status).toBe(403);
      const tooMany = Array.from({ length: 101 }, () => mine.id);
      expect((await call(t.app, "POST", `${tokens()}/batch`, w.owner.creds, { action: "revoke", ids: tooMany })).status).toBe(
        400,
      );
      const badAction = await call(t.app, "POST", `${tokens()}/batch`, w.owner.creds, { action: "regenerate", ids: [mine.id] });
      expect(badAction.body.errors[0].field).toBe("action");
    });

    it("revokes concurrent duplicates once", async () => {
      const twin = await createToken(t.app, w.owner.creds, w.orgId, { name: "batch twin" });
      const [x, y] = await Promise.all(
        [0, 1].map(() => call(t.app, "POST", `${tokens()}/batch`, w.owner.creds, { action: "revoke", ids: [twin.id, twin.id] })),
      );
      const oks = [...x!.body.results, ...y!.body.results].filter((r: { ok: boolean }) => r.ok);
      expect(oks.length).toBe(1);
      expect((await auditOf(twin.id)).filter((e) => e.action === "token.revoked").length).toBe(1);
    });
  });

  describe("request history", () => {
    it("records verifications off the hot path with code, ip, user agent and scopes, newest first", async () => {
      const { id, secret } = await createToken(t.app, w.owner.creds, w.orgId, { name: "investigated", scopes: ["tokens:read"] });
      const verify = (body: Record<string, unknown>) =>
        call(t.app, "POST", "/v1/verify", { bearer: root }, { token: secret, ...body });
      expect((await verify({ ip: "203.0.113.7", userAgent: "curl/8.5", scopes: ["tokens:read"] })).body.code).toBe("VALID");
      expect((await verify({ scopes: ["tokens:write"] })).body.code).toBe("INSUFFICIENT_SCOPE");
      const path = `${tokens()}/${id}/requests`;
      await t.tessera.usage.flush();
      const res = await call(t.app, "GET", path, w.owner.creds);
      expect(res.status, res.raw).toBe(200);
      expect(res.body.items).toMatchObject([
        { code: "INSUFFICIENT_SCOPE", ip: null, userAgent: null, scopes: ["tokens:write"] },
        { code: "VALID", ip: "203.0.113.7", userAgent: "curl/8.5", scopes: ["tokens:read"] },
      ]);
      const page = await call(t.app, "GET", `${path}?limit=1`, w.owner.creds);
      const next = await call(t.app, "GET", `${path}?limit=1&cursor=${page.body.nextCursor}`, w.owner.creds);
      expect(next.body.items[0].code).toBe("VALID");
      expect(next.body.nextCursor).toBeNull();
      expect((await call(t.app, "GET", `${path}?since=1`, w.owner.creds)).status).toBe(400);
      expect((await call(t.app, "GET", path, w.member.creds)).status).toBe(404);
      expect((await call(t.app, "GET", `/v1/orgs/${w.otherOrgId}/tokens/${id}/requests`, w.otherOwner.creds)).status).toBe(404);
      expect((await call(t.app, "GET", path, w.viewer.creds)).status).toBe(403);
    });

    /** A history batch as the flush writes it: `ats` oldest first, one request each. */
    const batchRow = (tokenId: string, id: string, ats: number[], code = "VALID") => ({
      id,
      token_id: tokenId,
      at: Math.max(...ats),
      first_at: Math.min(...ats),
      n: ats.length,
      entries: JSON.stringify(ats.flatMap((at, i) => [at, code, `192.0.2.${i % 250}`, null, null])),
    });
    const batchId = (i: number) => `req_${String(i).padStart(22, "0")}`;

    it("pages across batches that share a time, newest first, without duplicates or gaps", async () => {
      const { id } = await createToken(t.app, w.owner.creds, w.orgId, { name: "ties" });
      const at = Date.now() - 5_000;
      // Three batches with the same newest time (several instances flushing in the same millisecond), one older.
      const batches = [
        batchRow(id, batchId(1), [at - 2, at - 1, at, at]),
        batchRow(id, batchId(2), [at, at, at]),
        batchRow(id, batchId(3), [at - 1, at]),
        batchRow(id, batchId(0), [at - 9, at - 8, at - 7, at - 6, at - 5]),
      ];
      await t.tessera.store.db.insertInto("token_request_batches").values(batches).execute();
      // Batches by (newest time, id) descending, each batch's requests newest first.
      const expected = [batches[2]!, batches[1]!, batches[0]!, batches[3]!].flatMap((b) => {
        const e = JSON.parse(b.entries) as unknown[];
        const out: string[] = [];
        for (let i = e.length - 5; i >= 0; i -= 5) out.push(`${new Date(e[i] as number).toISOString()} ${e[i + 2]}`);
        return out;
      });
      for (const limit of [1, 2, 3, 4, 5, 13, 14, 100]) {
        const seen: string[] = [];
        let cursor: string | null = null;
        for (let pages = 0; pages < 20; pages++) {
          const res = await call(
            t.app,
            "GET",
            `${tokens()}/${id}/requests?limit=${limit}${cursor ? `&cursor=${cursor}` : ""}`,
            w.owner.creds,
          );
          expect(res.status, res.raw).toBe(200);
          expect(res.body.items.length).toBeLessThanOrEqual(limit);
          seen.push(...res.body.items.map((r: { at: string; ip: string }) => `${r.at} ${r.ip}`));
          cursor = res.body.nextCursor;
          if (cursor === null) break;
        }
        expect(seen, `limit ${limit}`).toEqual(expected);
      }
      expect((await call(t.app, "GET", `${tokens()}/${id}/requests?cursor=${at}.req_x`, w.owner.creds)).status).toBe(400);
    });

    it("keeps at most the last 10,000 per token and nothing older than 30 days", async () => {
      const { id } = await createToken(t.app, w.owner.creds, w.orgId, { name: "busy" });
      const { id: other } = await createToken(t.app, w.owner.creds, w.orgId, { name: "steady" });
      const now = Date.now();
      const db = t.tessera.store.db;
      // 10,050 requests in 11 batches (1,000 each, the newest 50): the oldest batch loses its oldest 50.
      const ats = Array.from({ length: 10_050 }, (_, i) => now - 10_050 + i);
      const busy = Array.from({ length: 11 }, (_, k) => batchRow(id, batchId(100 + k), ats.slice(k * 1000, k * 1000 + 1000)));
      // 15,000 in 30 batches of 500: the newest 20 are exactly 10,000, the 10 older ones go whole.
      const steady = Array.from({ length: 30 }, (_, k) =>
        batchRow(
          other,
          batchId(200 + k),
          Array.from({ length: 500 }, (_, i) => now - 20 * DAY + k * 1000 + i),
        ),
      );
      // Wholly older than 30 days: deleted. Straddling the boundary: kept until all of it is old.
      const old = batchRow(id, batchId(11), [now - 32 * DAY, now - 31 * DAY]);
      const straddling = batchRow(other, batchId(12), [now - 31 * DAY, now - 29 * DAY]);
      for (const row of [...busy, ...steady, old, straddling]) await db.insertInto("token_request_batches").values(row).execute();

      const sweep = await t.tessera.retention.sweep(now);
      expect(sweep.tokenRequests).toBe(2 + 50 + 10 * 500 + 2);
      const left = async (tokenId: string) => {
        const rows = await db.selectFrom("token_request_batches").selectAll().where("token_id", "=", tokenId).execute();
        const entries = rows.flatMap((r) => JSON.parse(r.entries) as unknown[]);
        for (const r of rows) expect(Number(r.n) * 5).toBe((JSON.parse(r.entries) as unknown[]).length);
        return {
          n: rows.reduce((sum, r) => sum + Number(r.n), 0),
          batches: rows.length,
          oldest: Math.min(...rows.map((r) => Number(r.first_at))),
          oldestEntry: Math.min(...entries.filter((_, i) => i % 5 === 0).map(Number)),
        };
      };
      expect(await left(id)).toEqual({ n: 10_000, batches: 11, oldest: now - 10_000, oldestEntry: now - 10_000 });
      // The straddling batch was the oldest of `steady`'s: the cap took it with the 10 old batches.
      expect(await left(other)).toMatchObject({ n: 10_000, batches: 20, oldest: now - 20 * DAY + 10_000 });
      // The list still pages: the trimmed batch's newest requests are there, its oldest are not.
      const res = await call(t.app, "GET", `${tokens()}/${id}/requests?limit=100`, w.owner.creds);
      expect(res.body.items[0].at).toBe(new Date(now - 1).toISOString());
      expect((await t.tessera.retention.sweep(now)).tokenRequests).toBe(0);
    });

    it("keeps a batch that straddles the 30 days until all of it is old", async () => {
      const { id } = await createToken(t.app, w.owner.creds, w.orgId, { name: "rare" });
      const now = Date.now();
      const db = t.tessera.store.db;
      await db
        .insertInto("token_request_batches")
        .values(batchRow(id, batchId(13), [now - 31 * DAY, now - 30 * DAY + 1000]))
        .execute();
      expect((await t.tessera.retention.sweep(now)).tokenRequests).toBe(0);
      expect((await t.tessera.retention.sweep(now + 2000)).tokenRequests).toBe(2);
    });
  });

  describe("audit chain, export and retention", () => {
    const cli = (...args: string[]) => runCli(["audit", ...args], cliEnv());

    // These run the CLI (a process through tsx): slow on a busy machine.
    it("chains every event and verifies, finding a changed, a removed and a reordered event", { timeout: 300_000 }, async () => {
      const ok = await t.tessera.audit.verify(w.orgId);
      expect(ok.ok, JSON.stringify(ok.problem)).toBe(true);
      expect(ok.events).toBeGreaterThan(10);
      const run = await cli("verify", "--org", w.orgId);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toMatch(/^ok: \d+ events verified/);

      const db = t.tessera.store.db;
      const victim = await db
        .selectFrom("audit_events")
        .selectAll()
        .where("org_id", "=", w.orgId)
        .where("seq", "=", 3)
        .executeTakeFirstOrThrow();
      await db.updateTable("audit_events").set({ actor_name: "Mallory" }).where("id", "=", victim.id).execute();
      const changed = await cli("verify", "--org", w.orgId);
      expect(changed.code).toBe(1);
      expect(changed.stdout).toContain(`TAMPERED at seq 3 (${victim.id})`);
      await db.updateTable("audit_events").set({ actor_name: victim.actor_name }).where("id", "=", victim.id).execute();
      expect((await t.tessera.audit.verify(w.orgId)).ok).toBe(true);

      // Reordered: swap the contents of events 4 and 5 (hashes stay with their rows).
      const [four, five] = await db
        .selectFrom("audit_events")
        .selectAll()
        .where("org_id", "=", w.orgId)
        .where("seq", "in", [4, 5])
        .orderBy("seq")
        .execute();
      await db.updateTable("audit_events").set({ seq: -4 }).where("id", "=", four!.id).execute();
      await db.updateTable("audit_events").set({ seq: 4 }).where("id", "=", five!.id).execute();
      await db.updateTable("audit_events").set({ seq: 5 }).where("id", "=", four!.id).execute();
      const reordered = await t.tessera.audit.verify(w.orgId);
      expect(reordered.ok).toBe(false);
      expect(reordered.problem!.seq).toBe(4);
      await db.updateTable("audit_events").set({ seq: -4 }).where("id", "=", five!.id).execute();
      await db.updateTable("audit_events").set({ seq: 4 }).where("id", "=", four!.id).execute();
      await db.updateTable("audit_events").set({ seq: 5 }).where("id", "=", five!.id).execute();
      expect((await t.tessera.audit.verify(w.orgId)).ok).toBe(true);

      // Removed: in the middle, then at the end (the recorded head notices a removed tail).
      await db.deleteFrom("audit_events").where("id", "=", victim.id).execute();
      const removed = await t.tessera.audit.verify(w.orgId);
      expect(removed.problem).toMatchObject({ seq: 4, reason: "events 3..3 are missing" });
      await db.insertInto("audit_events").values(victim).execute();
      const last = await db
        .selectFrom("audit_events")
        .selectAll()
        .where("org_id", "=", w.orgId)
        .orderBy("seq", "desc")
        .limit(1)
        .executeTakeFirstOrThrow();
      await db.deleteFrom("audit_events").where("id", "=", last.id).execute();
      expect((await t.tessera.audit.verify(w.orgId)).ok).toBe(false);
      await db.insertInto("audit_events").values(last).execute();
      expect((await t.tessera.audit.verify(w.orgId)).ok).toBe(true);
    });

    it("chains concurrent writers without a gap or a fork", async () => {
      const made = await Promise.all(
        Array.from({ length: 12 }, (_, i) => call(t.app, "POST", tokens(), w.owner.creds, { name: `concurrent ${i}` })),
      );
      expect(made.every((r) => r.status === 201)).toBe(true);
      expect((await t.tessera.audit.verify(w.orgId)).ok).toBe(true);
    });

    it("exports CSV and NDJSON with the hashes, which verify as files and reveal an edit", { timeout: 300_000 }, async () => {
      const dir = mkdtempSync(join(tmpdir(), "tessera-export-"));
      try {
        for (const format of ["ndjson", "csv"]) {
          const res = await t.app.inject({
            method: "GET",
            url: `/v1/orgs/${w.orgId}/audit/export?format=${format}`,
            headers: {
              cookie: `tessera_session=${w.owner.creds.session}`,
            },
          });
          expect(res.statusCode, res.body).toBe(200);
          expect(res.headers["content-type"]).toContain(format === "csv" ? "text/csv" : "application/x-ndjson");
          expect(res.headers["content-disposition"]).toContain(`audit-${w.orgId}.${format}`);
          const file = join(dir, `audit.${format}`);
          writeFileSync(file, res.body);
          if (format === "ndjson") {
            const first = JSON.parse(res.body.split("\n")[0]!);
            expect(first).toMatchObject({ seq: 1, prevHash: "0".repeat(64) });
            expect(first.hash).toMatch(/^[0-9a-f]{64}$/);
          } else {
            expect(res.body.split("\r\n")[0]).toBe(
              "id,seq,at,orgId,action,actorType,actorId,actorName,targetType,targetId,targetName,ip,userAgent,traceId,details,prevHash,hash",
            );
          }
          // The CLI for one format (a process is slow on a busy machine), the same function in process for the other.
          if (format === "ndjson") {
            const good = await cli("verify", "--file", file);
            expect(good.code, good.stdout + good.stderr).toBe(0);
          } else {
            expect((await verifyFile(file)).ok).toBe(true);
          }
          writeFileSync(file, readFileSync(file, "utf8").replace("Olive Owner", "Olive Owned"));
          if (format === "ndjson") {
            const bad = await cli("verify", "--file", file);
            expect(bad.code).toBe(1);
            expect(bad.stdout).toContain("TAMPERED");
          } else {
            expect((await verifyFile(file)).problem?.reason).toContain("changed");
          }
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      const filtered = await call(t.app, "GET", `/v1/orgs/${w.orgId}/audit/export?format=ndjson&action=member.*`, w.owner.creds);
      const lines = filtered.raw.trim().split("\n");
      expect(lines.length).toBeGreaterThan(0);
      expect(lines.every((l) => JSON.parse(l).action.startsWith("member."))).toBe(true);
      expect((await call(t.app, "GET", `/v1/orgs/${w.orgId}/audit/export?format=xml`, w.owner.creds)).status).toBe(400);
      expect((await call(t.app, "GET", `/v1/orgs/${w.orgId}/audit/export?format=csv&x=1`, w.owner.creds)).status).toBe(400);
      expect((await call(t.app, "GET", `/v1/orgs/${w.orgId}/audit/export?format=csv`, w.member.creds)).status).toBe(403);
      expect((await call(t.app, "GET", `/v1/orgs/${w.orgId}/audit/export?format=csv`, w.otherOwner.creds)).status).toBe(404);
    });

    it("exports a log of many pages whole, in chain order, and filtered across page boundaries", async () => {
      // The export reads a few hundred events a page: 1,050 more events, every third one a different action.
      const at = Date.now();
      await insertEvents(
        t.tessera.store.db,
        Array.from({ length: 1050 }, (_, i) => ({
          id: `evt_bulk${String(i).padStart(18, "0")}`,
          at: at + i,
          orgId: w.orgId,
          action: i % 3 === 0 ? "bulk.third" : "bulk.other",
          actor: { type: "system" as const, id: null, name: null },
          target: null,
          ip: null,
          userAgent: null,
          traceId: `bulk-${i}`,
          details: { i },
        })),
      );
      const head = await t.tessera.audit.verify(w.orgId);
      expect(head.ok).toBe(true);
      const all = await call(t.app, "GET", `/v1/orgs/${w.orgId}/audit/export?format=ndjson`, w.owner.creds);
      const seqs = all.raw
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).seq as number);
      expect(seqs).toEqual(Array.from({ length: head.headSeq - head.fromSeq }, (_, i) => head.fromSeq + 1 + i));
      const csv = await call(t.app, "GET", `/v1/orgs/${w.orgId}/audit/export?format=csv&action=bulk.third`, w.owner.creds);
      const records = csv.raw.trim().split("\r\n").slice(1);
      expect(records).toHaveLength(350);
      expect(records.map((r) => r.split(",")[13])).toEqual(Array.from({ length: 350 }, (_, i) => `bulk-${i * 3}`));
    });

    it("prunes behind a signed checkpoint so the rest still verifies", async () => {
      const before = await t.tessera.audit.verify(w.orgId);
      expect((await call(t.app, "PATCH", `/v1/orgs/${w.orgId}`, w.owner.creds, { auditRetentionDays: 1 })).status).toBe(200);
      // Everything so far is older than a day when the sweep runs "two days from now".
      const later = Date.now() + 2 * DAY;
      const sweep = await t.tessera.retention.sweep(later);
      expect(sweep.orgAuditEvents).toBeGreaterThanOrEqual(before.events);
      // The sweep "two days from now" also ended every session.
      for (const [person, email] of [
        [w.owner, "owner@acme.test"],
        [w.admin, "admin@acme.test"],
        [w.member, "member@acme.test"],
      ] as const) {
        person.creds = await login(t.app, email);
      }
      await call(t.app, "PATCH", `/v1/orgs/${w.orgId}`, w.owner.creds, { auditRetentionDays: null });
      const after = await t.tessera.audit.verify(w.orgId);
      expect(after.ok, JSON.stringify(after.problem)).toBe(true);
      expect(after.fromSeq).toBeGreaterThan(0);
      const checkpoint = await t.tessera.store.db
        .selectFrom("audit_checkpoints")
        .selectAll()
        .where("org_key", "=", w.orgId)
        .orderBy("seq", "desc")
        .executeTakeFirstOrThrow();
      // Forging the checkpoint (to hide a deletion) is caught when the instance has a key.
      if (checkpoint.signature !== null) {
        await t.tessera.store.db
          .updateTable("audit_checkpoints")
          .set({ pruned: Number(checkpoint.pruned) + 1 })
          .where("org_key", "=", w.orgId)
          .where("seq", "=", checkpoint.seq)
          .execute();
        expect((await t.tessera.audit.verify(w.orgId)).ok).toBe(false);
      }
    });
  });

  describe("membersCanSeeTokens", () => {
    it("keeps members off every token endpoint while off, owners and admins unaffected", async () => {
      const org = `/v1/orgs/${w.orgId}`;
      const mine = await createToken(t.app, w.member.creds, w.orgId, { name: "hidden from me" });
      expect((await call(t.app, "GET", org, w.owner.creds)).body.settings.membersCanSeeTokens).toBe(true);
      const off = await call(t.app, "PATCH", org, w.owner.creds, { membersCanSeeTokens: false });
      expect(off.status, off.raw).toBe(200);
      expect(off.body.settings.membersCanSeeTokens).toBe(false);
      try {
        for (const [method, path, body] of [
          ["GET", tokens(), undefined],
          ["GET", `${tokens()}/${mine.id}`, undefined],
          ["GET", `${tokens()}/${mine.id}/requests`, undefined],
          ["POST", tokens(), { name: "nope" }],
          ["PATCH", `${tokens()}/${mine.id}`, { name: "nope" }],
          ["POST", `${tokens()}/${mine.id}/suspend`, undefined],
          ["POST", `${tokens()}/batch`, { action: "suspend", ids: [mine.id] }],
        ] as const) {
          const res = await call(t.app, method, path, w.member.creds, body);
          expect(res.status, `${method} ${path}`).toBe(403);
          expect(res.body.code).toBe("forbidden");
        }
        // The member's own personal token is kept off too (its owner is a member).
        expect((await call(t.app, "GET", tokens(), { bearer: mine.secret })).status).toBe(403);
        expect((await call(t.app, "GET", tokens(), w.admin.creds)).status).toBe(200);
        expect((await call(t.app, "GET", `${tokens()}/${mine.id}`, w.owner.creds)).status).toBe(200);
      } finally {
        await call(t.app, "PATCH", org, w.owner.creds, { membersCanSeeTokens: true });
      }
      expect((await call(t.app, "GET", tokens(), w.member.creds)).status).toBe(200);
      const change = (await call(t.app, "GET", `${org}/audit?action=org.settings_changed`, w.owner.creds)).body.items[1];
      expect(change.details.changes.membersCanSeeTokens).toEqual({ from: true, to: false });
    });
  });
});
