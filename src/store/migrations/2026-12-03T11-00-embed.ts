import type { Kysely } from "kysely";

/**
 * Host-provisioned identity and embed sessions (SPEC §9): users and organisations carry the host's id
 * (`external_id`, unique where set), and an embed session is a single-use handoff exchanged once for a
 * short-lived bearer. Only SHA-256 digests of the handoff and of the bearer are stored.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("users").addColumn("external_id", "text").execute();
  await db.schema.createIndex("users_external_id_idx").on("users").column("external_id").unique().execute();
  await db.schema.alterTable("organizations").addColumn("external_id", "text").execute();
  await db.schema.createIndex("organizations_external_id_idx").on("organizations").column("external_id").unique().execute();

  await db.schema
    .createTable("embed_sessions")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("handoff_hash", "text", (c) => c.notNull().unique())
    .addColumn("bearer_hash", "text", (c) => c.unique())
    .addColumn("user_id", "text", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("org_id", "text", (c) => c.notNull().references("organizations.id").onDelete("cascade"))
    .addColumn("locale", "text", (c) => c.notNull())
    // JSON `{mode, accent}`.
    .addColumn("theme", "text", (c) => c.notNull())
    // The token that minted it (root or service).
    .addColumn("created_by_id", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("handoff_expires_at", "bigint", (c) => c.notNull())
    .addColumn("exchanged_at", "bigint")
    // Null until the handoff is exchanged; then when the bearer stops working.
    .addColumn("expires_at", "bigint")
    .execute();
  await db.schema.createIndex("embed_sessions_created_idx").on("embed_sessions").column("created_at").execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("embed_sessions").ifExists().execute();
  await db.schema.dropIndex("organizations_external_id_idx").ifExists().execute();
  await db.schema.alterTable("organizations").dropColumn("external_id").execute();
  await db.schema.dropIndex("users_external_id_idx").ifExists().execute();
  await db.schema.alterTable("users").dropColumn("external_id").execute();
}
