import { newId } from "../core/ids.js";
import type { Db, Dialect } from "./database.js";

export interface OutboxMail {
  id: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  attempts: number;
}

/** Queues a mail in the caller's transaction: it is sent if and only if that transaction commits. */
export async function enqueueMail(
  db: Db,
  mail: { to: string; subject: string; text: string; html: string },
  now: number,
): Promise<void> {
  await db
    .insertInto("mail_outbox")
    .values({
      id: newId("mail"),
      to_address: mail.to,
      subject: mail.subject,
      text_body: mail.text,
      html_body: mail.html,
      created_at: now,
      next_attempt_at: now,
      attempts: 0,
      sent_at: null,
      last_error: null,
    })
    .execute();
}

/**
 * Takes up to `limit` due mails for `leaseMs`: their due time moves past the lease and their attempt count
 * goes up, in one short transaction. On PostgreSQL `for update skip locked` hands each row to one instance;
 * SQLite's writes are serial. A mail whose sender dies mid-send is due again when its lease ends.
 */
export async function leaseDueMail(db: Db, dialect: Dialect, now: number, leaseMs: number, limit: number): Promise<OutboxMail[]> {
  let query = db
    .selectFrom("mail_outbox")
    .select(["id", "to_address", "subject", "text_body", "html_body", "attempts"])
    .where("sent_at", "is", null)
    .where("next_attempt_at", "<=", now)
    .orderBy("next_attempt_at")
    .limit(limit);
  if (dialect === "postgres") query = query.forUpdate().skipLocked();
  const rows = await query.execute();
  if (rows.length === 0) return [];
  await db
    .updateTable("mail_outbox")
    .set((eb) => ({ next_attempt_at: now + leaseMs, attempts: eb("attempts", "+", 1) }))
    .where(
      "id",
      "in",
      rows.map((r) => r.id),
    )
    .execute();
  return rows.map((r) => ({
    id: r.id,
    to: r.to_address,
    subject: r.subject,
    text: r.text_body,
    html: r.html_body,
    attempts: Number(r.attempts) + 1,
  }));
}

export async function markMailSent(db: Db, id: string, now: number): Promise<void> {
  await db.updateTable("mail_outbox").set({ sent_at: now, last_error: null }).where("id", "=", id).execute();
}

export async function markMailFailed(db: Db, id: string, retryAt: number, error: string): Promise<void> {
  await db
    .updateTable("mail_outbox")
    .set({ next_attempt_at: retryAt, last_error: error.slice(0, 500) })
    .where("id", "=", id)
    .execute();
}

/** Sent mail older than `before`, a chunk at a time (the retention of the outbox). */
export async function deleteSentMailBefore(db: Db, before: number, limit: number): Promise<number> {
  // One statement, as the retention repository's chunks (a select, then a delete by ids, was two).
  const result = await db
    .deleteFrom("mail_outbox")
    .where("id", "in", (eb) =>
      eb.selectFrom("mail_outbox").select("id").where("sent_at", "is not", null).where("sent_at", "<", before).limit(limit),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
