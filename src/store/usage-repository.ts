import { sql } from "kysely";
import { newId } from "../core/ids.js";
import type { Db } from "./database.js";

/** One verification for a token's request history. */
export interface RequestRecord {
  at: number;
  code: string;
  ip: string | null;
  userAgent: string | null;
  /** The scopes the verify call asked for. */
  scopes: readonly string[];
}

/** Usage of one token gathered in memory since the last flush. */
export interface UsageDelta {
  tokenId: string;
  /** Successful verifications. */
  ok: number;
  lastUsedAt: number | null;
  lastUsedIp: string | null;
  /** Bucket start (epoch ms of the hour) → counts. */
  buckets: Map<number, { ok: number; denied: number }>;
  /** This interval's requests for the history (may be empty). */
  requests?: readonly RequestRecord[];
}

/** Rows per statement: well under SQLite's 32,766 bound variables and PostgreSQL's 65,535. */
const CHUNK = 500;

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}

/**
 * Adds one batch of usage with a few multi-row statements (not one per token: a flush of thousands of
 * tokens must stay short). Additive, so several instances may flush concurrently. `UPDATE … FROM
 * (VALUES …)` names the columns column1… in both SQLite and PostgreSQL; the casts type the parameters.
 */
export async function applyUsage(db: Db, deltas: readonly UsageDelta[]): Promise<void> {
  const used = deltas.filter((d) => d.ok > 0 && d.lastUsedAt !== null);
  for (const part of chunks(used)) {
    const values = sql.join(
      part.map(
        (d) => sql`(${d.tokenId}, cast(${d.ok} as bigint), cast(${d.lastUsedAt} as bigint), cast(${d.lastUsedIp} as text))`,
      ),
    );
    await sql`
      update tokens set
        usage_count = tokens.usage_count + v.column2,
        last_used_ip = case when tokens.last_used_at is null or tokens.last_used_at < v.column3 then v.column4 else tokens.last_used_ip end,
        last_used_at = case when tokens.last_used_at is null or tokens.last_used_at < v.column3 then v.column3 else tokens.last_used_at end
      from (values ${values}) as v
      where tokens.id = v.column1`.execute(db);
  }
  const rows = deltas.flatMap((d) =>
    [...d.buckets].map(([start, counts]) => ({ token_id: d.tokenId, bucket_start: start, ok: counts.ok, denied: counts.denied })),
  );
  for (const part of chunks(rows)) {
    await db
      .insertInto("token_usage")
      .values(part)
      .onConflict((oc) =>
        oc.columns(["token_id", "bucket_start"]).doUpdateSet({
          ok: sql`token_usage.ok + excluded.ok`,
          denied: sql`token_usage.denied + excluded.denied`,
        }),
      )
      .execute();
  }
  const requests = deltas.flatMap((d) =>
    (d.requests ?? []).map((r) => ({
      id: newId("request"),
      token_id: d.tokenId,
      at: r.at,
      code: r.code,
      ip: r.ip,
      user_agent: r.userAgent,
      scopes: JSON.stringify(r.scopes),
    })),
  );
  for (const part of chunks(requests)) await db.insertInto("token_requests").values(part).execute();
}

export interface TokenRequestRow {
  id: string;
  at: number;
  code: string;
  ip: string | null;
  userAgent: string | null;
  scopes: string[];
}

/** A token's requests, newest first, after the keyset `(at, id)` of the previous page. */
export async function listTokenRequests(
  db: Db,
  tokenId: string,
  after: { at: number; id: string } | undefined,
  limit: number,
): Promise<TokenRequestRow[]> {
  let query = db.selectFrom("token_requests").selectAll().where("token_id", "=", tokenId);
  if (after) {
    query = query.where((eb) => eb.or([eb("at", "<", after.at), eb.and([eb("at", "=", after.at), eb("id", "<", after.id)])]));
  }
  const rows = await query.orderBy("at", "desc").orderBy("id", "desc").limit(limit).execute();
  return rows.map((r) => ({
    id: r.id,
    at: Number(r.at),
    code: r.code,
    ip: r.ip,
    userAgent: r.user_agent,
    scopes: JSON.parse(r.scopes) as string[],
  }));
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
