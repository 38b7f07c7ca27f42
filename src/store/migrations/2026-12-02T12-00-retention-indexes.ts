import type { Kysely } from "kysely";

/**
 * Indexes the retention job walks: without them every chunked delete of expired sessions or old usage
 * buckets would scan the whole table. Audit pruning uses `audit_org_idx` (org_id, id): ids sort by time.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex("sessions_expires_idx").on("sessions").column("expires_at").execute();
  await db.schema.createIndex("token_usage_bucket_idx").on("token_usage").column("bucket_start").execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex("token_usage_bucket_idx").ifExists().execute();
  await db.schema.dropIndex("sessions_expires_idx").ifExists().execute();
}
