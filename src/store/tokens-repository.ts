import { PostgresAdapter, type RawBuilder, sql } from "kysely";
import type { CreditRefill, NamedRateLimit, TokenCredits } from "../core/limits.js";
import type { TokenStatus } from "../core/status.js";
import type { Environment } from "../core/token-format.js";
import type { TokenKind, TokenRecord } from "../core/tokens.js";
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
    rateLimits: fromJson<NamedRateLimit[] | null>(row.rate_limits, null) ?? [],
    credits: creditsFromRow(row),
    metadata: fromJson<Record<string, unknown>>(row.metadata, {}),
    regeneratedAt: row.regenerated_at,
    previousSecretExpiresAt: row.previous_secret_expires_at,
    leakedAt: row.leaked_at === null || row.leaked_at === undefined ? null : Number(row.leaked_at),
    leakUrl: row.leak_url ?? null,
    lastUsedAt: row.last_used_at,
    lastUsedIp: row.last_used_ip,
    usageCount: row.usage_count,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function creditsFromRow(row: TokenRow): TokenCredits | null {
  if (row.credits_remaining === null || row.credits_remaining === undefined) return null;
  return {
    remaining: Number(row.credits_remaining),
    refill: fromJson<CreditRefill | null>(row.credits_refill, null),
    refilledAt: row.credits_refilled_at === null ? null : Number(row.credits_refilled_at),
    gen: Number(row.credits_gen),
    seq: Number(row.credits_seq),
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
      rate_limits: t.rateLimits.length > 0 ? toJson(t.rateLimits) : null,
      credits_remaining: t.credits?.remaining ?? null,
      credits_refill: t.credits?.refill ? toJson(t.credits.refill) : null,
      credits_refilled_at: t.credits?.refilledAt ?? null,
      credits_gen: t.credits?.gen ?? 0,
      credits_seq: 0,
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

/**
 * A token's state without the clock (expiry is compared separately), character for character the
 * expression of the (org_id, state, …) indexes of migration 2026-12-04T13-00: `status` filters on it.
 */
const STATE = sql.raw(
  "case when tokens.revoked_at is not null then 'revoked' when tokens.suspended_at is not null then 'suspended' " +
    "when tokens.deactivated_at is not null then 'inactive' else 'live' end",
);

/**
 * SQLite: up to this many rows matching a list's filters are read and sorted (a few milliseconds); beyond,
 * the sort's index is walked until the page is full. Counted per request, stopping at this bound.
 * (PostgreSQL walks for a bounded number of rows first instead: see WALK_ROWS.)
 */
const FEW_ROWS = 5_000;

/**
 * PostgreSQL: how many rows of the sort's index a filtered list walks before it gives up and reads every
 * match instead (see walkTokenRows). A filter matching 1 row in 40 fills a page of 51 within it.
 */
const WALK_ROWS = 2_000;

/**
 * The sort expression in a form no index matches, so that the planner reads the filter's index and sorts
 * (it would otherwise walk the sort's index, estimating matches as evenly spread). SQLite: unary `+`;
 * PostgreSQL: `+ 0` on numbers, `|| ''` on text (same order).
 */
function unindexed(expr: ReturnType<typeof sql.raw>, type: "text" | "number", postgres: boolean) {
  if (!postgres) return sql`+${expr}`;
  return type === "text" ? sql`(${expr} || '')` : sql`(${expr} + 0)`;
}

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
  /** Informational: the repository asks the connection which dialect it speaks. */
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
  /**
   * Overrides how many matching rows are "few" (read and sorted rather than found by walking the sort's
   * index): tests set 0 and a large number to check that both plans list the same rows.
   */
  fewRows?: number | undefined;
  /**
   * PostgreSQL: overrides how many rows of the sort's index a filtered list walks before it reads every
   * match and sorts (tests set 0, a few and a large number to check that all list the same rows).
   */
  walkRows?: number | undefined;
}

/** A display prefix is `<org prefix>_<env>_` and 6 base62 characters (SPEC §3). */
const DISPLAY_PREFIX_RE = /^[a-z]{2,8}_(?:live|test)_[0-9A-Za-z]{6}/;

/** The start of a display prefix with at least 3 of its random characters. */
const PARTIAL_DISPLAY_PREFIX_RE = /^[a-z]{2,8}_(?:live|test)_[0-9A-Za-z]{3}/;

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
  // From the connection itself: callers may leave `dialect` out, and SQLite's FTS table and unary `+` do not exist on PostgreSQL.
  const postgresDialect = db.getExecutor().adapter instanceof PostgresAdapter;
  // A display prefix with at least 3 of its 6 random base62 characters is a few tokens' (1 in 238,328 for
  // 3): read them and sort, without a walk first (names rarely contain one; if many did, reading them is
  // slower, never wrong).
  let knownFew = false;
  // Each filter once, as a condition on `tokens`: applied to the query below, and on PostgreSQL also
  // split between the inside and the outside of the budgeted walk (see walkTokenRows).
  const conditions: RawBuilder<boolean>[] = [];
  // At most one filter whose (org_id, filter, sort key, id) indexes make "these rows in sort order" an
  // index range: the budgeted walk reads that range instead of the whole organisation's.
  let ranged: RawBuilder<boolean> | undefined;
  const where = (condition: RawBuilder<boolean>, hasSortIndexes = false) => {
    if (hasSortIndexes && ranged === undefined) ranged = condition;
    else conditions.push(condition);
  };
  if (f.ownerId) where(sql<boolean>`tokens.owner_id = ${f.ownerId}`, true);
  if (f.createdById) where(sql<boolean>`tokens.created_by_id = ${f.createdById}`, true);
  if (f.kind) where(sql<boolean>`tokens.kind = ${f.kind}`, true);
  if (f.q) {
    // A pasted token longer than its display prefix still finds it by that prefix.
    const full = DISPLAY_PREFIX_RE.exec(f.q);
    const prefix = full ? full[0] : f.q;
    knownFew = PARTIAL_DISPLAY_PREFIX_RE.test(f.q);
    const postgres = postgresDialect;
    const C = postgres ? sql.raw(' collate "C"') : sql.raw("");
    const upper = `${prefix}\u007f`;
    // FTS5's query syntax cannot hold U+0000 (SQLite names can): such a needle takes the scan below.
    if (!postgres && [...f.q].length >= TRIGRAM && !f.q.includes("\u0000")) {
      where(await sqliteNameOrPrefix(db, f.orgId, f.q, prefix, f.fewRows ?? SEARCH_CANDIDATES));
    } else {
      // A range, not LIKE: literal, case-sensitive, and an index range on (org_id, prefix) in both dialects
      // (byte order: "C" on PostgreSQL, SQLite's default BINARY). Prefix characters are all below U+007F.
      const prefixMatch = sql<boolean>`(tokens.prefix${C} >= ${prefix}${C} and tokens.prefix${C} < ${upper}${C})`;
      where(sql<boolean>`(lower(tokens.name) like lower(${likeContains(f.q)}) escape '\\' or ${prefixMatch})`);
    }
  }
  if (f.unusedBefore !== undefined) {
    where(sql<boolean>`coalesce(tokens.last_used_at, 0) < ${f.unusedBefore}`);
  }
  switch (f.status) {
    case "revoked":
    case "suspended":
    case "inactive":
      where(sql<boolean>`${STATE} = ${f.status}`, true);
      break;
    case "expired":
    case "active":
      // On the expiresAt sort key (never = the largest), so that (org_id, state, that key) is a range.
      where(sql<boolean>`${STATE} = ${"live"}`, true);
      where(sql<boolean>`${SORT_KEY.expiresAt} ${sql.raw(f.status === "expired" ? "<=" : ">")} ${now}`);
      break;
    case undefined:
      break;
  }
  const cmp = sql.raw(f.order === "asc" ? ">" : "<");
  const dir = f.order;
  const after =
    f.after === undefined
      ? undefined
      : keyExpr === undefined || f.after.key === undefined
        ? sql<boolean>`tokens.id ${cmp} ${f.after.id}`
        : sql<boolean>`(${keyExpr}, tokens.id) ${cmp} (${f.after.key}, ${f.after.id})`;
  let query = selectTokens(db).where("tokens.org_id", "=", f.orgId);
  for (const condition of [...(ranged ? [ranged] : []), ...conditions]) query = query.where(condition);
  if (after) query = query.where(after);
  // Few matching rows (a filter's index finds them): read them all and sort, rather than walk the sort's
  // index until a page is full, which, when the matches sit at the far end of that order, reads the whole
  // organisation. The sort expressions are then wrapped so that no index matches them (see unindexed).
  const filters = [
    f.ownerId !== undefined,
    f.createdById !== undefined,
    f.kind !== undefined,
    f.status !== undefined,
    f.unusedBefore !== undefined,
    f.q !== undefined,
  ].filter(Boolean).length;
  // One filter with an (org_id, filter, sort key, id) index for every sort: its walk is an index range
  // (owner: the (org_id, owner_id, id) index of migration 2026-12-03T12-00 serves createdAt).
  const covered = filters === 1 && ranged !== undefined && conditions.length === 0;
  // SQLite's `q` chose its plan above; a `q` of 1–2 characters has no index to read matches from.
  const qDecided = f.q !== undefined && (!postgresDialect || [...f.q].length < TRIGRAM);
  const narrowed = filters > 0 && !covered && !qDecided;
  let few = false;
  if (narrowed && postgresDialect && knownFew) {
    few = true;
  } else if (narrowed && postgresDialect) {
    // PostgreSQL: walk the sort's index for a bounded number of rows first (a common match fills the page
    // there); only when that did not fill it, read every match through the filters' indexes and sort.
    // No count first: counting a common word's matches through the trigram index builds its whole
    // bitmap (200,000 rows at 1,000,000 tokens) before any row comes out.
    const walked = await walkTokenRows(db, f, keyExpr, ranged, conditions, after, f.walkRows ?? WALK_ROWS);
    if (walked.length >= f.limit) return walked;
    few = true;
  } else if (narrowed) {
    const fewRows = f.fewRows ?? FEW_ROWS;
    const counted = await db
      .selectFrom(
        query
          .clearSelect()
          .select(sql<number>`1`.as("one"))
          .limit(fewRows + 1)
          .as("matches"),
      )
      .select((eb) => eb.fn.countAll<number | string>().as("n"))
      .executeTakeFirst();
    few = Number(counted?.n ?? 0) <= fewRows;
  }
  const idOrder = few ? unindexed(sql.raw("tokens.id"), "text", postgresDialect) : sql.raw("tokens.id");
  if (few && postgresDialect) {
    // Sorting only ids and keys, then reading the page's rows by id: sorting whole rows (~650 bytes)
    // doubled the time of a read-and-sort of 200,000 matches. Ordered by the subquery's own columns, so
    // no index of the sort can be walked for the outer query.
    const keyOrder = keyExpr && unindexed(keyExpr, f.sort === "name" ? "text" : "number", true);
    const matches = query.clearSelect().select(["tokens.id", (keyExpr ?? sql<null>`null`).as("sort_key")]);
    const page = (keyOrder ? matches.orderBy(keyOrder, dir) : matches).orderBy(idOrder, dir).limit(f.limit);
    let rows = db
      .selectFrom(page.as("page"))
      .innerJoin("tokens", "tokens.id", "page.id")
      .leftJoin("users as creator", "creator.id", "tokens.created_by_id")
      .selectAll("tokens")
      .select(["creator.email as created_by_email", "page.sort_key"]);
    if (keyExpr) rows = rows.orderBy("page.sort_key", dir);
    return (await rows.orderBy("page.id", dir).execute()).map((r) => rowWithKey(r, f.sort));
  }
  if (keyExpr === undefined) {
    const rows = await query.orderBy(idOrder, dir).limit(f.limit).execute();
    return rows.map((r) => rowWithKey(r, f.sort));
  }
  const keyOrder = few ? unindexed(keyExpr, f.sort === "name" ? "text" : "number", postgresDialect) : keyExpr;
  const rows = await query.select(keyExpr.as("sort_key")).orderBy(keyOrder, dir).orderBy(idOrder, dir).limit(f.limit).execute();
  return rows.map((r) => rowWithKey(r, f.sort));
}

