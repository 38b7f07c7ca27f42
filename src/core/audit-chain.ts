import { createHash, createHmac, timingSafeEqual } from "node:crypto";

/**
 * The audit log's hash chain (SPEC §6). Every event of an organisation (and, separately, the instance's
 * own events) carries `seq` (1, 2, 3… in append order), `prevHash` (the previous event's `hash`, or
 * GENESIS_HASH for the first) and `hash = SHA-256(prevHash ‖ "\n" ‖ canonical(event))` in lowercase hex.
 *
 * Canonical serialisation: the JSON text (RFC 8259, as `JSON.stringify` writes strings and numbers) of
 * the object below with every object's keys sorted by UTF-16 code units, recursively, no whitespace;
 * `at` is epoch milliseconds; absent values are `null`. Arrays keep their order.
 */
export const GENESIS_HASH = "0".repeat(64);

export interface ChainedEventContent {
  id: string;
  seq: number;
  at: number;
  orgId: string | null;
  action: string;
  actor: { type: string; id: string | null; name: string | null };
  target: { type: string; id: string; name: string | null } | null;
  ip: string | null;
  userAgent: string | null;
  traceId: string;
  details: Record<string, unknown>;
}

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

export function canonicalEvent(e: ChainedEventContent): string {
  return canonicalJson({
    id: e.id,
    seq: e.seq,
    at: e.at,
    orgId: e.orgId,
    action: e.action,
    actor: { type: e.actor.type, id: e.actor.id, name: e.actor.name },
    target: e.target === null ? null : { type: e.target.type, id: e.target.id, name: e.target.name },
    ip: e.ip,
    userAgent: e.userAgent,
    traceId: e.traceId,
    details: e.details,
  });
}

export function eventHash(prevHash: string, e: ChainedEventContent): string {
  return createHash("sha256").update(prevHash).update("\n").update(canonicalEvent(e)).digest("hex");
}

/**
 * A retention checkpoint: the pruned prefix of a chain ends at `seq` with `hash`; the next kept event's
 * `prevHash` must equal it. Signed with HMAC-SHA-256 under the instance's key so that a database writer
 * without the key cannot forge one to hide a deletion.
 */
export interface Checkpoint {
  orgId: string | null;
  seq: number;
  hash: string;
  /** How many events this checkpoint's prune removed, and when. */
  pruned: number;
  at: number;
}

export function checkpointSignature(key: string, c: Checkpoint): string {
  return createHmac("sha256", key)
    .update(canonicalJson({ orgId: c.orgId, seq: c.seq, hash: c.hash, pruned: c.pruned, at: c.at }))
    .digest("hex");
}

export function checkpointSignatureValid(key: string, c: Checkpoint, signature: string): boolean {
  const expected = Buffer.from(checkpointSignature(key, c), "hex");
  const given = Buffer.from(signature, "hex");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** What a verification found: ok, or the first event (by seq) where the chain breaks, and why. */
export type ChainProblem = { seq: number; id: string | null; reason: string };

export interface ChainLink {
  id: string;
  seq: number;
  prevHash: string;
  hash: string;
  content: ChainedEventContent;
}

/**
 * Walks events in seq order and reports the first break: a recomputed hash that differs (changed
 * event), a prevHash that is not the previous event's hash (removed or reordered), or a seq gap.
 * `expectPrev`/`expectSeq`: where the walk starts (genesis, a checkpoint, or the previous page).
 */
export class ChainVerifier {
  prevHash: string;
  nextSeq: number;
  count = 0;
  problem: ChainProblem | null = null;

  constructor(expectPrev: string = GENESIS_HASH, expectSeq = 1) {
    this.prevHash = expectPrev;
    this.nextSeq = expectSeq;
  }

  /** False once a problem is found (later events are not examined). */
  add(link: ChainLink): boolean {
    if (this.problem) return false;
    const fail = (reason: string) => {
      this.problem = { seq: link.seq, id: link.id, reason };
      return false;
    };
    if (link.seq !== this.nextSeq) {
      return fail(
        link.seq > this.nextSeq
          ? `events ${this.nextSeq}..${link.seq - 1} are missing`
          : `seq ${link.seq} out of order (expected ${this.nextSeq})`,
      );
    }
    if (link.prevHash !== this.prevHash) return fail("prevHash is not the previous event's hash (removed or reordered)");
    if (eventHash(link.prevHash, link.content) !== link.hash) return fail("hash does not match the event (changed)");
    this.prevHash = link.hash;
    this.nextSeq++;
    this.count++;
    return true;
  }
}
