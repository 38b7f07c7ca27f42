import type { Db, Store } from "../store/database.js";
import { deleteStaleEmbedSessions } from "../store/embed-repository.js";
import { deleteSentMailBefore } from "../store/mail-outbox-repository.js";
import {
  deleteAuditEvents,
  deleteExpiredSessionsChunk,
  deleteTokenRequestsBeforeChunk,
  deleteTokenRequestsBeyondChunk,
  deleteUsageBeforeChunk,
  oldAuditEventIds,
  orgsWithAuditRetention,
  type RequestsRemoved,
  tokensOverRequestCap,
  tryRetentionLock,
} from "../store/retention-repository.js";
import { deleteFinishedDeliveriesChunk } from "../store/webhooks-repository.js";
import { Periodic } from "./periodic.js";

const DAY_MS = 86_400_000;

/** What a chunked delete removed: rows, or history batch rows with the requests they held. */
type Removed = number | RequestsRemoved;

/** Rows per delete statement: short enough that requests waiting on the same writer barely notice. */
const CHUNK = 1_000;
/** Organisations read per page while looking for audit retention settings. */
const ORG_PAGE = 500;
/** The first sweep comes soon after start (an instance restarted more often than hourly still prunes). */
const FIRST_SWEEP_MAX_MS = 60_000;
/** A token's request history (SPEC §4): 30 days, and at most the last 10,000 requests. */
export const REQUEST_HISTORY_DAYS = 30;
export const REQUEST_HISTORY_MAX = 10_000;
/** Sent mail is kept this long in the outbox (what was sent to whom, for support), then deleted. */
export const SENT_MAIL_DAYS = 30;

export interface RetentionOptions {
  /** Time between sweeps. */
  intervalMs: number;
  /** Hourly usage buckets older than this are deleted. */
  usageRetentionDays: number;
  /** Delivered and given-up webhook deliveries older than this are deleted (default 30). */
  webhookRetentionDays?: number | undefined;
  /** Instance-level audit events (no organisation) older than this are deleted. */
  instanceAuditRetentionDays: number;
  /**
   * Seam for the audit hash chain: called inside the transaction that deletes a chunk of audit events,
   * before the delete, with the ids about to go (oldest first). The chain's signed checkpoint is written
   * here (`AuditChainService.beforeAuditPrune`) so the pruned prefix stays verifiable. Throwing aborts
   * that chunk (nothing is deleted).
   */
  beforeAuditPrune?: ((trx: Db, orgId: string | null, ids: readonly string[]) => Promise<void>) | undefined;
  /** Told of a failed sweep (the next one retries). Never given row contents. */
  onError?: ((error: unknown) => void) | undefined;
}

/** What one sweep removed. `skipped`: another instance held the sweep (PostgreSQL), nothing was done. */
export interface SweepResult {
  at: number;
  sessions: number;
  usageBuckets: number;
  /**
   * Requests removed from tokens' histories (batches whose newest request is older than 30 days, and
   * requests beyond a token's last 10,000).
   */
  tokenRequests: number;
  /** Embed sessions (SPEC §9) whose handoff and bearer have both expired. */
  embedSessions: number;
  /** Outbox mail sent more than `SENT_MAIL_DAYS` ago. */
  sentMail: number;
  /** Finished webhook deliveries (delivered or given up) past their retention. */
  webhookDeliveries: number;
  instanceAuditEvents: number;
  orgAuditEvents: number;
  skipped: boolean;
}

/**
 * The background retention job, one per instance. Safe on several instances sharing one database: on
 * PostgreSQL every chunk runs in a transaction holding a transaction-scoped advisory lock, and a sweep
 * that finds it taken stops (the other instance is sweeping); on SQLite writes are serial anyway. Every
 * delete is bounded (`CHUNK` rows) and idempotent, so an interrupted sweep simply continues next time.
 */
export class RetentionJob {
  readonly #store: Store;
  readonly #options: RetentionOptions;
  readonly #loop: Periodic<SweepResult>;
  /** The last completed sweep, for tests and diagnostics. */
  lastSweep: SweepResult | undefined;

