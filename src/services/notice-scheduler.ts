import { TesseraError } from "../core/errors.js";
import type { TokenRecord } from "../core/tokens.js";
import type { Db, Store } from "../store/database.js";
import { claimNotice, type NoticeKind, tokensExpiringIn, tokensUnusedSince } from "../store/notices-repository.js";
import { listOrgsPage, type OrgRecord } from "../store/orgs-repository.js";
import { type OrgAccess, resolveOrgAccess } from "./actor.js";
import { auditEvent } from "./audit.js";
import { queueNoticeMail } from "./mail-outbox.js";
import { Periodic } from "./periodic.js";
import { type RequestMeta, traceIdFrom } from "./request-meta.js";
import { type TokenChange, type TokenService, targetOf, transitionStep } from "./token-service.js";

const DAY_MS = 86_400_000;
/** Tokens read per query: one page of candidates, each then handled in its own short transaction. */
const PAGE = 200;
const ORG_PAGE = 200;
/**
 * `token.expired` is sent for tokens that expired at most this long ago: an instance that was down for a
 * while still tells, but a first start on an old database does not announce every expiry of past years.
 */
export const EXPIRED_LOOKBACK_DAYS = 30;
/** The first run comes soon after start. */
const FIRST_RUN_MAX_MS = 30_000;

export interface NoticeSchedulerOptions {
  /** Time between runs. */
  intervalMs: number;
  /** Whether SMTP is configured: notices are then also mailed (queued in the notice's transaction). */
  mail: boolean;
  /** The console's base URL, for the link in mail. */
  publicUrl: string;
  /** Told after a run that queued mail (the mail loop sends it now rather than at its next round). */
  onMailQueued?: (() => void) | undefined;
  onError?: ((error: unknown) => void) | undefined;
  /** Candidates read per query (default 200); small in tests, to cross page boundaries. */
  pageSize?: number | undefined;
}

/** What one run wrote. */
export interface NoticeRunResult {
  expiring: number;
  expired: number;
  stale: number;
  deactivated: number;
  mails: number;
  /** Tokens whose notice failed (the next run tries again: nothing of theirs was written). */
  failed: number;
}

type Candidate = { token: TokenRecord; key: number };

/**
 * The scheduled notices of SPEC §10: `token.expiring` per `expiryNoticeDays` value, `token.expired`,
 * `token.stale` (`staleAfterDays`) and the `autoDeactivateUnusedDays` policy (a system deactivation).
 *
 * Exactly once per token, kind and threshold, also across restarts and instances: each notice is one
 * transaction that locks the token (as every change does), claims its `token_notices` row (insert, on
 * conflict nothing) and, only when the claim is its own, writes the audit event (which the outbox turns
 * into webhooks) and the mail. Each organisation's candidates are index ranges (`tokens_org_expires_idx`,
 * `tokens_org_last_used_idx`) read a page at a time, without the tokens already told.
 */
export class NoticeScheduler {
  readonly #store: Store;
  readonly #tokens: TokenService;
  readonly #options: NoticeSchedulerOptions;
  readonly #loop: Periodic<NoticeRunResult>;
  readonly #page: number;
  lastRun: NoticeRunResult | undefined;

