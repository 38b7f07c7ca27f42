import type { Db, Store } from "../store/database.js";
import { deleteStaleEmbedSessions } from "../store/embed-repository.js";
import {
  deleteAuditEvents,
  deleteExpiredSessionsChunk,
  deleteTokenRequestsBeforeChunk,
  deleteTokenRequestsBeyondChunk,
  deleteUsageBeforeChunk,
  oldAuditEventIds,
  orgsWithAuditRetention,
  tokensOverRequestCap,
  tryRetentionLock,
} from "../store/retention-repository.js";

const DAY_MS = 86_400_000;

/** Rows per delete statement: short enough that requests waiting on the same writer barely notice. */
const CHUNK = 1_000;
/** Organisations read per page while looking for audit retention settings. */
const ORG_PAGE = 500;
/** The first sweep comes soon after start (an instance restarted more often than hourly still prunes). */
const FIRST_SWEEP_MAX_MS = 60_000;
/** A token's request history (SPEC §4): 30 days, and at most the last 10,000 requests. */
export const REQUEST_HISTORY_DAYS = 30;
export const REQUEST_HISTORY_MAX = 10_000;

export interface RetentionOptions {
  /** Time between sweeps. */
  intervalMs: number;
  /** Hourly usage buckets older than this are deleted. */
  usageRetentionDays: number;
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
  /** Rows of tokens' request histories (older than 30 days, or beyond a token's last 10,000). */
  tokenRequests: number;
  /** Embed sessions (SPEC §9) whose handoff and bearer have both expired. */
  embedSessions: number;
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
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<SweepResult> | undefined;
  #closed = false;
  /** The last completed sweep, for tests and diagnostics. */
  lastSweep: SweepResult | undefined;

  constructor(store: Store, options: RetentionOptions) {
    this.#store = store;
    this.#options = options;
  }

  start(): void {
    if (this.#closed || this.#timer) return;
    this.#schedule(Math.min(this.#options.intervalMs, FIRST_SWEEP_MAX_MS));
  }

  #schedule(delayMs: number): void {
    this.#timer = setTimeout(() => {
      this.sweep()
        .catch((error) => this.#options.onError?.(error))
        .finally(() => {
          if (!this.#closed) this.#schedule(this.#options.intervalMs);
        });
    }, delayMs);
    // Never what keeps the process alive.
    this.#timer.unref();
  }

  /** One sweep now (or joins the one in progress). `now` is injectable for tests. */
  sweep(now: number = Date.now()): Promise<SweepResult> {
    if (!this.#running) {
      this.#running = this.#sweep(now).finally(() => {
        this.#running = undefined;
      });
    }
    return this.#running;
  }

  /** Stops the timer and waits for a sweep in progress to finish its current chunk. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#running?.catch(() => {});
  }

  async #sweep(now: number): Promise<SweepResult> {
    const result: SweepResult = {
      at: now,
      sessions: 0,
      usageBuckets: 0,
      tokenRequests: 0,
      embedSessions: 0,
      instanceAuditEvents: 0,
      orgAuditEvents: 0,
      skipped: false,
    };
    const { usageRetentionDays, instanceAuditRetentionDays } = this.#options;
    const steps: [keyof SweepResult, (trx: Db) => Promise<number>][] = [
      ["sessions", (trx) => deleteExpiredSessionsChunk(trx, now, CHUNK)],
      ["usageBuckets", (trx) => deleteUsageBeforeChunk(trx, now - usageRetentionDays * DAY_MS, CHUNK)],
      ["tokenRequests", (trx) => deleteTokenRequestsBeforeChunk(trx, now - REQUEST_HISTORY_DAYS * DAY_MS, CHUNK)],
      ["embedSessions", (trx) => deleteStaleEmbedSessions(trx, now, CHUNK)],
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
    while (!this.#closed) {
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
   * Null when another instance holds the sweep. Yields to the event loop between chunks.
   */
  async #drain(step: (trx: Db) => Promise<number>): Promise<number | null> {
    let total = 0;
    while (!this.#closed) {
      const removed = await this.#store.db.transaction().execute(async (trx) => {
        if (!(await tryRetentionLock(trx, this.#store.dialect))) return null;
        return step(trx);
      });
      if (removed === null) return null;
      total += removed;
      if (removed < CHUNK) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    return total;
  }
}
