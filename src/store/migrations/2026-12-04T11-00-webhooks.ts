import { type Kysely, sql } from "kysely";

/**
 * Issue 14 (point 1): webhook endpoints and the outbox of deliveries.
 * - `webhook_endpoints`: an organisation's endpoints; the signing secret is stored encrypted (AES-256-GCM,
 *   services/webhook-secrets.ts), never returned after creation.
 * - `webhook_deliveries`: the outbox, one row per (event, endpoint), written in the transaction of the
 *   audited change. `seq` is the audit chain's position (commit order within the organisation) and
 *   `order_key` the event's target: the dispatcher sends a row only when no earlier pending row of the
 *   same endpoint and key remains. Leases (`lease_id`, `lease_until`) let several instances share the
 *   work; an expired lease (a killed instance) makes the row claimable again.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("webhook_endpoints")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("org_id", "text", (c) => c.notNull().references("organizations.id").onDelete("cascade"))
    .addColumn("url", "text", (c) => c.notNull())
    .addColumn("description", "text")
    .addColumn("event_types", "text", (c) => c.notNull())
    .addColumn("enabled", "integer", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("secret_enc", "text", (c) => c.notNull())
    .addColumn("failing_since", "bigint")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("updated_at", "bigint", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("webhook_endpoints_org_idx").on("webhook_endpoints").columns(["org_id", "id"]).execute();

  await db.schema
    .createTable("webhook_deliveries")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("endpoint_id", "text", (c) => c.notNull().references("webhook_endpoints.id").onDelete("cascade"))
    .addColumn("org_id", "text", (c) => c.notNull())
    .addColumn("event_id", "text", (c) => c.notNull())
    .addColumn("type", "text", (c) => c.notNull())
    .addColumn("payload", "text", (c) => c.notNull())
    .addColumn("order_key", "text", (c) => c.notNull())
    .addColumn("seq", "bigint", (c) => c.notNull())
    .addColumn("state", "text", (c) => c.notNull())
    .addColumn("attempts", "integer", (c) => c.notNull())
    .addColumn("next_attempt_at", "bigint")
    .addColumn("lease_id", "text")
    .addColumn("lease_until", "bigint")
    .addColumn("last_attempt_at", "bigint")
    .addColumn("last_status", "integer")
    .addColumn("last_duration_ms", "integer")
    .addColumn("last_error", "text")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("delivered_at", "bigint")
    .execute();
  // The dispatcher's two questions, over pending rows only (delivered history does not slow them down).
  await sql`create index webhook_deliveries_due_idx on webhook_deliveries (next_attempt_at, seq) where state = 'pending'`.execute(
    db,
  );
  await sql`create index webhook_deliveries_order_idx on webhook_deliveries (endpoint_id, order_key, seq) where state = 'pending'`.execute(
    db,
  );
  await db.schema
    .createIndex("webhook_deliveries_endpoint_idx")
    .on("webhook_deliveries")
    .columns(["endpoint_id", "id"])
    .execute();
  await db.schema.createIndex("webhook_deliveries_created_idx").on("webhook_deliveries").column("created_at").execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("webhook_deliveries").ifExists().execute();
  await db.schema.dropTable("webhook_endpoints").ifExists().execute();
}
