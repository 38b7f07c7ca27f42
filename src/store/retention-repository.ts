import { sql } from "kysely";
import type { Db } from "./database.js";
import { orgFromRow } from "./orgs-repository.js";

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

export async function deleteTokenRequestsBeforeChunk(db: Db, before: number, limit: number): Promise<number> {
  const result = await db
    .deleteFrom("token_requests")
    .where("id", "in", (eb) => eb.selectFrom("token_requests").select("id").where("at", "<", before).orderBy("at").limit(limit))
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** Tokens with more than `keep` requests in their history (one grouped pass over the table). */
export async function tokensOverRequestCap(db: Db, keep: number): Promise<string[]> {
  const rows = await db
    .selectFrom("token_requests")
    .select("token_id")
    .groupBy("token_id")
    .having((eb) => eb.fn.countAll(), ">", keep)
    .execute();
  return rows.map((r) => r.token_id);
}

/** Deletes up to `limit` of a token's requests older than its newest `keep`. */
export async function deleteTokenRequestsBeyondChunk(db: Db, tokenId: string, keep: number, limit: number): Promise<number> {
  const boundary = await db
    .selectFrom("token_requests")
    .select(["at", "id"])
    .where("token_id", "=", tokenId)
    .orderBy("at", "desc")
    .orderBy("id", "desc")
    .offset(keep - 1)
    .limit(1)
    .executeTakeFirst();
  if (!boundary) return 0;
  const result = await db
    .deleteFrom("token_requests")
    .where("id", "in", (eb) =>
      eb
        .selectFrom("token_requests")
        .select("id")
        .where("token_id", "=", tokenId)
        .where((w) => w.or([w("at", "<", boundary.at), w.and([w("at", "=", boundary.at), w("id", "<", boundary.id)])]))
        .orderBy("at")
        .limit(limit),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
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
