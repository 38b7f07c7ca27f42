import type { Kysely } from "kysely";

/** The first schema. Only types both SQLite and PostgreSQL understand the same way. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("users")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("email", "text", (c) => c.notNull().unique())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("password_hash", "text", (c) => c.notNull())
    .addColumn("instance_admin", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("disabled_at", "bigint")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("updated_at", "bigint", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("organizations")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("settings", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("updated_at", "bigint", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("memberships")
    .addColumn("org_id", "text", (c) => c.notNull().references("organizations.id").onDelete("cascade"))
    .addColumn("user_id", "text", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("role", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addPrimaryKeyConstraint("memberships_pk", ["org_id", "user_id"])
    .execute();
  await db.schema.createIndex("memberships_user_idx").on("memberships").column("user_id").execute();

  await db.schema
    .createTable("org_scopes")
    .addColumn("org_id", "text", (c) => c.notNull().references("organizations.id").onDelete("cascade"))
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("description", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addPrimaryKeyConstraint("org_scopes_pk", ["org_id", "name"])
    .execute();

  await db.schema
    .createTable("tokens")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("org_id", "text", (c) => c.references("organizations.id"))
    .addColumn("kind", "text", (c) => c.notNull())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("description", "text")
    .addColumn("issued_for", "text")
    .addColumn("owner_id", "text", (c) => c.references("users.id"))
    .addColumn("created_by_id", "text")
    .addColumn("created_by_name", "text")
    .addColumn("prefix", "text", (c) => c.notNull())
    .addColumn("last4", "text", (c) => c.notNull())
    .addColumn("environment", "text", (c) => c.notNull())
    .addColumn("scopes", "text", (c) => c.notNull())
    .addColumn("expires_at", "bigint")
    .addColumn("deactivated_at", "bigint")
    .addColumn("suspended_at", "bigint")
    .addColumn("revoked_at", "bigint")
    .addColumn("revoked_by_id", "text")
    .addColumn("revoked_by_name", "text")
    .addColumn("revoke_reason", "text")
    .addColumn("allowed_ips", "text", (c) => c.notNull())
    .addColumn("rate_limit", "text")
    .addColumn("metadata", "text", (c) => c.notNull())
    .addColumn("regenerated_at", "bigint")
    .addColumn("previous_secret_expires_at", "bigint")
    .addColumn("last_used_at", "bigint")
    .addColumn("last_used_ip", "text")
    .addColumn("usage_count", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("updated_at", "bigint", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("tokens_org_idx").on("tokens").columns(["org_id", "id"]).execute();
  await db.schema.createIndex("tokens_owner_idx").on("tokens").columns(["owner_id", "id"]).execute();

  await db.schema
    .createTable("token_secrets")
    .addColumn("hash", "text", (c) => c.primaryKey())
    .addColumn("token_id", "text", (c) => c.notNull().references("tokens.id").onDelete("cascade"))
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("expires_at", "bigint")
    .execute();
  await db.schema.createIndex("token_secrets_token_idx").on("token_secrets").column("token_id").execute();

  await db.schema
    .createTable("sessions")
    .addColumn("id_hash", "text", (c) => c.primaryKey())
    .addColumn("user_id", "text", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("csrf_token", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("expires_at", "bigint", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("audit_events")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("at", "bigint", (c) => c.notNull())
    .addColumn("org_id", "text")
    .addColumn("action", "text", (c) => c.notNull())
    .addColumn("actor_type", "text", (c) => c.notNull())
    .addColumn("actor_id", "text")
    .addColumn("actor_name", "text")
    .addColumn("target_type", "text")
    .addColumn("target_id", "text")
    .addColumn("target_name", "text")
    .addColumn("ip", "text")
    .addColumn("user_agent", "text")
    .addColumn("trace_id", "text", (c) => c.notNull())
    .addColumn("details", "text", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("audit_org_idx").on("audit_events").columns(["org_id", "id"]).execute();
  await db.schema.createIndex("audit_target_idx").on("audit_events").columns(["target_id", "id"]).execute();

  await db.schema
    .createTable("token_usage")
    .addColumn("token_id", "text", (c) => c.notNull().references("tokens.id").onDelete("cascade"))
    .addColumn("bucket_start", "bigint", (c) => c.notNull())
    .addColumn("ok", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("denied", "bigint", (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint("token_usage_pk", ["token_id", "bucket_start"])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of [
    "token_usage",
    "audit_events",
    "sessions",
    "token_secrets",
    "tokens",
    "org_scopes",
    "memberships",
    "organizations",
    "users",
  ]) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