  constructor(store: Store, tokens: TokenService, options: NoticeSchedulerOptions) {
    this.#store = store;
    this.#tokens = tokens;
    this.#options = options;
    this.#page = options.pageSize ?? PAGE;
    this.#loop = new Periodic(() => this.#run(Date.now()), {
      intervalMs: options.intervalMs,
      firstDelayMs: Math.min(options.intervalMs, FIRST_RUN_MAX_MS),
      onError: options.onError,
    });
  }

  start(): void {
    this.#loop.start();
  }

  /** One run now (or joins the one in progress). `now` is injectable for tests: thresholds are counted from it. */
  run(now: number = Date.now()): Promise<NoticeRunResult> {
    return this.#loop.run(() => this.#run(now));
  }

  close(): Promise<void> {
    return this.#loop.close();
  }

  async #run(now: number): Promise<NoticeRunResult> {
    const result: NoticeRunResult = { expiring: 0, expired: 0, stale: 0, deactivated: 0, mails: 0, failed: 0 };
    let after: string | undefined;
    while (!this.#loop.closed) {
      const orgs = await listOrgsPage(this.#store.db, { after, limit: ORG_PAGE });
      for (const org of orgs) {
        if (this.#loop.closed) break;
        await this.#org(org, now, result);
      }
      if (orgs.length < ORG_PAGE) break;
      after = orgs[orgs.length - 1]!.id;
    }
    this.lastRun = result;
    if (result.mails > 0) this.#options.onMailQueued?.();
    return result;
  }

  async #org(org: OrgRecord, now: number, result: NoticeRunResult): Promise<void> {
    const access = await resolveOrgAccess(this.#store.db, { type: "system" }, org.id);
    const { expiryNoticeDays, staleAfterDays, autoDeactivateUnusedDays } = access.org.settings;
    const meta: RequestMeta = { ip: null, userAgent: null, traceId: traceIdFrom(undefined) };
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

    // Disjoint windows, largest first: (now + next smaller threshold, now + d]. A token created inside the
    // 1-day window gets the 1-day notice only, never a late "7 days" one.
    const thresholds = [...expiryNoticeDays].sort((a, b) => b - a);
    for (const [i, days] of thresholds.entries()) {
      const lower = thresholds[i + 1] ?? 0;
      await this.#each(
        access,
        "expiring",
        days,
        (after) =>
          tokensExpiringIn(this.#store.db, {
            orgId: org.id,
            kind: "expiring",
            threshold: days,
            from: now + lower * DAY_MS,
            to: now + days * DAY_MS,
            after,
            limit: this.#page,
          }),
        (token) => token.expiresAt !== null && token.expiresAt > now,
        async (token, at, trx) => {
          const details = { daysBefore: days, expiresAt: iso(token.expiresAt) };
          result.mails += await queueNoticeMail(
            trx,
            this.#options,
            token,
            { kind: "expiring", days, expiresAt: iso(token.expiresAt) },
            at,
          );
          return {
            patch: null,
            events: [auditEvent(meta, access.actor, org.id, "token.expiring", targetOf(token), details, at)],
          };
        },
        result,
      );
    }

    await this.#each(
      access,
      "expired",
      0,
      (after) =>
        tokensExpiringIn(this.#store.db, {
          orgId: org.id,
          kind: "expired",
          threshold: 0,
          from: now - EXPIRED_LOOKBACK_DAYS * DAY_MS,
          to: now,
          after,
          limit: this.#page,
        }),
      (token) => token.expiresAt !== null && token.expiresAt <= now,
      async (token, at, trx) => {
        result.mails += await queueNoticeMail(
          trx,
          this.#options,
          token,
          { kind: "expired", expiresAt: iso(token.expiresAt) },
          at,
        );
        return {
          patch: null,
          events: [
            auditEvent(meta, access.actor, org.id, "token.expired", targetOf(token), { expiresAt: iso(token.expiresAt) }, at),
          ],
        };
      },
      result,
    );

    if (staleAfterDays !== null) {
      const before = now - staleAfterDays * DAY_MS;
      await this.#each(
        access,
        "stale",
        staleAfterDays,
        (after) =>
          tokensUnusedSince(this.#store.db, {
            orgId: org.id,
            kind: "stale",
            threshold: staleAfterDays,
            before,
            now,
            activeOnly: false,
            after,
            limit: this.#page,
          }),
        (token) => (token.lastUsedAt ?? 0) <= before,
        async (token, at, trx) => {
          result.mails += await queueNoticeMail(trx, this.#options, token, { kind: "stale", days: staleAfterDays }, at);
          const details = { staleAfterDays, lastUsedAt: iso(token.lastUsedAt) };
          return { patch: null, events: [auditEvent(meta, access.actor, org.id, "token.stale", targetOf(token), details, at)] };
        },
        result,
      );
    }

    if (autoDeactivateUnusedDays !== null) {
      const before = now - autoDeactivateUnusedDays * DAY_MS;
      await this.#each(
        access,
        "deactivated",
        autoDeactivateUnusedDays,
        (after) =>
          tokensUnusedSince(this.#store.db, {
            orgId: org.id,
            kind: "deactivated",
            threshold: autoDeactivateUnusedDays,
            before,
            now,
            activeOnly: true,
            after,
            limit: this.#page,
          }),
        (token) => (token.lastUsedAt ?? 0) <= before && token.deactivatedAt === null && token.suspendedAt === null,
        async (token, at, trx) => {
          // The same policy and transition as a person's deactivation; the system is the actor.
          const change = transitionStep(access, token, "deactivate", null, meta, at, {
            reason: "unused",
            unusedDays: autoDeactivateUnusedDays,
            lastUsedAt: iso(token.lastUsedAt),
          });
          result.mails += await queueNoticeMail(
            trx,
            this.#options,
            token,
            { kind: "deactivated", days: autoDeactivateUnusedDays },
            at,
          );
          return change;
        },
        result,
      );
    }
  }

  /**
   * Pages through candidates; each one is its own transaction through the token service: the row is
   * locked and re-checked (`still`), the notice claimed, then `write` adds the event (and mail, and the
   * transition). A claim already taken writes nothing.
   */
  async #each(
    access: OrgAccess,
    kind: NoticeKind,
    threshold: number,
    page: (after: { key: number; id: string } | undefined) => Promise<Candidate[]>,
    still: (token: TokenRecord) => boolean,
    write: (token: TokenRecord, at: number, trx: Db) => Promise<TokenChange>,
    result: NoticeRunResult,
  ): Promise<void> {
    let after: { key: number; id: string } | undefined;
    while (!this.#loop.closed) {
      const candidates = await page(after);
      for (const { token } of candidates) {
        try {
          const written = await this.#tokens.systemChange(access, token.id, async (locked, at, trx) => {
            if (locked.revokedAt !== null || !still(locked)) return null;
            if (!(await claimNotice(trx, locked.id, kind, threshold, at))) return null;
            return write(locked, at, trx);
          });
          if (written) result[kind]++;
        } catch (error) {
          // A token changed under us (e.g. suspended meanwhile): nothing of it was written; next run.
          if (!(error instanceof TesseraError)) this.#options.onError?.(error);
          result.failed++;
        }
      }
      const last = candidates[candidates.length - 1];
      if (candidates.length < this.#page || !last) break;
      after = { key: last.key, id: last.token.id };
    }
  }
}
