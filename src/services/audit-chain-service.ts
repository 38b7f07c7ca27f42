import { setImmediate } from "node:timers/promises";
import {
  type ChainProblem,
  ChainVerifier,
  type Checkpoint,
  checkpointSignature,
  checkpointSignatureValid,
  GENESIS_HASH,
} from "../core/audit-chain.js";
import { TesseraError } from "../core/errors.js";
import {
  type ChainedAuditEvent,
  chainLink,
  chainPage,
  exportPage,
  findChainHead,
  fromRow,
  insertCheckpoint,
  latestCheckpoint,
} from "../store/audit-repository.js";
import type { Db, Store } from "../store/database.js";
import { type OrgAccess, requireScope } from "./actor.js";
import type { AuditQuery } from "./token-service.js";

/** Events read per page by the export and the verification: memory stays flat whatever the log's size. */
const PAGE = 1000;

export interface ChainReport {
  orgId: string | null;
  ok: boolean;
  /** Events checked (after the checkpoint, when there is one). */
  events: number;
  /** The chain's head as recorded (seq 0 when empty). */
  headSeq: number;
  /** Where verification started: a retention checkpoint's seq, or 0. */
  fromSeq: number;
  checkpointSigned: boolean | null;
  problem: ChainProblem | null;
}

/**
 * The audit log's hash chain beyond appending (which `insertEvents` does): verification, the
 * retention checkpoint and the streamed export (SPEC §6).
 */
export class AuditChainService {
  readonly #store: Store;
  /** Signs retention checkpoints (the server pepper); undefined: checkpoints are written unsigned. */
  readonly #key: string | undefined;

  constructor(store: Store, key: string | undefined) {
    this.#store = store;
    this.#key = key;
  }

  /**
   * Walks one chain (an organisation's, or null for the instance's own) from its latest checkpoint, or
   * from genesis, to the recorded head: any changed, removed or reordered event is reported, as is a
   * removed tail (the head records the last seq and hash) and a checkpoint whose signature fails.
   */
  async verify(orgId: string | null): Promise<ChainReport> {
    const db = this.#store.db;
    const checkpoint = await latestCheckpoint(db, orgId);
    const head = (await findChainHead(db, orgId)) ?? { seq: 0, hash: GENESIS_HASH };
    const report: ChainReport = {
      orgId,
      ok: true,
      events: 0,
      headSeq: head.seq,
      fromSeq: checkpoint?.seq ?? 0,
      checkpointSigned: null,
      problem: null,
    };
    const fail = (problem: ChainProblem) => ({ ...report, ok: false, problem });
    if (checkpoint) {
      if (checkpoint.signature === null) report.checkpointSigned = false;
      else if (this.#key === undefined) report.checkpointSigned = null;
      else if (checkpointSignatureValid(this.#key, checkpoint, checkpoint.signature)) report.checkpointSigned = true;
      else return fail({ seq: checkpoint.seq, id: null, reason: "the retention checkpoint's signature does not match" });
    }
    const verifier = new ChainVerifier(checkpoint?.hash ?? GENESIS_HASH, (checkpoint?.seq ?? 0) + 1);
    let after = checkpoint?.seq ?? 0;
    for (;;) {
      const page = await chainPage(db, orgId, after, PAGE);
      for (const e of page) {
        if (!verifier.add(chainLink(e))) return { ...fail(verifier.problem!), events: verifier.count };
      }
      if (page.length < PAGE) break;
      after = page[page.length - 1]!.seq;
    }
    report.events = verifier.count;
    if (verifier.nextSeq - 1 !== head.seq || verifier.prevHash !== head.hash) {
      return fail({
        seq: verifier.nextSeq,
        id: null,
        reason:
          verifier.nextSeq - 1 < head.seq
            ? `events ${verifier.nextSeq}..${head.seq} are missing (the chain's head is at ${head.seq})`
            : "the chain's recorded head does not match its last event",
      });
    }
    return report;
  }

  /**
   * The retention job's seam (`beforeAuditPrune`): before a chunk of a chain's oldest events is deleted,
   * records where the pruned prefix ends (its last seq and hash), signed, so that the chain still
   * verifies from the first kept event. In the pruning transaction: no checkpoint, no delete.
   */
  readonly beforeAuditPrune = async (trx: Db, orgId: string | null, ids: readonly string[]): Promise<void> => {
    if (ids.length === 0) return;
    const rows = await trx
      .selectFrom("audit_events")
      .select(["seq", "hash"])
      .where("id", "in", ids)
      .orderBy("seq", "desc")
      .limit(1)
      .execute();
    const last = rows[0];
    if (!last) return;
    const previous = await latestCheckpoint(trx, orgId);
    const seq = Number(last.seq);
    if (previous && previous.seq >= seq) return;
    const checkpoint: Checkpoint = { orgId, seq, hash: last.hash, pruned: ids.length, at: Date.now() };
    await insertCheckpoint(trx, {
      ...checkpoint,
      signature: this.#key === undefined ? null : checkpointSignature(this.#key, checkpoint),
    });
  };

  /**
   * The organisation's events matching the audit filters, oldest first (chain order), a page at a time:
   * the export streams them without holding more than one page.
   */
  async *export(access: OrgAccess, query: Omit<AuditQuery, "limit" | "cursor">): AsyncGenerator<ChainedAuditEvent> {
    requireScope(access, "audit:read");
    const from = query.from ? Date.parse(query.from) : undefined;
    const to = query.to ? Date.parse(query.to) : undefined;
    if (from !== undefined && to !== undefined && from > to) {
      throw new TesseraError("validation_failed", "from must not be after to", {
        fields: [{ field: "query.from", message: "must not be after to" }],
      });
    }
    const filter = {
      orgId: access.org.id,
      action: query.action,
      actorId: query.actorId,
      targetId: query.targetId,
      from,
      to,
    };
    let after = 0;
    for (;;) {
      const rows = await exportPage(this.#store.db, filter, after, PAGE);
      for (const row of rows) yield fromRow(row);
      if (rows.length < PAGE) return;
      after = Number(rows[rows.length - 1]!.seq);
      // better-sqlite3 answers synchronously and a fast reader drains the socket synchronously too: without
      // this, a million-event export ran start to end in microtasks, the event loop never turning (every
      // other request, timer and the pressure guard's probe waited for the whole export, 20-60 s).
      await setImmediate();
    }
  }
}
