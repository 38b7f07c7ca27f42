import { type Kysely, PostgresAdapter, sql } from "kysely";
import { eventHash, GENESIS_HASH } from "../../core/audit-chain.js";

/**
 * Issue 11 (governance):
 * - token list indexes: every sort key and filter has an (org_id, key, id) index so that a page of a
 *   1,000,000-token organisation is an index range, not a scan (the sort expressions here are the ones
 *   `listTokens` orders by, character for character: expression indexes only match identical text);
 *   on PostgreSQL a trigram index serves `q`'s "name contains" when pg_trgm can be installed;
 * - `token_requests`: per-request verification history, written in batches by the usage recorder;
 * - the audit hash chain: `seq`, `prev_hash`, `hash` on every event, the chain's head per organisation
 *   (`audit_chain_heads`, '' = instance), retention checkpoints; existing events are chained in id order.
 */
export const NEVER_EXPIRES = 9_007_199_254_740_991;

export async function up(db: Kysely<unknown>): Promise<void> {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  const index = (name: string, columns: string) => sql.raw(`create index ${name} on tokens (${columns})`).execute(db);
  await index("tokens_org_last_used_idx", "org_id, coalesce(last_used_at, 0), id");
  await index("tokens_org_expires_idx", `org_id, coalesce(expires_at, ${NEVER_EXPIRES}), id`);
  await index("tokens_org_name_idx", "org_id, lower(name), id");
  await index("tokens_org_creator_idx", "org_id, created_by_id, id");
  await index("tokens_org_owner_idx", "org_id, owner_id, id");
  await index("tokens_org_prefix_idx", postgres ? `org_id, prefix collate "C"` : "org_id, prefix");
  if (postgres) {
    // pg_trgm is a trusted extension (PostgreSQL 13+), yet a locked-down role may not create it: then the
    // search still works, by scanning.
    await sql`savepoint trgm`.execute(db);
    try {
      await sql`create extension if not exists pg_trgm`.execute(db);
      await sql`create index tokens_name_trgm_idx on tokens using gin (lower(name) gin_trgm_ops)`.execute(db);
      await sql`release savepoint trgm`.execute(db);
    } catch {
      await sql`rollback to savepoint trgm`.execute(db);
    }
  }

  await db.schema
    .createTable("token_requests")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("token_id", "text", (c) => c.notNull())
    .addColumn("at", "bigint", (c) => c.notNull())
    .addColumn("code", "text", (c) => c.notNull())
    .addColumn("ip", "text")
    .addColumn("user_agent", "text")
    .addColumn("scopes", "text", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("token_requests_token_idx").on("token_requests").columns(["token_id", "at", "id"]).execute();
  await db.schema.createIndex("token_requests_at_idx").on("token_requests").column("at").execute();

  await db.schema.alterTable("audit_events").addColumn("seq", "bigint").execute();
  await db.schema.alterTable("audit_events").addColumn("prev_hash", "text").execute();
  await db.schema.alterTable("audit_events").addColumn("hash", "text").execute();
  await db.schema
    .createTable("audit_chain_heads")
    .addColumn("org_key", "text", (c) => c.primaryKey())
    .addColumn("seq", "bigint", (c) => c.notNull())
    .addColumn("hash", "text", (c) => c.notNull())
    .execute();
  await db.schema
    .createTable("audit_checkpoints")
    .addColumn("org_key", "text", (c) => c.notNull())
    .addColumn("seq", "bigint", (c) => c.notNull())
    .addColumn("hash", "text", (c) => c.notNull())
    .addColumn("pruned", "bigint", (c) => c.notNull())
    .addColumn("at", "bigint", (c) => c.notNull())
    .addColumn("signature", "text")
    .addPrimaryKeyConstraint("audit_checkpoints_pk", ["org_key", "seq"])
    .execute();

  await chainExistingEvents(db);
  await db.schema.createIndex("audit_org_seq_idx").on("audit_events").columns(["org_id", "seq"]).execute();
}

interface LegacyRow {
  id: string;
  at: number | string;
  org_id: string | null;
  action: string;
  actor_type: string;
  actor_id: string | null;
  actor_name: string | null;
  target_type: string | null;
  target_id: string | null;
  target_name: string | null;
  ip: string | null;
  user_agent: string | null;
  trace_id: string;
  details: string;
}

/** Chains the events written before the chain existed, per organisation, in id (= time) order. */
async function chainExistingEvents(db: Kysely<unknown>): Promise<void> {
  const heads = new Map<string, { seq: number; hash: string }>();
  let after = "";
  for (;;) {
    const { rows } = await sql<LegacyRow>`select * from audit_events where id > ${after} order by id limit 1000`.execute(db);
    if (rows.length === 0) break;
    for (const row of rows) {
      const key = row.org_id ?? "";
      const head = heads.get(key) ?? { seq: 0, hash: GENESIS_HASH };
      const seq = head.seq + 1;
      const hash = eventHash(head.hash, {
        id: row.id,
        seq,
        at: Number(row.at),
        orgId: row.org_id,
        action: row.action,
        actor: { type: row.actor_type, id: row.actor_id, name: row.actor_name },
        target: row.target_type && row.target_id ? { type: row.target_type, id: row.target_id, name: row.target_name } : null,
        ip: row.ip,
        userAgent: row.user_agent,
        traceId: row.trace_id,
        details: JSON.parse(row.details) as Record<string, unknown>,
      });
      await sql`update audit_events set seq = ${seq}, prev_hash = ${head.hash}, hash = ${hash} where id = ${row.id}`.execute(db);
      heads.set(key, { seq, hash });
    }
    after = rows[rows.length - 1]!.id;
  }
  for (const [key, head] of heads) {
    await sql`insert into audit_chain_heads (org_key, seq, hash) values (${key}, ${head.seq}, ${head.hash})`.execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex("audit_org_seq_idx").ifExists().execute();
  await db.schema.dropTable("audit_checkpoints").ifExists().execute();
  await db.schema.dropTable("audit_chain_heads").ifExists().execute();
  await db.schema.alterTable("audit_events").dropColumn("hash").execute();
  await db.schema.alterTable("audit_events").dropColumn("prev_hash").execute();
  await db.schema.alterTable("audit_events").dropColumn("seq").execute();
  await db.schema.dropTable("token_requests").ifExists().execute();
  for (const name of [
    "tokens_name_trgm_idx",
    "tokens_org_prefix_idx",
    "tokens_org_owner_idx",
    "tokens_org_creator_idx",
    "tokens_org_name_idx",
    "tokens_org_expires_idx",
    "tokens_org_last_used_idx",
  ]) {
    await db.schema.dropIndex(name).ifExists().execute();
  }
}
