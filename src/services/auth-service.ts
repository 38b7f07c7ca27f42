import { sql } from "kysely";
import { TesseraError, validationError } from "../core/errors.js";
import { newId } from "../core/ids.js";
import { DEFAULT_ORG_SETTINGS } from "../core/settings.js";
import { insertEvents } from "../store/audit-repository.js";
import type { Store } from "../store/database.js";
import { insertMembership, listMembershipsOfUser, type UserMembership } from "../store/memberships-repository.js";
import { insertOrg, type OrgRecord } from "../store/orgs-repository.js";
import { deleteSession, findSession, touchSession } from "../store/sessions-repository.js";
import { countUsers, findUserByEmail, findUserById, insertUser, type UserRecord } from "../store/users-repository.js";
import type { Actor } from "./actor.js";
import { auditEvent } from "./audit.js";
import { FailureLimiter } from "./failure-limiter.js";
import { burnPasswordCheck, hashPassword, MIN_PASSWORD_LENGTH, verifyPassword } from "./passwords.js";
import type { RequestMeta } from "./request-meta.js";
import { hashSessionId, type NewSession, openSession } from "./sessions.js";

export type { NewSession };

export interface SetupInput {
  email: string;
  password: string;
  name: string;
  organization: { name: string };
}

/** How stale a session's "last seen" may get before a request refreshes it. */
const SESSION_TOUCH_MS = 5 * 60_000;

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

export function checkPassword(password: string, field = "password"): void {
  if (password.length < MIN_PASSWORD_LENGTH) throw validationError(field, `must be at least ${MIN_PASSWORD_LENGTH} characters`);
}

/** Brute-force limits for sign-in (per instance). */
export interface LoginLimits {
  /** Failed attempts per account per window. */
  perAccount: number;
  /** Failed attempts per client address per window. */
  perAddress: number;
  windowMs: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimits = { perAccount: 10, perAddress: 50, windowMs: 15 * 60_000 };

/** Failed bearer authentications per client address per minute before it is told to wait. */
export const DEFAULT_BEARER_FAILURES_PER_MINUTE = 120;

export class AuthService {
  readonly #store: Store;
  readonly #sessionTtlMs: number;
  readonly #byAccount: FailureLimiter;
  readonly #byAddress: FailureLimiter;
  readonly #bearerByAddress: FailureLimiter;

  constructor(
    store: Store,
    sessionTtlMs: number,
    limits: LoginLimits = DEFAULT_LOGIN_LIMITS,
    bearerFailuresPerMinute = DEFAULT_BEARER_FAILURES_PER_MINUTE,
  ) {
    this.#store = store;
    this.#sessionTtlMs = sessionTtlMs;
    this.#byAccount = new FailureLimiter(limits.perAccount, limits.windowMs);
    this.#byAddress = new FailureLimiter(limits.perAddress, limits.windowMs);
    this.#bearerByAddress = new FailureLimiter(bearerFailuresPerMinute, 60_000);
  }

  /** Seconds an address must wait after too many failed bearer authentications (0: go ahead). */
  bearerRetryAfter(ip: string | null): number {
    return this.#bearerByAddress.retryAfter(ip ?? "unknown", Date.now());
  }

  /** Counts a failed bearer authentication; reaching the limit is audited (instance level, once a window). */
  async bearerFailed(meta: RequestMeta, code: string): Promise<void> {
    const now = Date.now();
    if (this.#bearerByAddress.fail(meta.ip ?? "unknown", now)) {
      await insertEvents(this.#store.db, [
        auditEvent(meta, { type: "system" }, null, "auth.bearer_throttled", null, { ip: meta.ip, lastCode: code }, now),
      ]);
    }
  }