/** A row and the database's own sort key of it (`sort_key`; none for createdAt, ordered by id). */
function rowWithKey(r: TokenRow & { created_by_email: string | null }, sort: TokenSort) {
  if (sort === "createdAt") return { token: tokenFromRow(r), key: undefined };
  const key = (r as unknown as { sort_key: string | number }).sort_key;
  return { token: tokenFromRow(r), key: typeof key === "string" && sort !== "name" ? Number(key) : key };
}

/**
 * PostgreSQL, filters the indexes cannot answer in sort order (`q`, `unusedForDays`, `status=active|
 * expired`, several filters): at most `budget` rows of the organisation (or of the one filter with sort
 * indexes, `ranged`) in sort order, an index range that stops after `budget` rows, and the other filters
 * applied to those rows only. Its page is exact when it is full: the rows walked are the first ones in
 * the order, so no match outside them can come before the page's last row. Short, it says nothing (the
 * matches may sit further on) and the caller reads every match instead.
 */
async function walkTokenRows(
  db: Db,
  f: { orgId: string; sort: TokenSort; order: "asc" | "desc"; limit: number },
  keyExpr: ReturnType<typeof sql.raw> | undefined,
  ranged: RawBuilder<boolean> | undefined,
  conditions: RawBuilder<boolean>[],
  after: RawBuilder<boolean> | undefined,
  budget: number,
): Promise<{ token: TokenRecord; key: string | number | undefined }[]> {
  if (budget <= 0) return [];
  let inner = db.selectFrom("tokens").selectAll("tokens").where("tokens.org_id", "=", f.orgId);
  if (ranged) inner = inner.where(ranged);
  if (after) inner = inner.where(after);
  const walk =
    keyExpr === undefined
      ? inner.orderBy("tokens.id", f.order)
      : inner.select(keyExpr.as("sort_key")).orderBy(keyExpr, f.order).orderBy("tokens.id", f.order);
  // The subquery's LIMIT keeps PostgreSQL from moving the filters into it (the walk would then go on
  // until it found a page of matches); the outer ORDER BY is on its output columns, already in order.
  let outer = db
    .selectFrom(walk.limit(budget).as("tokens"))
    .leftJoin("users as creator", "creator.id", "tokens.created_by_id")
    .selectAll("tokens")
    .select("creator.email as created_by_email");
  for (const condition of conditions) outer = outer.where(condition);
  if (keyExpr !== undefined) outer = outer.orderBy(sql.ref("tokens.sort_key"), f.order);
  const rows = await outer.orderBy("tokens.id", f.order).limit(f.limit).execute();
  return rows.map((r) => rowWithKey(r, f.sort));
}

