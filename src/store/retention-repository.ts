import { sql } from "kysely";
import type { Db } from "./database.js";
import { orgFromRow } from "./orgs-repository.js";
import { REQUEST_SLOTS } from "./usage-repository.js";

/**
 * Chunked deletes for the retention job. Each call removes at most `limit` rows (never one unbounded
 * delete: a long statement would hold SQLite's only writer, or a PostgreSQL transaction, for as long as
 * the backlog takes) and answers how many it removed; the caller repeats until fewer come back.
 */

export async function deleteExpiredSessionsChunk(db: Db, now: number, limit: number): Promise<number> {
  const result = await db
    .deleteFrom("sessions")
    .where("id_hash", "in", (eb) =>
      eb.selectFrom("sessions").select("id_hash").where("expires_at", "<=", now).orderBy("expires_at").limit(limit),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

export async function deleteUsageBeforeChunk(db: Db, before: number, limit: number): Promise<number> {
  const result = await db
    .deleteFrom("token_usage")
    .where((eb) =>
      eb(
        eb.refTuple("token_id", "bucket_start"),
        "in",
        eb
          .selectFrom("token_usage")
          .select(["token_id", "bucket_start"])
          .where("bucket_start", "<", before)
          .orderBy("bucket_start")
          .limit(limit)
          .$asTuple("token_id", "bucket_start"),
      ),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** What a chunk of history retention removed: batch rows (the chunk's size) and the requests in them. */
export interface RequestsRemoved {
  rows: number;
  requests: number;
}

async function deleteBatches(db: Db, batches: readonly { id: string; n: number | string }[]): Promise<RequestsRemoved> {
  if (batches.length === 0) return { rows: 0, requests: 0 };
  await db
    .deleteFrom("token_request_batches")
    .where(
      "id",
      "in",
      batches.map((b) => b.id),
    )
    .execute();
  return { rows: batches.length, requests: batches.reduce((sum, b) => sum + Number(b.n), 0) };
}

/**
 * Deletes up to `limit` history batches whose newest request is older than `before`. A batch that
 * straddles `before` (one flush interval of requests: about a second, unless flushes failed) is kept
 * until all of it is old.
 */
export async function deleteTokenRequestsBeforeChunk(db: Db, before: number, limit: number): Promise<RequestsRemoved> {
  const old = await db
    .selectFrom("token_request_batches")
    .select(["id", "n"])
    .where("at", "<", before)
    .orderBy("at")
    .limit(limit)
    .execute();
  return deleteBatches(db, old);
}

/** Tokens with more than `keep` requests in their history (one grouped pass over the batches' index). */
export async function tokensOverRequestCap(db: Db, keep: number): Promise<string[]> {
  const rows = await db
    .selectFrom("token_request_batches")
    .select("token_id")
    .groupBy("token_id")
    .having((eb) => eb.fn.sum("n"), ">", keep)
    .execute();
  return rows.map((r) => r.token_id);
}

/**
 * Removes a token's requests older than its newest `keep`: the batch holding the `keep`-th newest request
 * loses its older requests (the head of its oldest-first entries, so positions counted from the newest
 * stay valid), and up to `limit` batches older than it are deleted. Exactly `keep` are left.
 */
export async function deleteTokenRequestsBeyondChunk(
  db: Db,
  tokenId: string,
  keep: number,
  limit: number,
): Promise<RequestsRemoved> {
  // The newest batch at which the running count (newest first) reaches `keep`.
  const { rows } = await sql<{ id: string; at: number | string; n: number | string; total: number | string }>`
    select id, at, n, total from (
      select id, at, n, sum(n) over (order by at desc, id desc rows between unbounded preceding and current row) as total
      from token_request_batches where token_id = ${tokenId}
    ) as running
    where total >= ${keep}
    order by at desc, id desc
    limit 1`.execute(db);
  const boundary = rows[0];
  if (!boundary) return { rows: 0, requests: 0 };
  const at = Number(boundary.at);
  const excess = Number(boundary.total) - keep;
  let trimmed = 0;
  if (excess > 0) {
    const batch = await db
      .selectFrom("token_request_batches")
      .select("entries")
      .where("id", "=", boundary.id)
      .executeTakeFirstOrThrow();
    const entries = (JSON.parse(batch.entries) as unknown[]).slice(excess * REQUEST_SLOTS);
    let firstAt = Infinity;
    for (let i = 0; i < entries.length; i += REQUEST_SLOTS) firstAt = Math.min(firstAt, entries[i] as number);
    await db
      .updateTable("token_request_batches")
      .set({ entries: JSON.stringify(entries), n: entries.length / REQUEST_SLOTS, first_at: firstAt })
      .where("id", "=", boundary.id)
      .execute();
    trimmed = excess;
  }
  const older = await db
    .selectFrom("token_request_batches")
    .select(["id", "n"])
    .where("token_id", "=", tokenId)
    .where((eb) => eb.or([eb("at", "<", at), eb.and([eb("at", "=", at), eb("id", "<", boundary.id)])]))
    .orderBy("at")
    .orderBy("id")
    .limit(limit)
    .execute();
  const removed = await deleteBatches(db, older);
  return { rows: removed.rows, requests: removed.requests + trimmed };
}

/**
 * The ids of the oldest audit events of an organisation (null: instance-level events) older than
 * `before`, oldest first. Ids sort by time, so this walks `audit_org_idx` from its start.
 */
export async function oldAuditEventIds(db: Db, orgId: string | null, before: number, limit: number): Promise<string[]> {
  const rows = await db
    .selectFrom("audit_events")
    .select("id")
    .where("org_id", orgId === null ? "is" : "=", orgId)
    .where("at", "<", before)
    .orderBy("id")
    .limit(limit)
    .execute();
  return rows.map((r) => r.id);
}

/** The retention job is the only deleter of audit events; everything else appends. */
export async function deleteAuditEvents(db: Db, ids: readonly string[]): Promise<number> {
  if (ids.length === 0) return 0;
  const result = await db.deleteFrom("audit_events").where("id", "in", ids).executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** One page of organisations with an audit retention period, in id order after `afterId`. */
export async function orgsWithAuditRetention(
  db: Db,
  afterId: string,
  limit: number,
): Promise<{ page: { id: string; auditRetentionDays: number }[]; lastId: string | null }> {
  const rows = await db.selectFrom("organizations").selectAll().where("id", ">", afterId).orderBy("id").limit(limit).execute();
  const page = rows
    .map(orgFromRow)
    .filter((o) => o.settings.auditRetentionDays !== null)
    .map((o) => ({ id: o.id, auditRetentionDays: o.settings.auditRetentionDays! }));
  return { page, lastId: rows.length === limit ? rows[rows.length - 1]!.id : null };
}

/** An arbitrary constant naming Tessera's retention sweep among PostgreSQL advisory locks. */
const RETENTION_LOCK = 7_345_001;

/**
 * PostgreSQL: takes the retention lock for the rest of the transaction, or answers false at once when
 * another instance holds it (instances take turns instead of racing to delete the same rows). SQLite
 * has one writer per file anyway: always true.
 */
export async function tryRetentionLock(db: Db, dialect: "sqlite" | "postgres"): Promise<boolean> {
  if (dialect !== "postgres") return true;
  const { rows } = await sql<{ ok: boolean }>`select pg_try_advisory_xact_lock(${RETENTION_LOCK}) as ok`.execute(db);
  return rows[0]?.ok === true;
}