  async isSetupRequired(): Promise<boolean> {
    return (await countUsers(this.#store.db)) === 0;
  }

  /** First run only: the first user (an instance admin) and their organisation, in one transaction. */
  async setup(input: SetupInput, meta: RequestMeta): Promise<{ user: UserRecord; organization: OrgRecord; session: NewSession }> {
    checkPassword(input.password);
    const passwordHash = await hashPassword(input.password);
    const now = Date.now();
    const result = await this.#store.db.transaction().execute(async (trx) => {
      // Two concurrent first runs must not both succeed.
      if (this.#store.dialect === "postgres") await sql`lock table users in share row exclusive mode`.execute(trx);
      if ((await countUsers(trx)) > 0) throw new TesseraError("invalid_state", "Tessera is already set up; sign in instead");
      const user: UserRecord = {
        id: newId("user"),
        email: normalizeEmail(input.email),
        name: input.name.trim(),
        instanceAdmin: true,
        disabledAt: null,
        createdAt: now,
      };
      const organization: OrgRecord = {
        id: newId("organization"),
        name: input.organization.name.trim(),
        settings: { ...DEFAULT_ORG_SETTINGS },
        createdAt: now,
        updatedAt: now,
      };
      await insertUser(trx, { ...user, passwordHash });
      await insertOrg(trx, organization);
      await insertMembership(trx, organization.id, user.id, "owner", now);
      const actor: Actor = { type: "user", user };
      const target = { type: "organization", id: organization.id, name: organization.name };
      await insertEvents(trx, [
        auditEvent(meta, actor, organization.id, "instance.setup", target, {}, now),
        auditEvent(meta, actor, organization.id, "org.created", target, {}, now),
        auditEvent(
          meta,
          actor,
          organization.id,
          "member.added",
          { type: "user", id: user.id, name: user.name },
          { role: "owner" },
          now,
        ),
      ]);
      const session = await this.#createSession(trx, user.id, now, meta);
      return { user, organization, session };
    });
    return result;
  }

  /**
   * Checks a password. Unknown accounts cost the same scrypt work as known ones. Every attempt is
   * audited, in each organisation of the account (failed attempts on unknown emails at instance level).
   */
  async login(
    email: string,
    password: string,
    meta: RequestMeta,
  ): Promise<{ user: UserRecord; memberships: UserMembership[]; session: NewSession }> {
    const db = this.#store.db;
    const accountKey = normalizeEmail(email);
    const addressKey = meta.ip ?? "unknown";
    const wait = Math.max(this.#byAccount.retryAfter(accountKey, Date.now()), this.#byAddress.retryAfter(addressKey, Date.now()));
    if (wait > 0) {
      throw new TesseraError("rate_limited", "Too many failed sign-in attempts; try again later", { retryAfterSeconds: wait });
    }
    // No account has a NUL in its email, and PostgreSQL cannot even compare one: a plain failed attempt.
    const found = email.includes("\u0000") ? undefined : await findUserByEmail(db, accountKey);
    let ok = false;
    if (found) ok = await verifyPassword(password, found.passwordHash);
    else await burnPasswordCheck(password);
    if (found && found.disabledAt !== null) ok = false;
    const now = Date.now();
    let throttled = false;
    if (ok) {
      this.#byAccount.reset(accountKey);
    } else {
      // Reaching a limit is audited once, as its own event, beside the failed attempt itself.
      throttled = this.#byAccount.fail(accountKey, now);
      throttled = this.#byAddress.fail(addressKey, now) || throttled;
    }
    return db
      .transaction()
      .execute(async (trx) => {
        const memberships = found ? await listMembershipsOfUser(trx, found.id) : [];
        const actor: Actor = found ? { type: "user", user: found } : { type: "system" };
        const target = found ? { type: "user", id: found.id, name: found.name } : null;
        const action = ok ? "auth.login" : "auth.login_failed";
        const details = ok
          ? {}
          : { email: normalizeEmail(email).slice(0, 320), reason: found ? "bad_credentials" : "unknown_account" };
        const orgIds = memberships.length > 0 ? memberships.map((m) => m.orgId) : [null];
        const events = orgIds.map((orgId) => auditEvent(meta, actor, orgId, action, target, details, now));
        if (throttled) {
          const limitDetails = { email: details.email, ip: meta.ip };
          events.push(
            ...orgIds.map((orgId) => auditEvent(meta, actor, orgId, "auth.login_throttled", target, limitDetails, now)),
          );
        }
        await insertEvents(trx, events);
        if (!ok || !found) return null;
        const { passwordHash: _omit, ...user } = found;
        return { user, memberships, session: await this.#createSession(trx, found.id, now, meta) };
      })
      .then((r) => {
        if (!r) throw new TesseraError("unauthorized", "Email or password is incorrect");
        return r;
      });
  }

  async logout(cookie: string): Promise<void> {
    await deleteSession(this.#store.db, hashSessionId(cookie));
  }

  /** The user behind a session cookie, with the session's CSRF token; undefined when invalid or expired. */
  async resolveSession(cookie: string): Promise<{ user: UserRecord; csrfToken: string; sessionId: string } | undefined> {
    if (cookie.length > 200) return undefined;
    const session = await findSession(this.#store.db, hashSessionId(cookie));
    const now = Date.now();
    if (!session || session.expiresAt <= now) return undefined;
    const user = await findUserById(this.#store.db, session.userId);
    if (!user || user.disabledAt !== null) return undefined;
    // "Last seen" for the session list, written at most once per SESSION_TOUCH_MS: not a write per request.
    if ((session.lastSeenAt ?? 0) + SESSION_TOUCH_MS <= now) await touchSession(this.#store.db, session.idHash, now);
    return { user, csrfToken: session.csrfToken, sessionId: session.publicId };
  }

  async memberships(userId: string): Promise<UserMembership[]> {
    return listMembershipsOfUser(this.#store.db, userId);
  }

  async #createSession(
    db: Parameters<typeof openSession>[0],
    userId: string,
    now: number,
    meta: RequestMeta,
  ): Promise<NewSession> {
    return openSession(db, userId, this.#sessionTtlMs, now, meta);
  }
}
