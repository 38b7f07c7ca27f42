import type { Kysely } from "kysely";

/**
 * Issue 14 parts 2 and 3 (scheduled notices, mail, leak response):
 * - `token_notices`: one row per token, kind and threshold; its primary key makes every notice exactly-once;
 * - `mail_outbox`: mail written in the transaction of the change it reports, sent by the mail loop;
 * - `tokens.leaked_at` / `leak_url`: a secret scanner's report (SPEC §11);
 * - `users.locale`: the language of a person's mail.
 * The scheduler's token queries use the governance indexes (org_id, coalesce(expires_at|last_used_at), id).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("tokens").addColumn("leaked_at", "bigint").execute();
  await db.schema.alterTable("tokens").addColumn("leak_url", "text").execute();
  await db.schema.alterTable("users").addColumn("locale", "text").execute();
  await db.schema
    .createTable("token_notices")
    .addColumn("token_id", "text", (c) => c.notNull())
    .addColumn("kind", "text", (c) => c.notNull())
    .addColumn("threshold", "integer", (c) => c.notNull())
    .addColumn("at", "bigint", (c) => c.notNull())
    .addPrimaryKeyConstraint("token_notices_pk", ["token_id", "kind", "threshold"])
    .execute();
  await db.schema
    .createTable("mail_outbox")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("to_address", "text", (c) => c.notNull())
    .addColumn("subject", "text", (c) => c.notNull())
    .addColumn("text_body", "text", (c) => c.notNull())
    .addColumn("html_body", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("next_attempt_at", "bigint", (c) => c.notNull())
    .addColumn("attempts", "integer", (c) => c.notNull())
    .addColumn("sent_at", "bigint")
    .addColumn("last_error", "text")
    .execute();
  await db.schema.createIndex("mail_outbox_due_idx").on("mail_outbox").columns(["sent_at", "next_attempt_at"]).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("mail_outbox").ifExists().execute();
  await db.schema.dropTable("token_notices").ifExists().execute();
  await db.schema.alterTable("users").dropColumn("locale").execute();
  await db.schema.alterTable("tokens").dropColumn("leak_url").execute();
  await db.schema.alterTable("tokens").dropColumn("leaked_at").execute();
}
