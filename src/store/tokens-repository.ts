import { sql } from "kysely";
import type { TokenStatus } from "../core/status.js";
import type { Environment } from "../core/token-format.js";
import type { RateLimit, TokenKind, TokenRecord } from "../core/tokens.js";
import type { Db } from "./database.js";
import { fromJson, likeContains, toJson } from "./json.js";
import type { TokenRow, TokenUpdate } from "./schema.js";

export function tokenFromRow(row: TokenRow & { created_by_email?: string | null }): TokenRecord {
  return {
    id: row.id,
    orgId: row.org_id,
    kind: row.kind as TokenKind,
    name: row.name,
    description: row.description,
    issuedFor: row.issued_for,
    ownerId: row.owner_id,
    createdById: row.created_by_id,
    createdByName: row.created_by_name,
    createdByEmail: row.created_by_email ?? null,
    prefix: row.prefix,
    last4: row.last4,
    environment: row.environment as Environment,
    scopes: fromJson<string[]>(row.scopes, []),
    expiresAt: row.expires_at,
    deactivatedAt: row.deactivated_at,
    suspendedAt: row.suspended_at,
    revokedAt: row.revoked_at,
    revokedById: row.revoked_by_id,
    revokedByName: row.revoked_by_name,
    revokeReason: row.revoke_reason,
    allowedIps: fromJson<string[]>(row.allowed_ips, []),
    rateLimit: fromJson<RateLimit | null>(row.rate_limit, null),
    metadata: fromJson<Record<string, unknown>>(row.metadata, {}),
    regeneratedAt: row.regenerated_at,
    previousSecretExpiresAt: row.previous_secret_expires_at,
    lastUsedAt: row.last_used_at,
    lastUsedIp: row.last_used_ip,
    usageCount: row.usage_count,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** Inserts a token and its first secret hash (call inside the use case's transaction). */
export async function insertToken(db: Db, t: TokenRecord, secretHash: string): Promise<void> {
  await db
    .insertInto("tokens")
    .values({
      id: t.id,
      org_id: t.orgId,
      kind: t.kind,
      name: t.name,
      description: t.description,
      issued_for: t.issuedFor,
      owner_id: t.ownerId,
      created_by_id: t.createdById,
      created_by_name: t.createdByName,
      prefix: t.prefix,
      last4: t.last4,
      environment: t.environment,
      scopes: toJson(t.scopes),
      expires_at: t.expiresAt,
      deactivated_at: t.deactivatedAt,
      suspended_at: t.suspendedAt,
      revoked_at: t.revokedAt,
      revoked_by_id: t.revokedById,
      revoked_by_name: t.revokedByName,
      revoke_reason: t.revokeReason,
      allowed_ips: toJson(t.allowedIps),
      rate_limit: t.rateLimit ? toJson(t.rateLimit) : null,
      metadata: toJson(t.metadata),
      regenerated_at: t.regeneratedAt,
      previous_secret_expires_at: t.previousSecretExpiresAt,
      last_used_at: null,
      last_used_ip: null,
      usage_count: 0,
      created_at: t.createdAt,
      updated_at: t.updatedAt,
    })
    .execute();
  await db
    .insertInto("token_secrets")
    .values({ hash: secretHash, token_id: t.id, created_at: t.createdAt, expires_at: null })
    .execute();
}

function selectTokens(db: Db) {
  return db
    .selectFrom("tokens")
    .leftJoin("users as creator", "creator.id", "tokens.created_by_id")
    .selectAll("tokens")
    .select("creator.email as created_by_email");
}

export async function findTokenById(db: Db, id: string): Promise<TokenRecord | undefined> {
  const row = await selectTokens(db).where("tokens.id", "=", id).executeTakeFirst();
  return row ? tokenFromRow(row) : undefined;
}

/** Locks the row for the rest of the transaction on PostgreSQL (SQLite transactions are serial anyway). */
export async function findTokenForUpdate(db: Db, id: string, dialect: "sqlite" | "postgres"): Promise<TokenRecord | undefined> {
  let query = db.selectFrom("tokens").selectAll().where("id", "=", id);
  if (dialect === "postgres") query = query.forUpdate();
  const row = await query.executeTakeFirst();
  return row ? tokenFromRow(row) : undefined;
}

export interface SecretMatch {
  token: TokenRecord;
  /** Null for the current secret; set for a previous secret inside its grace period. */
  secretExpiresAt: number | null;
}

export async function findTokenBySecretHash(db: Db, hash: string): Promise<SecretMatch | undefined> {
  const row = await db
    .selectFrom("token_secrets")
    .innerJoin("tokens", "tokens.id", "token_secrets.token_id")
    .selectAll("tokens")
    .select("token_secrets.expires_at as secret_expires_at")
    .where("token_secrets.hash", "=", hash)
    .executeTakeFirst();
  if (!row) return undefined;
  const { secret_expires_at, ...token } = row;
  return { token: tokenFromRow(token), secretExpiresAt: secret_expires_at };
}

export async function updateToken(db: Db, id: string, patch: TokenUpdate): Promise<void> {
  await db.updateTable("tokens").set(patch).where("id", "=", id).execute();
}

/**
 * Makes `newHash` the token's current secret. The previous current secret keeps working until
 * `previousExpiresAt` (or dies now when null); any older secret is dropped.
 */
export async function replaceSecret(
  db: Db,
  tokenId: string,
  newHash: string,
  now: number,
  previousExpiresAt: number | null,
): Promise<void> {
  await db
    .deleteFrom("token_secrets")
    .where("token_id", "=", tokenId)
    .where((eb) => eb.or([eb("expires_at", "is not", null), eb.lit(previousExpiresAt === null)]))
    .execute();
  if (previousExpiresAt !== null) {
    await db.updateTable("token_secrets").set({ expires_at: previousExpiresAt }).where("token_id", "=", tokenId).execute();
  }
  await db.insertInto("token_secrets").values({ hash: newHash, token_id: tokenId, created_at: now, expires_at: null }).execute();
}

export const TOKEN_SORTS = ["createdAt", "lastUsedAt", "expiresAt", "name"] as const;
export type TokenSort = (typeof TOKEN_SORTS)[number];

/** "Never expires" sorts after every date; the same constant is in the index (migration 2026-12-03T12-00). */
const NEVER_EXPIRES = 9_007_199_254_740_991;

/**
 * The key each sort orders by, then the id. Character for character the expressions of the migration's
 * indexes (an expression index serves only identical text): never used counts as oldest, never expiring
 * as latest, names case-insensitively.
 */
const SORT_KEY: Record<Exclude<TokenSort, "createdAt">, ReturnType<typeof sql.raw>> = {
  lastUsedAt: sql.raw("coalesce(tokens.last_used_at, 0)"),
  expiresAt: sql.raw(`coalesce(tokens.expires_at, ${NEVER_EXPIRES})`),
  name: sql.raw("lower(tokens.name)"),
};

/** The keyset of the last row of a page: its sort key (absent for createdAt) and id. */
export interface TokenKeyset {
  key?: string | number | undefined;
  id: string;
}

export function sortKeyOf(t: TokenRecord, sort: TokenSort): string | number | undefined {
  switch (sort) {
    case "createdAt":
      return undefined;
    case "lastUsedAt":
      return t.lastUsedAt ?? 0;
    case "expiresAt":
      return t.expiresAt ?? NEVER_EXPIRES;
    case "name":
      // SQLite's lower() folds ASCII only; PostgreSQL's folds more. The cursor carries what the database
      // computed (see listTokens), never a re-computation here.
      return t.name.toLowerCase();
  }
}

export interface TokenListFilter {
  orgId: string;
  /** PostgreSQL compares the prefix in byte order ("C"); absent: SQLite. */
  dialect?: "sqlite" | "postgres" | undefined;
  ownerId?: string | undefined;
  createdById?: string | undefined;
  /** Name contains (case-insensitive) or display prefix starts with. */
  q?: string | undefined;
  status?: TokenStatus | undefined;
  kind?: TokenKind | undefined;
  /** Never used, or last used before this time (epoch ms). */
  unusedBefore?: number | undefined;
  /** Default createdAt (id order). */
  sort?: TokenSort | undefined;
  /** Default desc. */
  order?: "asc" | "desc" | undefined;
  /** The previous page's last row. */
  after?: TokenKeyset | undefined;
  /** Shorthand for `after: {id}` in createdAt order. */
  before?: string | undefined;
  limit: number;
}

/** A display prefix is `<org prefix>_<env>_` and 6 base62 characters (SPEC §3). */
const DISPLAY_PREFIX_RE = /^[a-z]{2,8}_(?:live|test)_[0-9A-Za-z]{6}/;

/** A page of tokens (see {@link listTokenRows}). */
export async function listTokens(db: Db, f: TokenListFilter, now: number): Promise<TokenRecord[]> {
  return (await listTokenRows(db, f, now)).map((r) => r.token);
}

/** Rows of a page with the database's own sort key of each (for the next cursor). */
export async function listTokenRows(
  db: Db,
  filter: TokenListFilter,
  now: number,
): Promise<{ token: TokenRecord; key: string | number | undefined }[]> {
  const f = {
    ...filter,
    sort: filter.sort ?? "createdAt",
    order: filter.order ?? "desc",
    after: filter.after ?? (filter.before ? { id: filter.before } : undefined),
  };
  const keyExpr = f.sort === "createdAt" ? undefined : SORT_KEY[f.sort];
  let query = selectTokens(db).where("tokens.org_id", "=", f.orgId);
  if (f.ownerId) query = query.where("tokens.owner_id", "=", f.ownerId);
  if (f.createdById) query = query.where("tokens.created_by_id", "=", f.createdById);
  if (f.kind) query = query.where("tokens.kind", "=", f.kind);
  if (f.q) {
    // A pasted token longer than its display prefix still finds it by that prefix.
    const full = DISPLAY_PREFIX_RE.exec(f.q);
    const prefix = full ? full[0] : f.q;
    const C = f.dialect === "postgres" ? sql.raw(' collate "C"') : sql.raw("");
    // A range, not LIKE: literal, case-sensitive, and an index range on (org_id, prefix) in both dialects
    // (byte order: "C" on PostgreSQL, SQLite's default BINARY). Prefix characters are all below U+007F.
    const prefixMatch = sql<boolean>`(tokens.prefix${C} >= ${prefix}${C} and tokens.prefix${C} < ${`${prefix}\u007f`}${C})`;
    query = query.where(sql<boolean>`(lower(tokens.name) like lower(${likeContains(f.q)}) escape '\\' or ${prefixMatch})`);
  }
  if (f.unusedBefore !== undefined) {
    query = query.where(sql<boolean>`coalesce(tokens.last_used_at, 0) < ${f.unusedBefore}`);
  }
  switch (f.status) {
    case "revoked":
      query = query.where("tokens.revoked_at", "is not", null);
      break;
    case "suspended":
      query = query.where("tokens.revoked_at", "is", null).where("tokens.suspended_at", "is not", null);
      break;
    case "inactive":
      query = query
        .where("tokens.revoked_at", "is", null)
        .where("tokens.suspended_at", "is", null)
        .where("tokens.deactivated_at", "is not", null);
      break;
    case "expired":
    case "active":
      query = query
        .where("tokens.revoked_at", "is", null)
        .where("tokens.suspended_at", "is", null)
        .where("tokens.deactivated_at", "is", null);
      query =
        f.status === "expired"
          ? query.where("tokens.expires_at", "<=", now)
          : query.where((eb) => eb.or([eb("tokens.expires_at", "is", null), eb("tokens.expires_at", ">", now)]));
      break;
    case undefined:
      break;
  }
  const cmp = sql.raw(f.order === "asc" ? ">" : "<");
  const dir = f.order;
  if (f.after) {
    query =
      keyExpr === undefined || f.after.key === undefined
        ? query.where("tokens.id", f.order === "asc" ? ">" : "<", f.after.id)
        : query.where(sql<boolean>`(${keyExpr}, tokens.id) ${cmp} (${f.after.key}, ${f.after.id})`);
  }
  if (keyExpr === undefined) {
    const rows = await query.orderBy("tokens.id", dir).limit(f.limit).execute();
    return rows.map((r) => ({ token: tokenFromRow(r), key: undefined }));
  }
  const rows = await query
    .select(keyExpr.as("sort_key"))
    .orderBy(keyExpr, dir)
    .orderBy("tokens.id", dir)
    .limit(f.limit)
    .execute();
  return rows.map((r) => {
    const key = (r as unknown as { sort_key: string | number }).sort_key;
    return { token: tokenFromRow(r), key: typeof key === "string" && f.sort !== "name" ? Number(key) : key };
  });
}

/**
 * Root (instance) tokens, newest first (ids sort by creation time). They are the rows without an
 * organisation, so the (org_id, id) index serves the query.
 */
export async function listRootTokens(db: Db, f: { before?: string | undefined; limit: number }): Promise<TokenRecord[]> {
  let query = selectTokens(db).where("tokens.org_id", "is", null).where("tokens.kind", "=", "root");
  if (f.before) query = query.where("tokens.id", "<", f.before);
  const rows = await query.orderBy("tokens.id", "desc").limit(f.limit).execute();
  return rows.map(tokenFromRow);
}

/** A member's personal tokens in one organisation that are not revoked yet (revoked when they leave). */
export async function listUnrevokedPersonalTokens(db: Db, orgId: string, ownerId: string): Promise<TokenRecord[]> {
  const rows = await db
    .selectFrom("tokens")
    .selectAll()
    .where("org_id", "=", orgId)
    .where("owner_id", "=", ownerId)
    .where("kind", "=", "personal")
    .where("revoked_at", "is", null)
    .execute();
  return rows.map((r) => tokenFromRow(r));
}
