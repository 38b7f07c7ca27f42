import { PostgresAdapter, sql } from "kysely";
import type { SubscribableEventType } from "../core/webhook-events.js";
import { endpointWants, orderKeyOf, webhookPayload, webhookTypeOf } from "../core/webhook-events.js";
import type { Db } from "./database.js";
import { fromJson, toJson } from "./json.js";
import type { WebhookDeliveryRow, WebhookEndpointRow } from "./schema.js";

export interface WebhookEndpointRecord {
  id: string;
  orgId: string;
  url: string;
  description: string | null;
  /** Validated when written (WebhookService); empty = every type. */
  eventTypes: SubscribableEventType[];
  enabled: boolean;
  status: "active" | "failing";
  /** Encrypted; only the dispatcher decrypts it, to sign. */
  secretEnc: string;
  failingSince: number | null;
  createdAt: number;
  updatedAt: number;
}

export type DeliveryState = "pending" | "delivered" | "failed";

export interface WebhookDeliveryRecord {
  id: string;
  endpointId: string;
  orgId: string;
  eventId: string;
  type: string;
  payload: string;
  orderKey: string;
  seq: number;
  state: DeliveryState;
  attempts: number;
  nextAttemptAt: number | null;
  leaseId: string | null;
  lastAttemptAt: number | null;
  lastStatus: number | null;
  lastDurationMs: number | null;
  lastError: string | null;
  createdAt: number;
  deliveredAt: number | null;
}

