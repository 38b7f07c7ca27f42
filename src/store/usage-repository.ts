import { sql } from "kysely";
import type { Db } from "./database.js";

/** Usage of one token gathered in memory since the last flush. */
export interface UsageDelta {
  tokenId: string;
  /** Successful verifications, and the hour buckets they fall in. */
  ok: number;
  lastUsedAt: number | null;
  lastUsedIp: string | null;
  /** Bucket start (epoch ms of the hour) → counts. */
  buckets: Map<number, { ok: number; denied: number }>;
}

/** Adds one batch of usage. Additive, so several instances may flush concurrently. */
export async function applyUsage(db: Db, deltas: readonly UsageDelta[]): Promise<void> {
  for (const d of deltas) {
    if (d.ok > 0 || d.lastUsedAt !== null) {
      await db
        .updateTable("tokens")
        .set({
          usage_count: sql`usage_count + ${d.ok}`,
          last_used_at: sql`case when last_used_at is null or last_used_at < ${d.lastUsedAt} then ${d.lastUsedAt} else last_used_at end`,
          last_used_ip: sql`case when last_used_at is null or last_used_at < ${d.lastUsedAt} then ${d.lastUsedIp} else last_used_ip end`,
        })
        .where("id", "=", d.tokenId)
        .execute();
    }
    for (const [start, counts] of d.buckets) {
      await db
        .insertInto("token_usage")
        .values({ token_id: d.tokenId, bucket_start: start, ok: counts.ok, denied: counts.denied })
        .onConflict((oc) =>
          oc.columns(["token_id", "bucket_start"]).doUpdateSet({
            ok: sql`token_usage.ok + excluded.ok`,
            denied: sql`token_usage.denied + excluded.denied`,
          }),
        )
        .execute();
    }
  }
}

export async function listUsage(
  db: Db,
  tokenId: string,
  from: number,
  to: number,
): Promise<{ start: number; ok: number; denied: number }[]> {
  const rows = await db
    .selectFrom("token_usage")
    .select(["bucket_start as start", "ok", "denied"])
    .where("token_id", "=", tokenId)
    .where("bucket_start", ">=", from)
    .where("bucket_start", "<", to)
    .orderBy("bucket_start")
    .execute();
  return rows.map((r) => ({ start: Number(r.start), ok: Number(r.ok), denied: Number(r.denied) }));
}
