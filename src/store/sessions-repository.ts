import type { Db } from "./database.js";

export interface SessionRecord {
  idHash: string;
  /** `ses_…`: shown to the person; never the cookie or its hash. */
  publicId: string;
  userId: string;
  csrfToken: string;
  expiresAt: number;
  createdAt?: number;
  ip?: string | null;
  userAgent?: string | null;
  lastSeenAt?: number | null;
}

export async function insertSession(db: Db, s: SessionRecord, now: number): Promise<void> {
  await db
    .insertInto("sessions")
    .values({
      id_hash: s.idHash,
      public_id: s.publicId,
      user_id: s.userId,
      csrf_token: s.csrfToken,
      created_at: now,
      expires_at: s.expiresAt,
      ip: s.ip ?? null,
      user_agent: s.userAgent ?? null,
      last_seen_at: now,
    })
    .execute();
}

function fromRow(row: {
  id_hash: string;
  public_id: string | null;
  user_id: string;
  csrf_token: string;
  expires_at: number;
  created_at: number;
  ip: string | null;
  user_agent: string | null;
  last_seen_at: number | null;
}): SessionRecord {
  return {
    idHash: row.id_hash,
    publicId: row.public_id ?? "",
    userId: row.user_id,
    csrfToken: row.csrf_token,
    expiresAt: row.expires_at,
    createdAt: row.created_at,
    ip: row.ip,
    userAgent: row.user_agent,
    lastSeenAt: row.last_seen_at,
  };
}

export async function findSession(db: Db, idHash: string): Promise<SessionRecord | undefined> {
  const row = await db.selectFrom("sessions").selectAll().where("id_hash", "=", idHash).executeTakeFirst();
  return row ? fromRow(row) : undefined;
}

/** The account's unexpired sessions, newest first. */
export async function listSessionsOfUser(db: Db, userId: string, now: number): Promise<SessionRecord[]> {
  const rows = await db
    .selectFrom("sessions")
    .selectAll()
    .where("user_id", "=", userId)
    .where("expires_at", ">", now)
    .orderBy("created_at", "desc")
    .limit(1000)
    .execute();
  return rows.map(fromRow);
}

export async function touchSession(db: Db, idHash: string, now: number): Promise<void> {
  await db.updateTable("sessions").set({ last_seen_at: now }).where("id_hash", "=", idHash).execute();
}

export async function deleteSession(db: Db, idHash: string): Promise<void> {
  await db.deleteFrom("sessions").where("id_hash", "=", idHash).execute();
}

/** Ends one of the account's sessions by its public id; false when the account has no such session. */
export async function deleteSessionByPublicId(db: Db, userId: string, publicId: string): Promise<boolean> {
  const result = await db
    .deleteFrom("sessions")
    .where("user_id", "=", userId)
    .where("public_id", "=", publicId)
    .executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** Ends every session of the account, except the one whose hash is `keepIdHash` (when given). */
export async function deleteSessionsOfUser(db: Db, userId: string, keepIdHash?: string): Promise<number> {
  let query = db.deleteFrom("sessions").where("user_id", "=", userId);
  if (keepIdHash !== undefined) query = query.where("id_hash", "!=", keepIdHash);
  const result = await query.executeTakeFirst();
  return Number(result.numDeletedRows);
}
