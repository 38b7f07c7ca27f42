import { randomBytes } from "node:crypto";
import { setMaxListeners } from "node:events";
import { nextRetryDelay } from "../core/webhook-retry.js";
import { signWebhook } from "../core/webhook-signature.js";
import { insertEvents } from "../store/audit-repository.js";
import type { Store } from "../store/database.js";
import { enqueueMail } from "../store/mail-outbox-repository.js";
import { noticeRecipients } from "../store/notices-repository.js";
import {
  type AttemptOutcome,
  anyDue,
  type ClaimedDelivery,
  claimDue,
  markEndpointActive,
  markEndpointFailing,
  recordAttempt,
  releaseLeases,
} from "../store/webhooks-repository.js";
import { auditEvent } from "./audit.js";
import { DeliveryPacer, type PacerOptions, processSignals } from "./delivery-pacer.js";
import { mailLocale, webhookFailingMail } from "./mailer.js";
import type { WebhookSecretBox } from "./webhook-secrets.js";
import { type SendResult, WebhookSender } from "./webhook-sender.js";

export interface DispatcherOptions {
  box: WebhookSecretBox;
  allowPrivate: boolean;
  /** Longest one delivery attempt may take (`TESSERA_WEBHOOK_TIMEOUT_MS`, default 10 s). */
  timeoutMs: number;
  /** Most deliveries in flight at once on this instance (`TESSERA_WEBHOOK_CONCURRENCY`, default 32). */
  concurrency: number;
  /** How often storage is asked for due deliveries when idle (`TESSERA_WEBHOOK_POLL_MS`, default 250). */
  pollMs: number;
  /** Delays between attempts (core/webhook-retry.ts); past the last, the delivery is given up. */
  retryScheduleMs: readonly number[];
  /**
   * With SMTP: an endpoint marked failing is mailed to the organisation's owners and admins, each in their
   * language, through the mail outbox (queued in the transaction that marks it; `onMailQueued` asks the
   * mail sender for a round).
   */
  mail?: { publicUrl: string; onMailQueued?: () => void } | undefined;
  /**
   * The HTTP server's request counter (Tessera.traffic): while requests arrive and the event loop is busy,
   * deliveries are paced so that a backlog yields to the API (services/delivery-pacer.ts). Without it
   * (CLI, tests that drive no server), deliveries are never paced.
   */
  traffic?: { requests: number } | undefined;
  /** Overrides of the pacer's settings and signals (tests). */
  pacing?: PacerOptions | undefined;
  /** Told of a failed claim or bookkeeping step (the next round retries). Never given payloads or secrets. */
  onError?: ((error: unknown) => void) | undefined;
}

/** One finished attempt waiting to be written. */
interface Outcome {
  d: ClaimedDelivery;
  result: SendResult;
  failures: number;
  outcome: AttemptOutcome;
  done: () => void;
}

const SYSTEM_META = () => ({ ip: null, userAgent: null, traceId: randomBytes(16).toString("hex") });

/**
 * Delivers the outbox (SPEC §10): at least once, in order per target, off the request path. One per
 * instance; several instances share the work through leases (`claimDue`: `FOR UPDATE SKIP LOCKED` on
 * PostgreSQL), and a lease left by a killed instance expires and is claimed again. At most `concurrency`
 * requests in flight, each bounded by `timeoutMs`: a slow or dead endpoint holds a slot, never a request
 * of the API, a database connection, or the event loop.
 */
export class WebhookDispatcher {
  readonly #store: Store;
  readonly #options: DispatcherOptions;
  readonly #sender: WebhookSender;
  /** This instance's lease: rows it claimed carry it until their attempt is recorded. */
  readonly #leaseId = `lease_${randomBytes(12).toString("hex")}`;
  readonly #leaseMs: number;
  readonly #pacer: DeliveryPacer;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #abort = new AbortController();
  readonly #secrets = new Map<string, string>();
  readonly #outcomes: Outcome[] = [];
  #flushTimer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #closed = false;
  /** Attempts made by this instance, for tests and metrics. */
  readonly stats = { attempts: 0, delivered: 0, failed: 0, givenUp: 0 };

