import { maskToken } from "../core/token-format.js";
import type { TokenRecord } from "../core/tokens.js";
import type { Db, Store } from "../store/database.js";
import { enqueueMail, leaseDueMail, markMailFailed, markMailSent } from "../store/mail-outbox-repository.js";
import { noticeRecipients } from "../store/notices-repository.js";
import { type Mailer, mailLocale, type NoticeMailInput, noticeMail } from "./mailer.js";
import { Periodic } from "./periodic.js";

/** How long an instance holds a mail it is sending before another may take it. */
const LEASE_MS = 5 * 60_000;
/** Mails taken per round. */
const BATCH = 20;
/** Attempts before a mail is given up (backoff 30 s doubling, at most an hour: about 14 hours in all). */
export const MAX_MAIL_ATTEMPTS = 20;
const NEVER = 9_007_199_254_740_991;

/**
 * Queues a token notice (SPEC §10, §11) for every recipient, in the caller's transaction: the personal
 * token's owner, or the organisation's owners and admins for a service token; each in their own language.
 * Without SMTP nothing is queued (notices then go to webhooks only).
 */
export async function queueNoticeMail(
  trx: Db,
  options: { mail: boolean; publicUrl: string },
  token: TokenRecord,
  notice: Omit<NoticeMailInput, "tokenName" | "maskedToken" | "link">,
  now: number,
): Promise<number> {
  if (!options.mail) return 0;
  const recipients = await noticeRecipients(trx, token);
  const input: NoticeMailInput = {
    ...notice,
    tokenName: token.name,
    maskedToken: maskToken(token.prefix, token.last4),
    link: `${options.publicUrl}/`,
  };
  for (const r of recipients) await enqueueMail(trx, noticeMail(r.email, input, mailLocale(r.locale)), now);
  return recipients.length;
}

export interface MailSenderOptions {
  /** Time between rounds when nothing is due. */
  intervalMs: number;
  now?: (() => number) | undefined;
  onError?: ((error: unknown) => void) | undefined;
}

/**
 * Sends the mail outbox: each round leases due mails (one instance per mail on PostgreSQL), sends them,
 * and marks each sent or due again after a backoff. At least once: a crash between SMTP's acceptance and
 * the mark sends that one mail again after its lease.
 */
export class MailSender {
  readonly #store: Store;
  readonly #mailer: Mailer;
  readonly #options: MailSenderOptions;
  readonly #loop: Periodic<number>;

  constructor(store: Store, mailer: Mailer, options: MailSenderOptions) {
    this.#store = store;
    this.#mailer = mailer;
    this.#options = options;
    this.#loop = new Periodic(() => this.#drain(), { intervalMs: options.intervalMs, firstDelayMs: 0, onError: options.onError });
  }

  start(): void {
    this.#loop.start();
  }

  /** Asks for a round soon (after a commit that queued mail). */
  poke(): void {
    this.#loop.poke();
  }

  /** Sends every mail due now; resolves with how many were sent. Joins a round in progress. */
  drain(): Promise<number> {
    return this.#loop.run();
  }

  close(): Promise<void> {
    return this.#loop.close();
  }

  async #drain(): Promise<number> {
    const now = this.#options.now ?? Date.now;
    let sent = 0;
    while (!this.#loop.closed) {
      const batch = await this.#store.db
        .transaction()
        .execute((trx) => leaseDueMail(trx, this.#store.dialect, now(), LEASE_MS, BATCH));
      for (const mail of batch) {
        try {
          await this.#mailer.send({ to: mail.to, subject: mail.subject, text: mail.text, html: mail.html });
          await markMailSent(this.#store.db, mail.id, now());
          sent++;
        } catch (error) {
          const backoff = Math.min(30_000 * 2 ** (mail.attempts - 1), 3_600_000);
          const retryAt = mail.attempts >= MAX_MAIL_ATTEMPTS ? NEVER : now() + backoff;
          await markMailFailed(this.#store.db, mail.id, retryAt, error instanceof Error ? error.message : String(error));
        }
      }
      if (batch.length < BATCH) break;
    }
    return sent;
  }
}
