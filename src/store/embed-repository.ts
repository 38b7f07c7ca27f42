import { insertOrConflict } from "./conflicts.js";
import type { Db } from "./database.js";
import { fromJson, toJson } from "./json.js";
import { type OrgRecord, orgFromRow } from "./orgs-repository.js";
import type { EmbedSessionsTable } from "./schema.js";
import { type UserRecord, userFromRow } from "./users-repository.js";

/** Host-provisioned identity and embed sessions (SPEC §9). */

export async function findUserByExternalId(db: Db, externalId: string): Promise<UserRecord | undefined> {
  const row = await db.selectFrom("users").selectAll().where("external_id", "=", externalId).executeTakeFirst();
  return row ? userFromRow(row) : undefined;
}

/** A host-provisioned person: no password (an empty hash matches nothing and is refused before it is checked). */
export async function insertProvisionedUser(
  db: Db,
  user: { id: string; email: string; name: string; externalId: string },
  now: number,
): Promise<void> {
  const insert = db
    .insertInto("users")
    .values({
      id: user.id,
      email: user.email,
      name: user.name,
      password_hash: "",
      instance_admin: 0,
      external_id: user.externalId,
      disabled_at: null,
      created_at: now,
      updated_at: now,
    })
    .execute();
  await insertOrConflict(insert, "An account with this email or user.externalId was created at the same moment");
}

export async function updateUserProfile(
  db: Db,
  id: string,
  profile: { email: string; name: string },
  now: number,
): Promise<void> {
  await insertOrConflict(
    db.updateTable("users").set({ email: profile.email, name: profile.name, updated_at: now }).where("id", "=", id).execute(),
    "Another account already has this email",
  );
}

/** The organisations other than `orgId` the person belongs to. */
export async function countMembershipsElsewhere(db: Db, userId: string, orgId: string): Promise<number> {
  const row = await db
    .selectFrom("memberships")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("user_id", "=", userId)
    .where("org_id", "!=", orgId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function findOrgByExternalId(db: Db, externalId: string): Promise<OrgRecord | undefined> {
  const row = await db.selectFrom("organizations").selectAll().where("external_id", "=", externalId).executeTakeFirst();
  return row ? orgFromRow(row) : undefined;
}

export async function insertProvisionedOrg(db: Db, org: OrgRecord & { externalId: string }): Promise<void> {
  const insert = db
    .insertInto("organizations")
    .values({
      id: org.id,
      name: org.name,
      settings: toJson(org.settings),
      external_id: org.externalId,
      created_at: org.createdAt,
      updated_at: org.updatedAt,
    })
    .execute();
  await insertOrConflict(insert, "An organisation with this organization.externalId was created at the same moment");
}

export async function setOrgExternalId(db: Db, orgId: string, externalId: string, now: number): Promise<void> {
  await insertOrConflict(
    db.updateTable("organizations").set({ external_id: externalId, updated_at: now }).where("id", "=", orgId).execute(),
    "organization.externalId already belongs to another organisation",
  );
}

export async function renameOrg(db: Db, orgId: string, name: string, now: number): Promise<void> {
  await db.updateTable("organizations").set({ name, updated_at: now }).where("id", "=", orgId).execute();
}

export interface EmbedTheme {
  mode: "light" | "dark";
  /** `#rrggbb`, or null for Tessera's own. */
  accent: string | null;
}

export interface EmbedSessionRecord {
  id: string;
  userId: string;
  orgId: string;
  locale: string;
  theme: EmbedTheme;
  createdById: string;
  createdAt: number;
  handoffExpiresAt: number;
  exchangedAt: number | null;
  expiresAt: number | null;
}

function fromRow(row: EmbedSessionsTable): EmbedSessionRecord {
  return {
    id: row.id,
    userId: row.user_id,
    orgId: row.org_id,
    locale: row.locale,
    theme: fromJson<EmbedTheme>(row.theme, { mode: "light", accent: null }),
    createdById: row.created_by_id,
    createdAt: Number(row.created_at),
    handoffExpiresAt: Number(row.handoff_expires_at),
    exchangedAt: row.exchanged_at === null ? null : Number(row.exchanged_at),
    expiresAt: row.expires_at === null ? null : Number(row.expires_at),
  };
}

export async function insertEmbedSession(db: Db, session: EmbedSessionRecord, handoffHash: string): Promise<void> {
  await db
    .insertInto("embed_sessions")
    .values({
      id: session.id,
      handoff_hash: handoffHash,
      bearer_hash: null,
      user_id: session.userId,
      org_id: session.orgId,
      locale: session.locale,
      theme: toJson(session.theme),
      created_by_id: session.createdById,
      created_at: session.createdAt,
      handoff_expires_at: session.handoffExpiresAt,
      exchanged_at: null,
      expires_at: null,
    })
    .execute();
}

/**
 * Exchanges a handoff for a bearer in one statement: only an unexchanged, unexpired handoff matches, so
 * of two concurrent exchanges exactly one gets the session. Undefined when nothing matched.
 */
export async function claimHandoff(
  db: Db,
  handoffHash: string,
  bearerHash: string,
  now: number,
  expiresAt: number,
): Promise<EmbedSessionRecord | undefined> {
  const row = await db
    .updateTable("embed_sessions")
    .set({ exchanged_at: now, bearer_hash: bearerHash, expires_at: expiresAt })
    .where("handoff_hash", "=", handoffHash)
    .where("exchanged_at", "is", null)
    .where("handoff_expires_at", ">", now)
    .returningAll()
    .executeTakeFirst();
  return row ? fromRow(row) : undefined;
}

export async function findEmbedSessionByBearer(db: Db, bearerHash: string): Promise<EmbedSessionRecord | undefined> {
  const row = await db.selectFrom("embed_sessions").selectAll().where("bearer_hash", "=", bearerHash).executeTakeFirst();
  return row ? fromRow(row) : undefined;
}

/** Ends a bearer early (the embedded page's sign-out). */
export async function endEmbedSession(db: Db, id: string, now: number): Promise<void> {
  await db.updateTable("embed_sessions").set({ expires_at: now }).where("id", "=", id).execute();
}

/** Prunes sessions whose handoff and bearer are both past, oldest first, at most `limit` rows. */
export async function deleteStaleEmbedSessions(db: Db, before: number, limit: number): Promise<number> {
  const stale = db
    .selectFrom("embed_sessions")
    .select("id")
    .where("handoff_expires_at", "<", before)
    .where((eb) => eb.or([eb("expires_at", "is", null), eb("expires_at", "<", before)]))
    .orderBy("created_at")
    .limit(limit);
  const result = await db.deleteFrom("embed_sessions").where("id", "in", stale).executeTakeFirst();
  return Number(result.numDeletedRows);
}
