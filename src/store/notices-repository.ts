import { type SelectQueryBuilder, sql } from "kysely";
import type { TokenRecord } from "../core/tokens.js";
import type { Db } from "./database.js";
import type { Database } from "./schema.js";
import { tokenFromRow } from "./tokens-repository.js";

/** The scheduled notices a token can get (SPEC §10); `deactivated` is `autoDeactivateUnusedDays` acting. */
export type NoticeKind = "expiring" | "expired" | "stale" | "deactivated";

/** Matches the governance index `tokens_org_expires_idx` expression for expression. */
const NEVER_EXPIRES = 9_007_199_254_740_991;
const EXPIRES = sql.raw(`coalesce(tokens.expires_at, ${NEVER_EXPIRES})`);
/** Matches `tokens_org_last_used_idx`. */
const LAST_USED = sql.raw("coalesce(tokens.last_used_at, 0)");

/**
 * Claims one notice: true when this transaction inserted the (token, kind, threshold) row, false when it
 * already existed (sent before, or by another instance now: on PostgreSQL the second insert waits for the
 * first transaction and then does nothing). Call in the transaction that writes the notice's audit event.
 */
export async function claimNotice(db: Db, tokenId: string, kind: NoticeKind, threshold: number, at: number): Promise<boolean> {
  const result = await db
    .insertInto("token_notices")
    .values({ token_id: tokenId, kind, threshold, at })
    .onConflict((oc) => oc.columns(["token_id", "kind", "threshold"]).doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
}

export interface NoticeCandidates {
  orgId: string;
  kind: NoticeKind;
  threshold: number;
  /** Keyset: the last (key, id) of the previous page. */
  after?: { key: number; id: string } | undefined;
  limit: number;
}

function unclaimed(
  query: SelectQueryBuilder<Database, "tokens", object>,
  kind: NoticeKind,
  threshold: number,
): SelectQueryBuilder<Database, "tokens", object> {
  return query.where((eb) =>
    eb.not(
      eb.exists(
        eb
          .selectFrom("token_notices")
          .select(sql.lit(1).as("one"))
          .whereRef("token_notices.token_id", "=", "tokens.id")
          .where("token_notices.kind", "=", kind)
          .where("token_notices.threshold", "=", threshold),
      ),
    ),
  );
}

/**
 * One organisation's unrevoked tokens whose expiry lies in (`from`, `to`] and that have no (kind,
 * threshold) notice yet, in expiry order: an index range of `tokens_org_expires_idx`, never a scan of the
 * organisation's other tokens.
 */
export async function tokensExpiringIn(
  db: Db,
  c: NoticeCandidates & { from: number; to: number },
): Promise<{ token: TokenRecord; key: number }[]> {
  let query = db
    .selectFrom("tokens")
    .where("tokens.org_id", "=", c.orgId)
    .where(sql<boolean>`${EXPIRES} > ${c.from}`)
    .where(sql<boolean>`${EXPIRES} <= ${c.to}`)
    .where("tokens.revoked_at", "is", null);
  if (c.after) query = query.where(sql<boolean>`(${EXPIRES}, tokens.id) > (${c.after.key}, ${c.after.id})`);
  const rows = await unclaimed(query, c.kind, c.threshold)
    .selectAll("tokens")
    .orderBy(EXPIRES)
    .orderBy("tokens.id")
    .limit(c.limit)
    .execute();
  return rows.map((row) => ({ token: tokenFromRow(row), key: Number(row.expires_at) }));
}

/**
 * One organisation's tokens not used (or, never used, not created) since `before`, still able to work
 * (not revoked, not expired at `now`) and without a (kind, threshold) notice: an index range of
 * `tokens_org_last_used_idx`. `activeOnly` also leaves out deactivated and suspended tokens.
 */
export async function tokensUnusedSince(
  db: Db,
  c: NoticeCandidates & { before: number; now: number; activeOnly: boolean },
): Promise<{ token: TokenRecord; key: number }[]> {
  let query = db
    .selectFrom("tokens")
    .where("tokens.org_id", "=", c.orgId)
    .where(sql<boolean>`${LAST_USED} <= ${c.before}`)
    .where("tokens.created_at", "<=", c.before)
    .where("tokens.revoked_at", "is", null)
    .where(sql<boolean>`${EXPIRES} > ${c.now}`);
  if (c.activeOnly) query = query.where("tokens.deactivated_at", "is", null).where("tokens.suspended_at", "is", null);
  if (c.after) query = query.where(sql<boolean>`(${LAST_USED}, tokens.id) > (${c.after.key}, ${c.after.id})`);
  const rows = await unclaimed(query, c.kind, c.threshold)
    .selectAll("tokens")
    .orderBy(LAST_USED)
    .orderBy("tokens.id")
    .limit(c.limit)
    .execute();
  return rows.map((row) => ({ token: tokenFromRow(row), key: Number(row.last_used_at ?? 0) }));
}

/** Who is told of a token's notice by mail: its owner (personal), or the organisation's owners and admins. */
export async function noticeRecipients(
  db: Db,
  token: Pick<TokenRecord, "orgId" | "kind" | "ownerId">,
): Promise<{ email: string; locale: string | null }[]> {
  let query = db
    .selectFrom("users")
    .select(["users.email as email", "users.locale as locale"])
    .where("users.disabled_at", "is", null);
  if (token.kind === "personal") {
    query = query.where("users.id", "=", token.ownerId ?? "");
  } else {
    query = query
      .innerJoin("memberships", "memberships.user_id", "users.id")
      .where("memberships.org_id", "=", token.orgId ?? "")
      .where("memberships.role", "in", ["owner", "admin"]);
  }
  return query.orderBy("users.email").execute();
}