/** The trigram index answers substrings of at least this many characters (shorter ones scan). */
const TRIGRAM = 3;
/**
 * Up to this many candidate rows (name matches in the whole instance plus prefix matches in the
 * organisation), a search reads the candidates and sorts them; beyond it, it walks the sort's index and
 * keeps the rows that match (a common word fills a page within the first rows). Sorting 2,000 rows takes
 * a few milliseconds; walking is slow only when matches are rare, which this count rules out.
 */
const SEARCH_CANDIDATES = 2_000;

/**
 * SQLite's `q` (name contains, or display prefix starts with) through the FTS5 trigram index
 * `tokens_name_fts` (migration 2026-12-04T13-00). SQLite's planner cannot estimate how many rows an FTS
 * match returns, so the plan is chosen here from a bounded count: few candidates → fetch them by rowid
 * and by the prefix index (a MULTI-INDEX OR) and sort; many → the same conditions behind unary `+` (no
 * index use), so the organisation's sort index is walked in order.
 */
async function sqliteNameOrPrefix(db: Db, orgId: string, q: string, prefix: string, candidates: number) {
  // An FTS5 string: the whole needle as one phrase (a double quote is doubled).
  const phrase = `"${q.replaceAll('"', '""')}"`;
  const upper = `${prefix}\u007f`;
  const { rows } = await sql<{ n: number }>`select
      (select count(*) from (select 1 from tokens_name_fts where tokens_name_fts match ${phrase} limit ${candidates + 1}))
      + (select count(*) from (select 1 from tokens where org_id = ${orgId} and prefix >= ${prefix} and prefix < ${upper}
           limit ${candidates + 1})) as n`.execute(db);
  const few = Number(rows[0]?.n ?? 0) <= candidates;
  const plus = sql.raw(few ? "" : "+");
  // Walking, an ASCII needle is checked row by row with LIKE (ASCII case folding, as FTS5 folds ASCII):
  // materialising the rowids of 200,000 name matches cost ~100 ms a page. Others keep the index's
  // Unicode case folding.
  const name =
    few || !/^[\x20-\x7e]*$/.test(q)
      ? sql`${plus}tokens.rowid in (select rowid from tokens_name_fts where tokens_name_fts match ${phrase})`
      : sql`lower(tokens.name) like lower(${likeContains(q)}) escape '\\'`;
  return sql<boolean>`(${name} or (${plus}tokens.prefix >= ${prefix} and ${plus}tokens.prefix < ${upper}))`;
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

/** A token's credits as stored now (the seed of a live balance), or null when it has none. */
export async function readCredits(db: Db, tokenId: string): Promise<TokenCredits | null> {
  const row = await db
    .selectFrom("tokens")
    .select(["credits_remaining", "credits_refill", "credits_refilled_at", "credits_gen", "credits_seq"])
    .where("id", "=", tokenId)
    .executeTakeFirst();
  return row ? creditsFromRow(row as TokenRow) : null;
}

/** A live balance to write behind: what the live store held after its `seq`-th update of generation `gen`. */
export interface CreditsSnapshot {
  tokenId: string;
  gen: number;
  seq: number;
  remaining: number;
  refilledAt: number | null;
}

/**
 * Writes a live balance behind, only forward: never over a newer generation (an explicit set since) nor
 * over a later update of the same generation (another instance flushed after this one read). True when
 * the row took it.
 */
export async function writeCreditsBehind(db: Db, s: CreditsSnapshot): Promise<boolean> {
  const result = await db
    .updateTable("tokens")
    .set({ credits_remaining: s.remaining, credits_refilled_at: s.refilledAt, credits_seq: s.seq })
    .where("id", "=", s.tokenId)
    .where("credits_gen", "=", s.gen)
    .where("credits_seq", "<", s.seq)
    .where("credits_remaining", "is not", null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/**
 * {@link writeCreditsBehind} for many balances at once, each under the same rule: the ids of the rows
 * that took their snapshot. On PostgreSQL one statement (`update … from (values …)`), so a flush of a few
 * hundred balances is one round trip instead of one each; on SQLite, whose statements run in process,
 * one transaction of single-row updates.
 */
const CREDITS_WRITE_CHUNK = 1000;

export async function writeCreditsBehindMany(db: Db, snapshots: readonly CreditsSnapshot[]): Promise<Set<string>> {
  const taken = new Set<string>();
  if (snapshots.length === 0) return taken;
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) {
    await db.transaction().execute(async (trx) => {
      for (const s of snapshots) if (await writeCreditsBehind(trx, s)) taken.add(s.tokenId);
    });
    return taken;
  }
  // Five parameters a row: chunks stay far below the protocol's 65,535.
  for (let i = 0; i < snapshots.length; i += CREDITS_WRITE_CHUNK) {
    const rows = sql.join(
      snapshots
        .slice(i, i + CREDITS_WRITE_CHUNK)
        .map(
          (s) => sql`(${s.tokenId}::text, ${s.gen}::bigint, ${s.seq}::bigint, ${s.remaining}::bigint, ${s.refilledAt}::bigint)`,
        ),
    );
    const { rows: updated } = await sql<{ id: string }>`
      update tokens set credits_remaining = v.remaining, credits_refilled_at = v.refilled_at, credits_seq = v.seq
      from (values ${rows}) as v (id, gen, seq, remaining, refilled_at)
      where tokens.id = v.id and tokens.credits_gen = v.gen and tokens.credits_seq < v.seq
        and tokens.credits_remaining is not null
      returning tokens.id`.execute(db);
    for (const row of updated) taken.add(row.id);
  }
  return taken;
}
