import type { Kysely } from "kysely";

/**
 * OpenID Connect sign-in (SPEC §9): the provider's identity of a person, issuer and subject, once their
 * verified email has matched. Later sign-ins match on these, whatever the email says by then. One
 * identity belongs to at most one person (the unique index; NULLs, people without one, never collide).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("users").addColumn("oidc_issuer", "text").execute();
  await db.schema.alterTable("users").addColumn("oidc_subject", "text").execute();
  await db.schema.createIndex("users_oidc_identity_idx").on("users").columns(["oidc_issuer", "oidc_subject"]).unique().execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex("users_oidc_identity_idx").ifExists().execute();
  await db.schema.alterTable("users").dropColumn("oidc_subject").execute();
  await db.schema.alterTable("users").dropColumn("oidc_issuer").execute();
}