function endpointFromRow(r: WebhookEndpointRow): WebhookEndpointRecord {
  return {
    id: r.id,
    orgId: r.org_id,
    url: r.url,
    description: r.description,
    eventTypes: fromJson<SubscribableEventType[]>(r.event_types, []),
    enabled: Number(r.enabled) === 1,
    status: r.status === "failing" ? "failing" : "active",
    secretEnc: r.secret_enc,
    failingSince: r.failing_since === null ? null : Number(r.failing_since),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

function deliveryFromRow(r: WebhookDeliveryRow): WebhookDeliveryRecord {
  const n = (v: number | null) => (v === null ? null : Number(v));
  return {
    id: r.id,
    endpointId: r.endpoint_id,
    orgId: r.org_id,
    eventId: r.event_id,
    type: r.type,
    payload: r.payload,
    orderKey: r.order_key,
    seq: Number(r.seq),
    state: r.state as DeliveryState,
    attempts: Number(r.attempts),
    nextAttemptAt: n(r.next_attempt_at),
    leaseId: r.lease_id,
    lastAttemptAt: n(r.last_attempt_at),
    lastStatus: n(r.last_status),
    lastDurationMs: n(r.last_duration_ms),
    lastError: r.last_error,
    createdAt: Number(r.created_at),
    deliveredAt: n(r.delivered_at),
  };
}

export async function insertEndpoint(db: Db, e: WebhookEndpointRecord): Promise<void> {
  await db
    .insertInto("webhook_endpoints")
    .values({
      id: e.id,
      org_id: e.orgId,
      url: e.url,
      description: e.description,
      event_types: toJson(e.eventTypes),
      enabled: e.enabled ? 1 : 0,
      status: e.status,
      secret_enc: e.secretEnc,
      failing_since: e.failingSince,
      created_at: e.createdAt,
      updated_at: e.updatedAt,
    })
    .execute();
}

export async function findEndpoint(db: Db, orgId: string, id: string, forUpdate = false): Promise<WebhookEndpointRecord | null> {
  let query = db.selectFrom("webhook_endpoints").selectAll().where("org_id", "=", orgId).where("id", "=", id);
  if (forUpdate && db.getExecutor().adapter instanceof PostgresAdapter) query = query.forUpdate();
  const row = await query.executeTakeFirst();
  return row ? endpointFromRow(row) : null;
}

export async function listEndpoints(db: Db, orgId: string): Promise<WebhookEndpointRecord[]> {
  const rows = await db.selectFrom("webhook_endpoints").selectAll().where("org_id", "=", orgId).orderBy("id").execute();
  return rows.map(endpointFromRow);
}

export async function countEndpoints(db: Db, orgId: string): Promise<number> {
  const row = await db
    .selectFrom("webhook_endpoints")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("org_id", "=", orgId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function updateEndpoint(
  db: Db,
  id: string,
  patch: Partial<Pick<WebhookEndpointRecord, "url" | "description" | "eventTypes" | "enabled" | "status" | "failingSince">> & {
    updatedAt: number;
  },
): Promise<void> {
  await db
    .updateTable("webhook_endpoints")
    .set({
      ...(patch.url !== undefined ? { url: patch.url } : {}),
      ...(patch.description !== undefined ? { description: patch.description } : {}),
      ...(patch.eventTypes !== undefined ? { event_types: toJson(patch.eventTypes) } : {}),
      ...(patch.enabled !== undefined ? { enabled: patch.enabled ? 1 : 0 } : {}),
      ...(patch.status !== undefined ? { status: patch.status } : {}),
      ...(patch.failingSince !== undefined ? { failing_since: patch.failingSince } : {}),
      updated_at: patch.updatedAt,
    })
    .where("id", "=", id)
    .execute();
}

export async function deleteEndpoint(db: Db, id: string): Promise<void> {
  await db.deleteFrom("webhook_deliveries").where("endpoint_id", "=", id).execute();
  await db.deleteFrom("webhook_endpoints").where("id", "=", id).execute();
}

/** What the outbox needs of a chained audit event. */
export interface OutboxSource {
  id: string;
  at: number;
  orgId: string | null;
  action: string;
  actor: { type: string; id: string | null; name: string | null };
  target: { type: string; id: string; name: string | null } | null;
  details: Record<string, unknown>;
  seq: number;
}

/**
 * The outbox half of an audit append (store/audit-repository.ts calls it in the same transaction): one
 * pending delivery per event that maps to a webhook type and per enabled endpoint of its organisation
 * that wants the type. One indexed read of the organisations' endpoints; nothing is written when there
 * are none.
 */
export async function enqueueEventDeliveries(
  db: Db,
  events: readonly OutboxSource[],
  newDeliveryId: () => string,
): Promise<void> {
  const sendable = events.filter((e) => e.orgId !== null && webhookTypeOf(e.action) !== null);
  if (sendable.length === 0) return;
  const orgIds = [...new Set(sendable.map((e) => e.orgId!))];
  const endpoints = await db
    .selectFrom("webhook_endpoints")
    .select(["id", "org_id", "event_types"])
    .where("org_id", "in", orgIds)
    .where("enabled", "=", 1)
    .execute();
  if (endpoints.length === 0) return;
  const rows: WebhookDeliveryRow[] = [];
  for (const e of sendable) {
    const type = webhookTypeOf(e.action)!;
    const source = { id: e.id, at: e.at, orgId: e.orgId!, actor: e.actor, target: e.target, details: e.details };
    let payload: string | undefined;
    for (const endpoint of endpoints) {
      if (endpoint.org_id !== e.orgId || !endpointWants(fromJson<string[]>(endpoint.event_types, []), type)) continue;
      payload ??= JSON.stringify(webhookPayload(type, source));
      rows.push(pendingRow(newDeliveryId(), endpoint.id, e.orgId!, e.id, type, payload, orderKeyOf(source), e.seq, e.at));
    }
  }
  for (let i = 0; i < rows.length; i += 500) {
    await db
      .insertInto("webhook_deliveries")
      .values(rows.slice(i, i + 500))
      .execute();
  }
}

function pendingRow(
  id: string,
  endpointId: string,
  orgId: string,
  eventId: string,
  type: string,
  payload: string,
  orderKey: string,
  seq: number,
  now: number,
): WebhookDeliveryRow {
  return {
    id,
    endpoint_id: endpointId,
    org_id: orgId,
    event_id: eventId,
    type,
    payload,
    order_key: orderKey,
    seq,
    state: "pending",
    attempts: 0,
    next_attempt_at: now,
    lease_id: null,
    lease_until: null,
    last_attempt_at: null,
    last_status: null,
    last_duration_ms: null,
    last_error: null,
    created_at: now,
    delivered_at: null,
  };
}

/** A delivery outside the event order (a test send): ordered on its own. */
export async function insertStandaloneDelivery(
  db: Db,
  d: { id: string; endpointId: string; orgId: string; eventId: string; type: string; payload: string; now: number },
): Promise<WebhookDeliveryRecord> {
  const row = pendingRow(d.id, d.endpointId, d.orgId, d.eventId, d.type, d.payload, `delivery:${d.id}`, 0, d.now);
  await db.insertInto("webhook_deliveries").values(row).execute();
  return deliveryFromRow(row);
}

/** One page of an endpoint's deliveries, newest first, after `before` (an id). */
export async function listDeliveries(
  db: Db,
  endpointId: string,
  page: { before?: string | undefined; limit: number; state?: DeliveryState | undefined },
): Promise<WebhookDeliveryRecord[]> {
  let query = db.selectFrom("webhook_deliveries").selectAll().where("endpoint_id", "=", endpointId);
  if (page.before) query = query.where("id", "<", page.before);
  if (page.state) query = query.where("state", "=", page.state);
  const rows = await query.orderBy("id", "desc").limit(page.limit).execute();
  return rows.map(deliveryFromRow);
}

export async function findDelivery(db: Db, orgId: string, id: string): Promise<WebhookDeliveryRecord | null> {
  const row = await db
    .selectFrom("webhook_deliveries")
    .selectAll()
    .where("org_id", "=", orgId)
    .where("id", "=", id)
    .executeTakeFirst();
  return row ? deliveryFromRow(row) : null;
}

/**
 * A manual retry: pending again now, with a fresh attempt budget. It leaves the event order (its key
 * becomes its own): a replay of an old event must not hold back the newer ones of the same target.
 */
export async function requeueDelivery(db: Db, id: string, now: number): Promise<void> {
  await db
    .updateTable("webhook_deliveries")
    .set({ state: "pending", attempts: 0, next_attempt_at: now, lease_id: null, lease_until: null, order_key: `delivery:${id}` })
    .where("id", "=", id)
    .execute();
}

/** A claimed delivery with what sending it needs. */
export interface ClaimedDelivery extends WebhookDeliveryRecord {
  url: string;
  secretEnc: string;
  /** The endpoint was failing when claimed: a success puts it back to active. */
  endpointFailing: boolean;
}

/**
 * Claims up to `limit` due deliveries for this instance until `leaseUntil`: pending, due, not leased (or
 * the lease expired: a killed instance's work), of an enabled endpoint, and first in their order (no
 * earlier pending delivery to the same endpoint with the same key). PostgreSQL: `FOR UPDATE SKIP LOCKED`,
 * so concurrent instances claim disjoint rows; SQLite: one writer at a time. Run inside a transaction.
 */
export async function claimDue(
  trx: Db,
  now: number,
  limit: number,
  leaseId: string,
  leaseUntil: number,
): Promise<ClaimedDelivery[]> {
  const postgres = trx.getExecutor().adapter instanceof PostgresAdapter;
  // `'pending'` as a literal, not a parameter: only then can both databases use the partial indexes
  // (`… where state = 'pending'`), which keep a claim cheap under a backlog of 100,000 rows.
  const PENDING = sql.lit("pending");
  let query = trx
    .selectFrom("webhook_deliveries as d")
    .select("d.id")
    .where("d.state", "=", PENDING)
    .where("d.next_attempt_at", "<=", now)
    .where((eb) => eb.or([eb("d.lease_until", "is", null), eb("d.lease_until", "<", now)]))
    .where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom("webhook_deliveries as p")
            .select("p.id")
            .whereRef("p.endpoint_id", "=", "d.endpoint_id")
            .whereRef("p.order_key", "=", "d.order_key")
            .where("p.state", "=", PENDING)
            .whereRef("p.seq", "<", "d.seq"),
        ),
      ),
    )
    .where((eb) =>
      eb.exists(
        eb.selectFrom("webhook_endpoints as e").select("e.id").whereRef("e.id", "=", "d.endpoint_id").where("e.enabled", "=", 1),
      ),
    )
    .orderBy("d.next_attempt_at")
    .orderBy("d.seq")
    .limit(limit);
  if (postgres) query = query.forUpdate().skipLocked();
  const ids = (await query.execute()).map((r) => r.id);
  if (ids.length === 0) return [];
  await trx
    .updateTable("webhook_deliveries")
    .set({ lease_id: leaseId, lease_until: leaseUntil })
    .where("id", "in", ids)
    .execute();
  const rows = await trx
    .selectFrom("webhook_deliveries as d")
    .innerJoin("webhook_endpoints as e", "e.id", "d.endpoint_id")
    .selectAll("d")
    .select(["e.url as url", "e.secret_enc as secret_enc", "e.status as endpoint_status"])
    .where("d.id", "in", ids)
    .orderBy("d.seq")
    .execute();
  return rows.map((r) => ({
    ...deliveryFromRow(r),
    url: r.url,
    secretEnc: r.secret_enc,
    endpointFailing: r.endpoint_status === "failing",
  }));
}

/**
 * Whether anything is due at all, read without a transaction: an idle dispatcher then takes no lock (on
 * SQLite a claim's transaction is a write lock that CLI commands and other writers would wait for).
 */
export async function anyDue(db: Db, now: number): Promise<boolean> {
  const row = await db
    .selectFrom("webhook_deliveries")
    .select("id")
    .where("state", "=", sql.lit("pending"))
    .where("next_attempt_at", "<=", now)
    .where((eb) => eb.or([eb("lease_until", "is", null), eb("lease_until", "<", now)]))
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** The outcome of one attempt, written only while this instance still holds the lease. */
export interface AttemptOutcome {
  at: number;
  status: number | null;
  durationMs: number;
  error: string | null;
  /** `delivered`, `failed` (given up), or `pending` with the next attempt's time. */
  state: DeliveryState;
  nextAttemptAt: number | null;
}

export async function recordAttempt(db: Db, id: string, leaseId: string, o: AttemptOutcome): Promise<boolean> {
  const result = await db
    .updateTable("webhook_deliveries")
    .set((eb) => ({
      attempts: eb("attempts", "+", 1),
      state: o.state,
      next_attempt_at: o.nextAttemptAt,
      lease_id: null,
      lease_until: null,
      last_attempt_at: o.at,
      last_status: o.status,
      last_duration_ms: o.durationMs,
      last_error: o.error,
      delivered_at: o.state === "delivered" ? o.at : null,
    }))
    .where("id", "=", id)
    .where("lease_id", "=", leaseId)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Gives the leases back (an instance shutting down): the rows are claimable again at once. */
export async function releaseLeases(db: Db, leaseId: string): Promise<void> {
  await db.updateTable("webhook_deliveries").set({ lease_id: null, lease_until: null }).where("lease_id", "=", leaseId).execute();
}

/**
 * Marks the endpoint failing (a delivery was given up); true when it was active until now (then the
 * owners are told, once per failing spell).
 */
export async function markEndpointFailing(db: Db, id: string, now: number): Promise<boolean> {
  const result = await db
    .updateTable("webhook_endpoints")
    .set({ status: "failing", failing_since: now, updated_at: now })
    .where("id", "=", id)
    .where("status", "=", "active")
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** A success puts a failing endpoint back to active. */
export async function markEndpointActive(db: Db, id: string, now: number): Promise<void> {
  await db
    .updateTable("webhook_endpoints")
    .set({ status: "active", failing_since: null, updated_at: now })
    .where("id", "=", id)
    .where("status", "=", "failing")
    .execute();
}

/** Finished deliveries (delivered or given up) created before `before`: the retention job's chunk. */
export async function deleteFinishedDeliveriesChunk(db: Db, before: number, limit: number): Promise<number> {
  // One statement, as the retention repository's chunks (a select, then a delete by ids, was two).
  const result = await db
    .deleteFrom("webhook_deliveries")
    .where("id", "in", (eb) =>
      eb
        .selectFrom("webhook_deliveries")
        .select("id")
        .where("created_at", "<", before)
        .where("state", "!=", "pending")
        .limit(limit),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** Pending deliveries (the backlog), for metrics and tests. */
export async function countPendingDeliveries(db: Db): Promise<number> {
  const row = await db
    .selectFrom("webhook_deliveries")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("state", "=", "pending")
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
