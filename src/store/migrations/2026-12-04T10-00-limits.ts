import { type Kysely, sql } from "kysely";

/**
 * Issue 13 (limits across a cluster):
 * - `rate_limits`: a token's named limits, JSON `[{name, limit, windowSeconds}]` (the legacy single
 *   `rate_limit` becomes the limit named `default`; `rate_limit` is no longer read or written);
 * - credits: `credits_remaining` (null: unlimited), `credits_refill` (JSON `{amount, interval}`),
 *   `credits_refilled_at` (start of the refill period the balance belongs to), `credits_gen` (bumped by
 *   every explicit set, so that a balance of an older generation is never written back) and
 *   `credits_seq` (the live store's update counter the stored balance reflects: write-behind only moves
 *   forward). Organisation limits live in the organisation's settings JSON and need no column.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("tokens").addColumn("rate_limits", "text").execute();
  await db.schema.alterTable("tokens").addColumn("credits_remaining", "bigint").execute();
  await db.schema.alterTable("tokens").addColumn("credits_refill", "text").execute();
  await db.schema.alterTable("tokens").addColumn("credits_refilled_at", "bigint").execute();
  await db.schema
    .alterTable("tokens")
    .addColumn("credits_gen", "bigint", (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable("tokens")
    .addColumn("credits_seq", "bigint", (c) => c.notNull().defaultTo(0))
    .execute();
  const { rows } = await sql<{
    id: string;
    rate_limit: string;
  }>`select id, rate_limit from tokens where rate_limit is not null`.execute(db);
  for (const row of rows) {
    const legacy = JSON.parse(row.rate_limit) as { limit: number; windowSeconds: number } | null;
    if (!legacy) continue;
    const limits = JSON.stringify([{ name: "default", limit: legacy.limit, windowSeconds: legacy.windowSeconds }]);
    await sql`update tokens set rate_limits = ${limits} where id = ${row.id}`.execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const column of [
    "credits_seq",
    "credits_gen",
    "credits_refilled_at",
    "credits_refill",
    "credits_remaining",
    "rate_limits",
  ]) {
    await db.schema.alterTable("tokens").dropColumn(column).execute();
  }
}
