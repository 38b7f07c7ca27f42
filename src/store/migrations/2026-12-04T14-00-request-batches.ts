import { type Kysely, sql } from "kysely";
import { newId } from "../../core/ids.js";

/** Requests per batch made from the old rows: a page of entries of a few tens of kilobytes. */
const MOVE_CHUNK = 1_000;

interface OldRow {
  id: string;
  at: number | string;
  code: string;
  ip: string | null;
  user_agent: string | null;
  scopes: string;
}

/**
 * Issue 11, bench c: a token's request history becomes one row per token per flush
 * (`token_request_batches`) instead of one row per verification (`token_requests`, three b-tree inserts
 * each, a generated id and a scope list's JSON: at 15,000-30,000 verifications a second that writing
 * took the CPU the server and its clients needed, and slowed as the table grew).
 *
 * A batch: `at` its newest request's time, `first_at` its oldest, `n` its requests, `entries` their JSON,
 * flat and oldest first: `[at, code, ip, userAgent, scopes|null, at, …]` (what the recorder keeps in
 * memory, so writing it is one `JSON.stringify`). `n` sits before `entries` and in the index, so
 * counting and paging read no entries. The rows of `token_requests` move into batches of up to
 * MOVE_CHUNK requests per token, ids made oldest first (so a token's newer batch has the greater id).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("token_request_batches")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("token_id", "text", (c) => c.notNull())
    .addColumn("at", "bigint", (c) => c.notNull())
    .addColumn("first_at", "bigint", (c) => c.notNull())
    .addColumn("n", "integer", (c) => c.notNull())
    .addColumn("entries", "text", (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex("token_request_batches_token_idx")
    .on("token_request_batches")
    .columns(["token_id", "at", "id", "n"])
    .execute();
  await db.schema.createIndex("token_request_batches_at_idx").on("token_request_batches").column("at").execute();

  const tokens = await sql<{ token_id: string }>`select distinct token_id from token_requests order by token_id`.execute(db);
  for (const { token_id: tokenId } of tokens.rows) {
    let after: { at: number; id: string } | undefined;
    for (;;) {
      const page = await sql<OldRow>`
        select id, at, code, ip, user_agent, scopes from token_requests
        where token_id = ${tokenId}
          ${after ? sql`and (at > ${after.at} or (at = ${after.at} and id > ${after.id}))` : sql.raw("")}
        order by at, id limit ${MOVE_CHUNK}`.execute(db);
      const rows = page.rows;
      if (rows.length === 0) break;
      const entries: unknown[] = [];
      for (const r of rows) {
        const scopes = JSON.parse(r.scopes) as string[];
        entries.push(Number(r.at), r.code, r.ip, r.user_agent, scopes.length > 0 ? scopes : null);
      }
      const last = rows[rows.length - 1]!;
      await sql`
        insert into token_request_batches (id, token_id, at, first_at, n, entries)
        values (${newId("request")}, ${tokenId}, ${Number(last.at)}, ${Number(rows[0]!.at)}, ${rows.length}, ${JSON.stringify(entries)})`.execute(
        db,
      );
      if (rows.length < MOVE_CHUNK) break;
      after = { at: Number(last.at), id: last.id };
    }
  }
  await db.schema.dropTable("token_requests").execute();
}

/** Back to a row per request (new request ids, in each batch's order). */
export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("token_requests")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("token_id", "text", (c) => c.notNull())
    .addColumn("at", "bigint", (c) => c.notNull())
    .addColumn("code", "text", (c) => c.notNull())
    .addColumn("ip", "text")
    .addColumn("user_agent", "text")
    .addColumn("scopes", "text", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("token_requests_token_idx").on("token_requests").columns(["token_id", "at", "id"]).execute();
  await db.schema.createIndex("token_requests_at_idx").on("token_requests").column("at").execute();
  let afterId = "";
  for (;;) {
    const page = await sql<{ id: string; token_id: string; entries: string }>`
      select id, token_id, entries from token_request_batches where id > ${afterId} order by id limit 100`.execute(db);
    for (const batch of page.rows) {
      const e = JSON.parse(batch.entries) as unknown[];
      for (let i = 0; i < e.length; i += 5) {
        await sql`
          insert into token_requests (id, token_id, at, code, ip, user_agent, scopes)
          values (${newId("request")}, ${batch.token_id}, ${e[i] as number}, ${e[i + 1] as string}, ${e[i + 2] as string | null},
            ${e[i + 3] as string | null}, ${JSON.stringify(e[i + 4] ?? [])})`.execute(db);
      }
    }
    if (page.rows.length < 100) break;
    afterId = page.rows[page.rows.length - 1]!.id;
  }
  await db.schema.dropTable("token_request_batches").execute();
}
