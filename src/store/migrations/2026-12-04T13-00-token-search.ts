import { type Kysely, PostgresAdapter, sql } from "kysely";

/** "Never expires" sorts last: the constant of migration 2026-12-03T12-00 and of the list query. */
const NEVER_EXPIRES = 9_007_199_254_740_991;

/**
 * A token's state without the clock, character for character the `STATE` expression that
 * tokens-repository.ts filters `status` on (an expression index serves only the same expression).
 */
const STATE =
  "case when revoked_at is not null then 'revoked' when suspended_at is not null then 'suspended' " +
  "when deactivated_at is not null then 'inactive' else 'live' end";

/**
 * Indexes for the list's filters combined with each sort (issue 11, bench l at 1,000,000 tokens): a
 * status or kind filter walked the sort's index and kept the matching rows, which reads most of the
 * organisation when the matches sit at the far end of the order (e.g. revoked tokens sorted by name:
 * 1.1 s). With (org_id, filter, sort key, id) the page is an index range; so for the creator (a CI robot
 * may create most of an organisation's tokens) and the owner (a member's list is always their own
 * tokens; at 20,000 of them SQLite read them all and sorted: 200 ms).
 */
const FILTER_SORT_INDEXES: [string, string][] = [
  ["tokens_org_state_idx", `org_id, (${STATE}), id`],
  ["tokens_org_state_last_used_idx", `org_id, (${STATE}), coalesce(last_used_at, 0), id`],
  ["tokens_org_state_expires_idx", `org_id, (${STATE}), coalesce(expires_at, ${NEVER_EXPIRES}), id`],
  ["tokens_org_state_name_idx", `org_id, (${STATE}), lower(name), id`],
  ["tokens_org_kind_idx", "org_id, kind, id"],
  ["tokens_org_kind_last_used_idx", "org_id, kind, coalesce(last_used_at, 0), id"],
  ["tokens_org_kind_expires_idx", `org_id, kind, coalesce(expires_at, ${NEVER_EXPIRES}), id`],
  ["tokens_org_kind_name_idx", "org_id, kind, lower(name), id"],
  ["tokens_org_creator_last_used_idx", "org_id, created_by_id, coalesce(last_used_at, 0), id"],
  ["tokens_org_creator_expires_idx", `org_id, created_by_id, coalesce(expires_at, ${NEVER_EXPIRES}), id`],
  ["tokens_org_creator_name_idx", "org_id, created_by_id, lower(name), id"],
  ["tokens_org_owner_last_used_idx", "org_id, owner_id, coalesce(last_used_at, 0), id"],
  ["tokens_org_owner_expires_idx", `org_id, owner_id, coalesce(expires_at, ${NEVER_EXPIRES}), id`],
  ["tokens_org_owner_name_idx", "org_id, owner_id, lower(name), id"],
];

/**
 * Issue 11, "name contains" at 1,000,000 tokens on SQLite: `lower(name) like '%…%'` cannot use a b-tree,
 * so `q` scanned the organisation's tokens. An FTS5 index with the trigram tokenizer answers substring
 * matches of 3 characters or more (case-insensitive, Unicode case folding) from its own index.
 *
 * It is an external-content table over `tokens` (the names are not stored twice), keyed by the tokens
 * table's rowid and kept in sync by the triggers below. Tessera never runs VACUUM (which may renumber the
 * rowids of a table without an INTEGER PRIMARY KEY); an operator who does should then run
 * `insert into tokens_name_fts(tokens_name_fts) values ('rebuild')` (docs/operations.md).
 *
 * PostgreSQL already has its trigram GIN index (migration 2026-12-03T12-00, when pg_trgm can be installed).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  for (const [name, columns] of FILTER_SORT_INDEXES) {
    await sql.raw(`create index ${name} on tokens (${columns})`).execute(db);
  }
  if (db.getExecutor().adapter instanceof PostgresAdapter) return;
  await sql`create virtual table tokens_name_fts using fts5(name, content='tokens', content_rowid='rowid', tokenize='trigram')`.execute(
    db,
  );
  await sql`create trigger tokens_name_fts_insert after insert on tokens begin
      insert into tokens_name_fts (rowid, name) values (new.rowid, new.name);
    end`.execute(db);
  await sql`create trigger tokens_name_fts_delete after delete on tokens begin
      insert into tokens_name_fts (tokens_name_fts, rowid, name) values ('delete', old.rowid, old.name);
    end`.execute(db);
  await sql`create trigger tokens_name_fts_update after update of name on tokens begin
      insert into tokens_name_fts (tokens_name_fts, rowid, name) values ('delete', old.rowid, old.name);
      insert into tokens_name_fts (rowid, name) values (new.rowid, new.name);
    end`.execute(db);
  await sql`insert into tokens_name_fts (tokens_name_fts) values ('rebuild')`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const [name] of FILTER_SORT_INDEXES) await db.schema.dropIndex(name).ifExists().execute();
  if (db.getExecutor().adapter instanceof PostgresAdapter) return;
  await sql`drop trigger if exists tokens_name_fts_update`.execute(db);
  await sql`drop trigger if exists tokens_name_fts_delete`.execute(db);
  await sql`drop trigger if exists tokens_name_fts_insert`.execute(db);
  await sql`drop table if exists tokens_name_fts`.execute(db);
}