  constructor(store: Store, options: RetentionOptions) {
    this.#store = store;
    this.#options = options;
    this.#loop = new Periodic(() => this.#sweep(Date.now()), {
      intervalMs: options.intervalMs,
      firstDelayMs: Math.min(options.intervalMs, FIRST_SWEEP_MAX_MS),
      onError: options.onError,
    });
  }

  start(): void {
    this.#loop.start();
  }

  /** One sweep now (or joins the one in progress). `now` is injectable for tests. */
  sweep(now: number = Date.now()): Promise<SweepResult> {
    return this.#loop.run(() => this.#sweep(now));
  }

  /** Stops the timer and waits for a sweep in progress to finish its current chunk. */
  close(): Promise<void> {
    return this.#loop.close();
  }

  async #sweep(now: number): Promise<SweepResult> {
    const result: SweepResult = {
      at: now,
      sessions: 0,
      usageBuckets: 0,
      tokenRequests: 0,
      embedSessions: 0,
      sentMail: 0,
      webhookDeliveries: 0,
      instanceAuditEvents: 0,
      orgAuditEvents: 0,
      skipped: false,
    };
    const { usageRetentionDays, instanceAuditRetentionDays } = this.#options;
    const steps: [keyof SweepResult, (trx: Db) => Promise<Removed>][] = [
      ["sessions", (trx) => deleteExpiredSessionsChunk(trx, now, CHUNK)],
      ["usageBuckets", (trx) => deleteUsageBeforeChunk(trx, now - usageRetentionDays * DAY_MS, CHUNK)],
      ["tokenRequests", (trx) => deleteTokenRequestsBeforeChunk(trx, now - REQUEST_HISTORY_DAYS * DAY_MS, CHUNK)],
      ["embedSessions", (trx) => deleteStaleEmbedSessions(trx, now, CHUNK)],
      ["sentMail", (trx) => deleteSentMailBefore(trx, now - SENT_MAIL_DAYS * DAY_MS, CHUNK)],
      [
        "webhookDeliveries",
        (trx) => deleteFinishedDeliveriesChunk(trx, now - (this.#options.webhookRetentionDays ?? 30) * DAY_MS, CHUNK),
      ],
      ["instanceAuditEvents", (trx) => this.#pruneAudit(trx, null, now - instanceAuditRetentionDays * DAY_MS)],
    ];
    for (const [key, step] of steps) {
      const removed = await this.#drain(step);
      if (removed === null) return { ...result, skipped: true };
      (result[key] as number) += removed;
    }
    for (const tokenId of await tokensOverRequestCap(this.#store.db, REQUEST_HISTORY_MAX)) {
      const removed = await this.#drain((trx) => deleteTokenRequestsBeyondChunk(trx, tokenId, REQUEST_HISTORY_MAX, CHUNK));
      if (removed === null) return { ...result, skipped: true };
      result.tokenRequests += removed;
    }
    let afterId = "";
    while (!this.#loop.closed) {
      const { page, lastId } = await orgsWithAuditRetention(this.#store.db, afterId, ORG_PAGE);
      for (const org of page) {
        const removed = await this.#drain((trx) => this.#pruneAudit(trx, org.id, now - org.auditRetentionDays * DAY_MS));
        if (removed === null) return { ...result, skipped: true };
        result.orgAuditEvents += removed;
      }
      if (lastId === null) break;
      afterId = lastId;
    }
    this.lastSweep = result;
    return result;
  }

  async #pruneAudit(trx: Db, orgId: string | null, before: number): Promise<number> {
    const ids = await oldAuditEventIds(trx, orgId, before, CHUNK);
    if (ids.length === 0) return 0;
    await this.#options.beforeAuditPrune?.(trx, orgId, ids);
    return deleteAuditEvents(trx, ids);
  }

  /**
   * Repeats one chunked delete, each in its own short transaction, until a chunk comes back short.
   * Null when another instance holds the sweep. Yields to the event loop between chunks. A step answers
   * the rows it deleted, or (request history) the batch rows and the requests in them, which are counted.
   */
  async #drain(step: (trx: Db) => Promise<Removed>): Promise<number | null> {
    let total = 0;
    while (!this.#loop.closed) {
      const removed = await this.#store.db.transaction().execute(async (trx) => {
        if (!(await tryRetentionLock(trx, this.#store.dialect))) return null;
        return step(trx);
      });
      if (removed === null) return null;
      const rows = typeof removed === "number" ? removed : removed.rows;
      total += typeof removed === "number" ? removed : removed.requests;
      if (rows < CHUNK) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    return total;
  }
}
