import { PostgresAdapter, sql } from "kysely";
import { type ChainedEventContent, type ChainLink, eventHash, GENESIS_HASH } from "../core/audit-chain.js";
import { newId } from "../core/ids.js";
import type { Db } from "./database.js";
import { fromJson, toJson } from "./json.js";
import type { AuditEventRow } from "./schema.js";
import { enqueueEventDeliveries } from "./webhooks-repository.js";

export type ActorType = "user" | "token" | "system";

export interface AuditEvent {
  id: string;
  at: number;
  orgId: string | null;
  action: string;
  actor: { type: ActorType; id: string | null; name: string | null };
  target: { type: string; id: string; name: string | null } | null;
  ip: string | null;
  userAgent: string | null;
  traceId: string;
  details: Record<string, unknown>;
}

/** An event as stored: with its place in the organisation's hash chain. */
export interface ChainedAuditEvent extends AuditEvent {
  seq: number;
  prevHash: string;
  hash: string;
}

export function fromRow(row: AuditEventRow): ChainedAuditEvent {
  return {
    seq: Number(row.seq),
    prevHash: row.prev_hash,
    hash: row.hash,
    id: row.id,
    at: Number(row.at),
    orgId: row.org_id,
    action: row.action,
    actor: { type: row.actor_type as ActorType, id: row.actor_id, name: row.actor_name },
    target: row.target_type && row.target_id ? { type: row.target_type, id: row.target_id, name: row.target_name } : null,
    ip: row.ip,
    userAgent: row.user_agent,
    traceId: row.trace_id,
    details: fromJson<Record<string, unknown>>(row.details, {}),
  };
}

/** The chain key of an event: its organisation, or '' for the instance's own events. */
export function chainKey(orgId: string | null): string {
  return orgId ?? "";
}

/**
 * The chain's last link, locked for the rest of the transaction (PostgreSQL: the head row is the lock
 * that makes concurrent appends to one organisation's chain take turns; SQLite transactions are serial).
 */
async function lockChainHead(db: Db, key: string): Promise<{ seq: number; hash: string }> {
  await db
    .insertInto("audit_chain_heads")
    .values({ org_key: key, seq: 0, hash: GENESIS_HASH })
    .onConflict((oc) => oc.column("org_key").doNothing())
    .execute();
  let query = db.selectFrom("audit_chain_heads").select(["seq", "hash"]).where("org_key", "=", key);
  if (db.getExecutor().adapter instanceof PostgresAdapter) query = query.forUpdate();
  const head = await query.executeTakeFirstOrThrow();
  return { seq: Number(head.seq), hash: head.hash };
}

/** What the chain hashes of an event (details as they will read back from storage). */
export function chainContent(e: AuditEvent, seq: number, storedDetails: string = toJson(e.details)): ChainedEventContent {
  return {
    id: e.id,
    seq,
    at: e.at,
    orgId: e.orgId,
    action: e.action,
    actor: e.actor,
    target: e.target,
    ip: e.ip,
    userAgent: e.userAgent,
    traceId: e.traceId,
    details: JSON.parse(storedDetails) as Record<string, unknown>,
  };
}

/**
 * Append-only: there is no update, and only the retention job deletes (behind a checkpoint). Each event
 * is linked into its organisation's hash chain (core/audit-chain.ts) in the caller's transaction.
 */
export async function insertEvents(db: Db, events: readonly AuditEvent[]): Promise<void> {
  if (events.length === 0) return;
  // The head's lock only holds inside a transaction (a failed login is recorded outside any use case's).
  if (!db.isTransaction) return db.transaction().execute((trx) => insertEvents(trx, events));
  const chained: { e: AuditEvent; details: string; seq: number; prevHash: string; hash: string }[] = [];
  const keys = [...new Set(events.map((e) => chainKey(e.orgId)))].sort();
  for (const key of keys) {
    const head = await lockChainHead(db, key);
    for (const e of events) {
      if (chainKey(e.orgId) !== key) continue;
      const details = toJson(e.details);
      const seq = head.seq + 1;
      const hash = eventHash(head.hash, chainContent(e, seq, details));
      chained.push({ e, details, seq, prevHash: head.hash, hash });
      head.seq = seq;
      head.hash = hash;
    }
    await db.updateTable("audit_chain_heads").set({ seq: head.seq, hash: head.hash }).where("org_key", "=", key).execute();
  }
  await db
    .insertInto("audit_events")
    .values(
      chained.map(({ e, details, seq, prevHash, hash }) => ({
        id: e.id,
        at: e.at,
        org_id: e.orgId,
        action: e.action,
        actor_type: e.actor.type,
        actor_id: e.actor.id,
        actor_name: e.actor.name,
        target_type: e.target?.type ?? null,
        target_id: e.target?.id ?? null,
        target_name: e.target?.name ?? null,
        ip: e.ip,
        user_agent: e.userAgent,
        trace_id: e.traceId,
        details,
        seq,
        prev_hash: prevHash,
        hash,
      })),
    )
    .execute();
  // The outbox (SPEC §10): every audited change that is a webhook event is queued for the organisation's
  // endpoints in this same transaction, so an event is delivered if and only if its change committed.
  await enqueueEventDeliveries(
    db,
    chained.map(({ e, seq }) => ({ ...e, seq })),
    () => newId("delivery"),
  );
}

