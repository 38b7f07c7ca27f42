import { sql } from "kysely";
import { newId } from "../core/ids.js";
import type { Db } from "./database.js";

/** Slots per request in a flat history array: at, code, ip, userAgent, scopes (undefined or null: none). */
export const REQUEST_SLOTS = 5;

/** Usage of one token gathered in memory since the last flush. */
export interface UsageDelta {
  tokenId: string;
  /** Successful verifications. */
  ok: number;
  lastUsedAt: number | null;
  lastUsedIp: string | null;
  /** Bucket start (epoch ms of the hour) → counts. */
  buckets: Map<number, { ok: number; denied: number }>;
  /**
   * This interval's requests for the history, flat (REQUEST_SLOTS per request) in the order they were
   * verified (oldest first); may be empty. Written as one `token_request_batches` row.
   */
  requests?: readonly unknown[];
}

/**
 * The history row of one token's flush (the SQLite usage worker does the same in its own source):
 * `entries` is the flat array's JSON, one native `JSON.stringify` (undefined scopes become null).
 */
export function requestBatchRow(
  id: string,
  tokenId: string,
  requests: readonly unknown[],
): { id: string; token_id: string; at: number; first_at: number; n: number; entries: string } {
  let at = -Infinity;
  let firstAt = Infinity;
  for (let i = 0; i < requests.length; i += REQUEST_SLOTS) {
    const t = requests[i] as number;
    if (t > at) at = t;
    if (t < firstAt) firstAt = t;
  }
  return { id, token_id: tokenId, at, first_at: firstAt, n: requests.length / REQUEST_SLOTS, entries: JSON.stringify(requests) };
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
  const batches = deltas
    .filter((d) => d.requests !== undefined && d.requests.length > 0)
    .map((d) => requestBatchRow(newId("request"), d.tokenId, d.requests!));
  for (const part of chunks(batches)) await db.insertInto("token_request_batches").values(part).execute();
}

/**
 * Where a request sits in a token's history: its batch (the batch's newest time and id: the keyset
 * batches are listed by) and its index in the batch counted from the batch's newest request. Trimming
 * removes a batch's oldest requests only, so a position stays valid while its request is kept.
 */
export interface RequestPosition {
  at: number;
  batchId: string;
  index: number;
}

export interface TokenRequestRow {
  at: number;
  code: string;
  ip: string | null;
  userAgent: string | null;
  scopes: string[];
  position: RequestPosition;
}

/**
 * A token's requests after `after` (exclusive), at most `limit`: batches newest first (by `at`, then
 * id: a strict order, also when several batches share a time), each batch's requests newest first. Two
 * statements: the batches' sizes from the index (no entries read), then the entries of just the batches
 * the page needs.
 */
export async function listTokenRequests(
  db: Db,
  tokenId: string,
  after: RequestPosition | undefined,
  limit: number,
): Promise<TokenRequestRow[]> {
  let query = db.selectFrom("token_request_batches").select(["id", "at", "n"]).where("token_id", "=", tokenId);
  if (after) {
    query = query.where((eb) =>
      eb.or([eb("at", "<", after.at), eb.and([eb("at", "=", after.at), eb("id", "<=", after.batchId)])]),
    );
  }
  // Every batch holds at least one request: limit + 1 batches fill the page even if the cursor's own has none left.
  const sizes = await query
    .orderBy("at", "desc")
    .orderBy("id", "desc")
    .limit(limit + 1)
    .execute();
  const needed: { id: string; at: number; skip: number; n: number }[] = [];
  let count = 0;
  for (const b of sizes) {
    if (count >= limit) break;
    const skip = after && b.id === after.batchId ? after.index + 1 : 0;
    const n = Number(b.n);
    if (skip >= n) continue;
    needed.push({ id: b.id, at: Number(b.at), skip, n });
    count += n - skip;
  }
  if (needed.length === 0) return [];
  const rows = await db
    .selectFrom("token_request_batches")
    .select(["id", "entries"])
    .where(
      "id",
      "in",
      needed.map((b) => b.id),
    )
    .execute();
  const entriesOf = new Map(rows.map((r) => [r.id, r.entries]));
  const out: TokenRequestRow[] = [];
  for (const b of needed) {
    const text = entriesOf.get(b.id);
    if (text === undefined) continue; // deleted by retention between the two statements
    const e = JSON.parse(text) as unknown[];
    const n = e.length / REQUEST_SLOTS;
    for (let index = b.skip; index < n && out.length < limit; index++) {
      const i = (n - 1 - index) * REQUEST_SLOTS;
      out.push({
        at: e[i] as number,
        code: e[i + 1] as string,
        ip: (e[i + 2] as string | null) ?? null,
        userAgent: (e[i + 3] as string | null) ?? null,
        scopes: (e[i + 4] as string[] | null) ?? [],
        position: { at: b.at, batchId: b.id, index },
      });
    }
  }
  return out;
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
