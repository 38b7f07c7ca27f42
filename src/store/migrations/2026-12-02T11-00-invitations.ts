import { type Kysely, sql } from "kysely";
import { newId } from "../../core/ids.js";

/**
 * Invitations and password resets (SPEC §4: nobody sets another person's password), and sessions that
 * a person can list and end one by one (a public id, where and when they were opened).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("invitations")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("org_id", "text", (c) => c.notNull().references("organizations.id").onDelete("cascade"))
    .addColumn("email", "text", (c) => c.notNull())
    .addColumn("role", "text", (c) => c.notNull())
    // SHA-256 of the secret in the link; the secret itself is never stored.
    .addColumn("secret_hash", "text", (c) => c.notNull().unique())
    .addColumn("invited_by_id", "text")
    .addColumn("invited_by_name", "text")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("expires_at", "bigint", (c) => c.notNull())
    .addColumn("accepted_at", "bigint")
    .addColumn("accepted_by_id", "text")
    .addColumn("revoked_at", "bigint")
    .execute();
  await db.schema.createIndex("invitations_org_idx").on("invitations").columns(["org_id", "id"]).execute();
  // At most one open invitation per email and organisation: a concurrent twin fails here (→ 409).
  await db.schema
    .createIndex("invitations_open_email_idx")
    .on("invitations")
    .columns(["org_id", "email"])
    .unique()
    .where(sql.ref("accepted_at"), "is", null)
    .where(sql.ref("revoked_at"), "is", null)
    .execute();

  await db.schema
    .createTable("password_resets")
    .addColumn("secret_hash", "text", (c) => c.primaryKey())
    .addColumn("user_id", "text", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("expires_at", "bigint", (c) => c.notNull())
    .addColumn("used_at", "bigint")
    .execute();
  await db.schema.createIndex("password_resets_user_idx").on("password_resets").column("user_id").execute();

  await db.schema.alterTable("sessions").addColumn("public_id", "text").execute();
  await db.schema.alterTable("sessions").addColumn("ip", "text").execute();
  await db.schema.alterTable("sessions").addColumn("user_agent", "text").execute();
  await db.schema.alterTable("sessions").addColumn("last_seen_at", "bigint").execute();
  const open = await (db as Kysely<{ sessions: { id_hash: string } }>).selectFrom("sessions").select("id_hash").execute();
  for (const s of open) {
    await (db as Kysely<{ sessions: { id_hash: string; public_id: string } }>)
      .updateTable("sessions")
      .set({ public_id: newId("session") })
      .where("id_hash", "=", s.id_hash)
      .execute();
  }
  await db.schema.createIndex("sessions_public_id_idx").on("sessions").column("public_id").unique().execute();
  await db.schema.createIndex("sessions_user_idx").on("sessions").column("user_id").execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex("sessions_user_idx").ifExists().execute();
  await db.schema.dropIndex("sessions_public_id_idx").ifExists().execute();
  for (const column of ["last_seen_at", "user_agent", "ip", "public_id"]) {
    await db.schema.alterTable("sessions").dropColumn(column).execute();
  }
  await db.schema.dropTable("password_resets").ifExists().execute();
  await db.schema.dropTable("invitations").ifExists().execute();
}
