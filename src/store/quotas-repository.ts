import type { Db, Dialect } from "./database.js";

/**
 * Counting for quotas, run inside the use case's transaction. On PostgreSQL the caller first locks the
 * row the quota hangs on (`lockOrgForQuota`, `lockUserForQuota`): concurrent creations under the same
 * organisation or person then count one after the other, so none can overshoot. SQLite runs one write
 * transaction at a time (one connection), so counting inside the transaction is enough there.
 */

/**
 * `FOR NO KEY UPDATE`: conflicts with itself (two quota checks on the same organisation queue up) but
 * not with the `FOR KEY SHARE` that foreign-key checks take, so inserts referencing the organisation
 * elsewhere are not held up.
 */
export async function lockOrgForQuota(db: Db, dialect: Dialect, orgId: string): Promise<void> {
  if (dialect !== "postgres") return;
  await db.selectFrom("organizations").select("id").where("id", "=", orgId).forNoKeyUpdate().execute();
}

export async function lockUserForQuota(db: Db, dialect: Dialect, userId: string): Promise<void> {
  if (dialect !== "postgres") return;
  await db.selectFrom("users").select("id").where("id", "=", userId).forNoKeyUpdate().execute();
}

/** Organisations the person owns (owner memberships), whoever created them. */
export async function countOwnedOrgs(db: Db, userId: string): Promise<number> {
  const row = await db
    .selectFrom("memberships")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("user_id", "=", userId)
    .where("role", "=", "owner")
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function countMembers(db: Db, orgId: string): Promise<number> {
  const row = await db
    .selectFrom("memberships")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("org_id", "=", orgId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Tokens of the organisation that are not revoked (revoked rows are kept for audit and do not count). */
export async function countLiveTokens(db: Db, orgId: string): Promise<number> {
  const row = await db
    .selectFrom("tokens")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("org_id", "=", orgId)
    .where("revoked_at", "is", null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The person's personal tokens in the organisation that are not revoked. */
export async function countLivePersonalTokens(db: Db, orgId: string, userId: string): Promise<number> {
  const row = await db
    .selectFrom("tokens")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("owner_id", "=", userId)
    .where("org_id", "=", orgId)
    .where("kind", "=", "personal")
    .where("revoked_at", "is", null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
