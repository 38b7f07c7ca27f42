import { insertOrConflict } from "./conflicts.js";
import type { Db } from "./database.js";
import type { UserRow } from "./schema.js";

export interface UserRecord {
  id: string;
  email: string;
  name: string;
  instanceAdmin: boolean;
  disabledAt: number | null;
  createdAt: number;
  /** The host's id when the host provisioned this person (SPEC §9); they then have no password. */
  externalId?: string | null;
}

export function userFromRow(row: UserRow): UserRecord {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    instanceAdmin: row.instance_admin === 1,
    disabledAt: row.disabled_at,
    createdAt: row.created_at,
    // Only when set: records of everyone else keep their shape.
    ...(row.external_id !== null ? { externalId: row.external_id } : {}),
  };
}

/** A concurrent twin (the same email at the same moment) is a `conflict`, never a 500 carrying the email. */
export async function insertUser(db: Db, user: UserRecord & { passwordHash: string }): Promise<void> {
  const insert = db
    .insertInto("users")
    .values({
      id: user.id,
      email: user.email,
      name: user.name,
      password_hash: user.passwordHash,
      instance_admin: user.instanceAdmin ? 1 : 0,
      disabled_at: user.disabledAt,
      created_at: user.createdAt,
      updated_at: user.createdAt,
    })
    .execute();
  await insertOrConflict(insert, "An account with this email was created at the same moment");
}

export async function updatePasswordHash(db: Db, userId: string, passwordHash: string, now: number): Promise<void> {
  await db.updateTable("users").set({ password_hash: passwordHash, updated_at: now }).where("id", "=", userId).execute();
}

/** With the password hash, to check the current password before a change. */
export async function findUserWithHashById(db: Db, id: string): Promise<(UserRecord & { passwordHash: string }) | undefined> {
  const row = await db.selectFrom("users").selectAll().where("id", "=", id).executeTakeFirst();
  return row ? { ...userFromRow(row), passwordHash: row.password_hash } : undefined;
}

export async function findUserById(db: Db, id: string): Promise<UserRecord | undefined> {
  const row = await db.selectFrom("users").selectAll().where("id", "=", id).executeTakeFirst();
  return row ? userFromRow(row) : undefined;
}

/** With the password hash, for sign-in only. Emails are stored lower-cased. */
export async function findUserByEmail(db: Db, email: string): Promise<(UserRecord & { passwordHash: string }) | undefined> {
  const row = await db.selectFrom("users").selectAll().where("email", "=", email.toLowerCase()).executeTakeFirst();
  return row ? { ...userFromRow(row), passwordHash: row.password_hash } : undefined;
}

export async function countUsers(db: Db): Promise<number> {
  const row = await db
    .selectFrom("users")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * Rewrites a password hash in a stronger form (argon2id after scrypt) only if it is still `oldHash`:
 * a password changed meanwhile is never overwritten by the old one's rehash. True when it was written.
 */
export async function upgradePasswordHash(db: Db, id: string, oldHash: string, newHash: string, now: number): Promise<boolean> {
  const result = await db
    .updateTable("users")
    .set({ password_hash: newHash, updated_at: now })
    .where("id", "=", id)
    .where("password_hash", "=", oldHash)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/**
 * The stored password of an account that has none (created by an OpenID Connect sign-in): matches no
 * password, since `verifyPassword` accepts only argon2 and scrypt strings.
 */
export const NO_PASSWORD = "";

/** The person an OpenID Connect identity was linked to, with their link. */
export async function findUserByOidcIdentity(db: Db, issuer: string, subject: string): Promise<UserRecord | undefined> {
  const row = await db
    .selectFrom("users")
    .selectAll()
    .where("oidc_issuer", "=", issuer)
    .where("oidc_subject", "=", subject)
    .executeTakeFirst();
  return row ? userFromRow(row) : undefined;
}

/** Issuer and subject an account is linked to (both null when none). */
export async function findOidcIdentity(db: Db, userId: string): Promise<{ issuer: string | null; subject: string | null }> {
  const row = await db.selectFrom("users").select(["oidc_issuer", "oidc_subject"]).where("id", "=", userId).executeTakeFirst();
  return { issuer: row?.oidc_issuer ?? null, subject: row?.oidc_subject ?? null };
}

/**
 * Links an account to an identity, unless it was linked meanwhile to another subject of the same issuer
 * (false). Another account holding the same identity is a `conflict` (the unique index).
 */
export async function linkOidcIdentity(db: Db, userId: string, issuer: string, subject: string, now: number): Promise<boolean> {
  const update = db
    .updateTable("users")
    .set({ oidc_issuer: issuer, oidc_subject: subject, updated_at: now })
    .where("id", "=", userId)
    .where((eb) => eb.or([eb("oidc_subject", "is", null), eb("oidc_issuer", "!=", issuer), eb("oidc_subject", "=", subject)]))
    .executeTakeFirst();
  const result = await insertOrConflict(update, "This sign-in is already linked to another account");
  return Number(result.numUpdatedRows) === 1;
}

/** The language of the person's mail (`en`, `it`); set from the host's `locale` for embedded users. */
export async function setUserLocale(db: Db, userId: string, locale: string): Promise<void> {
  await db
    .updateTable("users")
    .set({ locale })
    .where("id", "=", userId)
    .where((eb) => eb.or([eb("locale", "is", null), eb("locale", "!=", locale)]))
    .execute();
}