export interface AuditFilter {
  orgId: string;
  action?: string | undefined;
  actorId?: string | undefined;
  targetId?: string | undefined;
  from?: number | undefined;
  to?: number | undefined;
  before?: string | undefined;
  limit: number;
}

export async function listEvents(db: Db, f: AuditFilter): Promise<ChainedAuditEvent[]> {
  let query = db.selectFrom("audit_events").selectAll().where("org_id", "=", f.orgId);
  if (f.action) {
    // `token.*` style prefixes are handy in the console's filter; exact names match themselves. The prefix
    // is compared with substr, not LIKE: literal (`_`, `%`) and case-sensitive on SQLite and PostgreSQL alike.
    if (f.action.endsWith(".*")) {
      const prefix = f.action.slice(0, -1);
      query = query.where(sql<string>`substr(action, 1, ${sql.lit([...prefix].length)})`, "=", prefix);
    } else {
      query = query.where("action", "=", f.action);
    }
  }
  if (f.actorId) query = query.where("actor_id", "=", f.actorId);
  if (f.targetId) query = query.where("target_id", "=", f.targetId);
  if (f.from !== undefined) query = query.where("at", ">=", f.from);
  if (f.to !== undefined) query = query.where("at", "<=", f.to);
  if (f.before) query = query.where("id", "<", f.before);
  const rows = await query.orderBy("id", "desc").limit(f.limit).execute();
  return rows.map(fromRow);
}

/** The chain's head (null when the organisation has no event yet). */
export async function findChainHead(db: Db, orgId: string | null): Promise<{ seq: number; hash: string } | null> {
  const row = await db
    .selectFrom("audit_chain_heads")
    .select(["seq", "hash"])
    .where("org_key", "=", chainKey(orgId))
    .executeTakeFirst();
  return row ? { seq: Number(row.seq), hash: row.hash } : null;
}

/** A page of one chain's events in seq order, after `afterSeq`. */
export async function chainPage(db: Db, orgId: string | null, afterSeq: number, limit: number): Promise<ChainedAuditEvent[]> {
  const rows = await db
    .selectFrom("audit_events")
    .selectAll()
    .where("org_id", orgId === null ? "is" : "=", orgId)
    .where("seq", ">", afterSeq)
    .orderBy("seq")
    .limit(limit)
    .execute();
  return rows.map(fromRow);
}

export function chainLink(e: ChainedAuditEvent): ChainLink {
  return { id: e.id, seq: e.seq, prevHash: e.prevHash, hash: e.hash, content: { ...e, seq: e.seq } };
}

/**
 * Filtered events in chain (seq) order, after `afterSeq`: the export's pages, as stored rows (the export
 * maps each with `fromRow` as it writes it, so that a page is not held twice, as rows and as events).
 */
export async function exportPage(
  db: Db,
  f: Omit<AuditFilter, "before" | "limit">,
  afterSeq: number,
  limit: number,
): Promise<AuditEventRow[]> {
  let query = db.selectFrom("audit_events").selectAll().where("org_id", "=", f.orgId).where("seq", ">", afterSeq);
  if (f.action) {
    if (f.action.endsWith(".*")) {
      const prefix = f.action.slice(0, -1);
      query = query.where(sql<string>`substr(action, 1, ${sql.lit([...prefix].length)})`, "=", prefix);
    } else {
      query = query.where("action", "=", f.action);
    }
  }
  if (f.actorId) query = query.where("actor_id", "=", f.actorId);
  if (f.targetId) query = query.where("target_id", "=", f.targetId);
  if (f.from !== undefined) query = query.where("at", ">=", f.from);
  if (f.to !== undefined) query = query.where("at", "<=", f.to);
  return query.orderBy("seq").limit(limit).execute();
}

export interface CheckpointRow {
  orgId: string | null;
  seq: number;
  hash: string;
  pruned: number;
  at: number;
  signature: string | null;
}

export async function insertCheckpoint(db: Db, c: CheckpointRow): Promise<void> {
  await db
    .insertInto("audit_checkpoints")
    .values({ org_key: chainKey(c.orgId), seq: c.seq, hash: c.hash, pruned: c.pruned, at: c.at, signature: c.signature })
    .execute();
}

/** The latest checkpoint of a chain: where its kept events start. */
export async function latestCheckpoint(db: Db, orgId: string | null): Promise<CheckpointRow | null> {
  const row = await db
    .selectFrom("audit_checkpoints")
    .selectAll()
    .where("org_key", "=", chainKey(orgId))
    .orderBy("seq", "desc")
    .limit(1)
    .executeTakeFirst();
  return row
    ? { orgId, seq: Number(row.seq), hash: row.hash, pruned: Number(row.pruned), at: Number(row.at), signature: row.signature }
    : null;
}
