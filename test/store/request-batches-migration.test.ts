import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newId } from "../../src/core/ids.js";
import { migrate, type Store } from "../../src/store/database.js";
import { listTokenRequests } from "../../src/store/usage-repository.js";
import { dialects } from "../support/databases.js";
import { type MigrationStore, storeMigratedTo } from "../support/migrations.js";

const BEFORE = "2026-12-04T13-00-token-search";
const T0 = Date.UTC(2026, 11, 1);

interface OldRow {
  id: string;
  token_id: string;
  at: number;
  code: string;
  ip: string | null;
  user_agent: string | null;
  scopes: string;
}

/** Issue 11, bench c: `token_requests` (a row per request) moves into `token_request_batches`. */
describe.each(await dialects())("the request-batches migration on %s", (dialect) => {
  let opened: MigrationStore;
  let store: Store;

  beforeAll(async () => {
    opened = await storeMigratedTo(dialect, BEFORE);
    store = opened.store;
  });
  afterAll(() => opened?.close());

  it("moves every token's requests into batches, listed in the old order, and can go back", async () => {
    const busy = newId("token");
    const quiet = newId("token");
    const rows: OldRow[] = [];
    // 2,500 requests, many sharing a millisecond (the old order breaks ties by id), across two chunks' edges.
    for (let i = 0; i < 2_500; i++) {
      rows.push({
        id: newId("request"),
        token_id: busy,
        at: T0 + Math.floor(i / 7),
        code: i % 3 === 0 ? "INSUFFICIENT_SCOPE" : "VALID",
        ip: i % 2 ? `192.0.2.${i % 250}` : null,
        user_agent: i % 5 ? null : "curl/8",
        scopes: i % 3 === 0 ? '["tokens:write"]' : "[]",
      });
    }
    for (let i = 0; i < 3; i++) {
      rows.push({
        id: newId("request"),
        token_id: quiet,
        at: T0 - i,
        code: "VALID",
        ip: null,
        user_agent: null,
        scopes: '["a","b"]',
      });
    }
    for (let i = 0; i < rows.length; i += 200) {
      const values = sql.join(
        rows
          .slice(i, i + 200)
          .map((r) => sql`(${r.id}, ${r.token_id}, ${r.at}, ${r.code}, ${r.ip}, ${r.user_agent}, ${r.scopes})`),
      );
      await sql`insert into token_requests (id, token_id, at, code, ip, user_agent, scopes) values ${values}`.execute(store.db);
    }

    expect(await migrate(store.db)).toContain("2026-12-04T14-00-request-batches");

    const batches = await store.db.selectFrom("token_request_batches").selectAll().orderBy("id").execute();
    expect(batches.filter((b) => b.token_id === busy).map((b) => Number(b.n))).toEqual([1_000, 1_000, 500]);
    expect(batches.filter((b) => b.token_id === quiet).map((b) => [Number(b.n), Number(b.first_at), Number(b.at)])).toEqual([
      [3, T0 - 2, T0],
    ]);
    const old = (tokenId: string) =>
      rows
        .filter((r) => r.token_id === tokenId)
        .sort((a, b) => b.at - a.at || (a.id < b.id ? 1 : -1))
        .map((r) => ({ at: r.at, code: r.code, ip: r.ip, userAgent: r.user_agent, scopes: JSON.parse(r.scopes) as string[] }));
    for (const tokenId of [busy, quiet]) {
      const listed = await listTokenRequests(store.db, tokenId, undefined, 5_000);
      expect(listed.map(({ position: _, ...r }) => r)).toEqual(old(tokenId));
    }
    const gone = await sql`select 1 from token_requests`.execute(store.db).catch(() => "gone");
    expect(gone).toBe("gone");

    // Down: a row per request again.
    await opened.migrateTo(BEFORE);
    const back = await sql<{ token_id: string; n: number | string }>`
      select token_id, count(*) as n from token_requests group by token_id order by count(*)`.execute(store.db);
    expect(back.rows.map((r) => [r.token_id, Number(r.n)])).toEqual([
      [quiet, 3],
      [busy, 2_500],
    ]);
  });
});
