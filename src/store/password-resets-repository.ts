import type { Db } from "./database.js";

export async function insertPasswordReset(
  db: Db,
  r: { secretHash: string; userId: string; createdAt: number; expiresAt: number },
): Promise<void> {
  await db
    .insertInto("password_resets")
    .values({ secret_hash: r.secretHash, user_id: r.userId, created_at: r.createdAt, expires_at: r.expiresAt, used_at: null })
    .execute();
}

/**
 * Uses a reset link once: the account it is for, or undefined when unknown, used or expired. Of two
 * concurrent uses exactly one gets the account. Every other open link of the account dies with it.
 */
export async function claimPasswordReset(db: Db, secretHash: string, now: number): Promise<string | undefined> {
  const row = await db.selectFrom("password_resets").select("user_id").where("secret_hash", "=", secretHash).executeTakeFirst();
  if (!row) return undefined;
  const result = await db
    .updateTable("password_resets")
    .set({ used_at: now })
    .where("secret_hash", "=", secretHash)
    .where("used_at", "is", null)
    .where("expires_at", ">", now)
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) !== 1) return undefined;
  await db.deleteFrom("password_resets").where("user_id", "=", row.user_id).where("used_at", "is", null).execute();
  return row.user_id;
}

/** Unused links of an account, and expired links of everyone (kept small without a background job). */
export async function deleteStalePasswordResets(db: Db, now: number): Promise<void> {
  await db.deleteFrom("password_resets").where("expires_at", "<=", now).execute();
}
