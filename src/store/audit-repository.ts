import { sql } from "kysely";
import type { Db } from "./database.js";
import { fromJson, toJson } from "./json.js";
import type { AuditEventRow } from "./schema.js";

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

function fromRow(row: AuditEventRow): AuditEvent {
  return {
    id: row.id,
    at: row.at,
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

/** Append-only: there is no update or delete for events. */
export async function insertEvents(db: Db, events: readonly AuditEvent[]): Promise<void> {
  if (events.length === 0) return;
  await db
    .insertInto("audit_events")
    .values(
      events.map((e) => ({
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
        details: toJson(e.details),
      })),
    )
    .execute();
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

export async function listEvents(db: Db, f: AuditFilter): Promise<AuditEvent[]> {
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