  constructor(store: Store, options: DispatcherOptions) {
    this.#store = store;
    this.#options = options;
    this.#sender = new WebhookSender({
      allowPrivate: options.allowPrivate,
      timeoutMs: options.timeoutMs,
      maxSockets: options.concurrency,
    });
    // Every request in flight listens on the one abort signal (up to `concurrency`): not a leak, and
    // Node's warning past 10 would only alarm operators.
    setMaxListeners(options.concurrency + 16, this.#abort.signal);
    // Long enough that a live instance always records its attempt first (timeout plus bookkeeping).
    this.#leaseMs = options.timeoutMs * 2 + 30_000;
    this.#pacer = new DeliveryPacer({
      ...options.pacing,
      signals: options.pacing?.signals ?? processSignals(options.traffic ?? { requests: 0 }),
    });
  }

  /** Deliveries/s this instance currently allows itself (Infinity while unpaced), for tests and metrics. */
  get pacedRate(): number {
    return this.#pacer.rate;
  }

  start(): void {
    if (this.#loop || this.#closed) return;
    this.#loop = this.#run();
  }

  /** Looks for work now (a test send or retry was just queued). */
  kick(): void {
    this.#wake?.();
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      const free = this.#options.concurrency - this.#inFlight.size;
      let claimed = 0;
      let allowed = 0;
      if (free > 0) {
        allowed = this.#pacer.take(free);
        if (allowed > 0) {
          try {
            claimed = await this.#claim(allowed);
          } catch (error) {
            if (!this.#closed) this.#options.onError?.(error);
          }
          this.#pacer.spend(claimed);
        }
      }
      if (this.#closed) break;
      // Paced and out of allowance: claim again once the pacer allows one more (a kick or a finished
      // delivery wakes the loop earlier, and it simply asks the pacer again).
      const paced = free > 0 && allowed === 0;
      // A full batch means more is probably due: go again as soon as a slot frees. Otherwise wait for
      // the poll interval, a kick, or a finished delivery (which may unblock the next of its target).
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(this.#timer);
          this.#wake = undefined;
          resolve();
        };
        this.#wake = wake;
        // Full: the next completion wakes the loop (the timer only guards against a missed wake-up).
        const delay = paced
          ? Math.min(this.#pacer.waitMs(), this.#options.pollMs)
          : claimed > 0 && claimed === free
            ? this.#options.pollMs
            : claimed > 0
              ? 0
              : this.#options.pollMs;
        this.#timer = setTimeout(wake, delay);
        this.#timer.unref();
      });
    }
  }

  async #claim(limit: number): Promise<number> {
    const now = Date.now();
    if (!(await anyDue(this.#store.db, now))) return 0;
    const batch = await this.#store.db
      .transaction()
      .execute((trx) => claimDue(trx, now, limit, this.#leaseId, now + this.#leaseMs));
    for (const delivery of batch) {
      const job: Promise<void> = this.#deliver(delivery)
        .catch((error) => {
          if (!this.#closed) this.#options.onError?.(error);
        })
        .finally(() => {
          this.#inFlight.delete(job);
          this.#wake?.();
        });
      this.#inFlight.add(job);
    }
    return batch.length;
  }

  #secretOf(d: ClaimedDelivery): string {
    let secret = this.#secrets.get(d.secretEnc);
    if (secret === undefined) {
      if (this.#secrets.size > 10_000) this.#secrets.clear();
      secret = this.#options.box.open(d.secretEnc);
      this.#secrets.set(d.secretEnc, secret);
    }
    return secret;
  }

  async #deliver(d: ClaimedDelivery): Promise<void> {
    const headers = signWebhook(this.#secretOf(d), d.eventId, Math.floor(Date.now() / 1000), d.payload);
    const result = await this.#sender.send(d.url, headers, d.payload, this.#abort.signal);
    // Shutting down: the lease is given back in close(), the attempt is not counted.
    if (this.#closed) return;
    this.stats.attempts++;
    const at = Date.now();
    const failures = d.attempts + 1;
    const delay = result.ok ? null : nextRetryDelay(this.#options.retryScheduleMs, failures);
    const state = result.ok ? "delivered" : delay === null ? "failed" : "pending";
    if (result.ok) this.stats.delivered++;
    else this.stats.failed++;
    if (state === "failed") this.stats.givenUp++;
    await this.#record({
      d,
      result,
      failures,
      outcome: {
        at,
        status: result.status,
        durationMs: result.durationMs,
        error: result.error,
        state,
        nextAttemptAt: state === "pending" ? at + delay! : null,
      },
    });
  }

  /**
   * Queues an attempt's outcome for the next write: outcomes are written in batches (one transaction for
   * up to 64, or whatever finished within 5 ms), which keeps the dispatcher's writes from crowding the
   * API's under load. Resolves once written: only then may the next delivery of the same target be claimed.
   */
  #record(item: Omit<Outcome, "done">): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#outcomes.push({ ...item, done: resolve });
      if (this.#outcomes.length >= 64) this.#flush();
      else this.#flushTimer ??= setTimeout(() => this.#flush(), 5);
    });
  }

  #flush(): void {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    const items = this.#outcomes.splice(0);
    if (items.length === 0) return;
    this.#flushing = this.#flushing
      .then(() => this.#write(items))
      .catch((error) => this.#options.onError?.(error))
      .finally(() => {
        for (const item of items) item.done();
      });
  }

  async #write(items: readonly Omit<Outcome, "done">[]): Promise<void> {
    const mail = this.#options.mail;
    let queued = 0;
    await this.#store.db.transaction().execute(async (trx) => {
      for (const { d, result, failures, outcome } of items) {
        if (!(await recordAttempt(trx, d.id, this.#leaseId, outcome))) continue;
        if (result.ok) {
          if (d.endpointFailing) await markEndpointActive(trx, d.endpointId, outcome.at);
        } else if (outcome.state === "failed" && (await markEndpointFailing(trx, d.endpointId, outcome.at))) {
          await insertEvents(trx, [
            auditEvent(
              SYSTEM_META(),
              { type: "system" },
              d.orgId,
              "webhook.failing",
              { type: "webhook", id: d.endpointId, name: d.url },
              { deliveryId: d.id, eventId: d.eventId, attempts: failures, lastStatus: result.status, lastError: result.error },
              outcome.at,
            ),
          ]);
          if (mail) {
            const recipients = await noticeRecipients(trx, { orgId: d.orgId, kind: "service", ownerId: null });
            for (const r of recipients) {
              await enqueueMail(trx, webhookFailingMail(r.email, d.url, `${mail.publicUrl}/`, mailLocale(r.locale)), outcome.at);
              queued++;
            }
          }
        }
      }
    });
    if (queued > 0) mail?.onMailQueued?.();
  }

  /** Stops claiming, aborts requests in flight and gives their leases back, so another instance (or the next start) sends them at once. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    this.#wake?.();
    await this.#loop;
    await Promise.allSettled([...this.#inFlight]);
    this.#flush();
    await this.#flushing;
    this.#sender.close();
    await releaseLeases(this.#store.db, this.#leaseId).catch(() => {});
  }
}
