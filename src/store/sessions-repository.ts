import type { Db } from "./database.js";

export interface SessionRecord {
  idHash: string;
  userId: string;
  csrfToken: string;
  expiresAt: number;
}

export async function insertSession(db: Db, s: SessionRecord, now: number): Promise<void> {
  await db
    .insertInto("sessions")
    .values({ id_hash: s.idHash, user_id: s.userId, csrf_token: s.csrfToken, created_at: now, expires_at: s.expiresAt })
    .execute();
}

export async function findSession(db: Db, idHash: string): Promise<SessionRecord | undefined> {
  const row = await db.selectFrom("sessions").selectAll().where("id_hash", "=", idHash).executeTakeFirst();
  return row ? { idHash: row.id_hash, userId: row.user_id, csrfToken: row.csrf_token, expiresAt: row.expires_at } : undefined;
}

export async function deleteSession(db: Db, idHash: string): Promise<void> {
  await db.deleteFrom("sessions").where("id_hash", "=", idHash).execute();
}

export async function deleteExpiredSessions(db: Db, now: number): Promise<void> {
  await db.deleteFrom("sessions").where("expires_at", "<=", now).execute();
}
