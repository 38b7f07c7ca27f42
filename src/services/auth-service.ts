import { sql } from "kysely";
import { TesseraError, validationError } from "../core/errors.js";
import { newId } from "../core/ids.js";
import { forbiddenNameCharacter } from "../core/names.js";
import { DEFAULT_ORG_SETTINGS } from "../core/settings.js";
import { insertEvents } from "../store/audit-repository.js";
import type { Store } from "../store/database.js";
import { insertMembership, listMembershipsOfUser, type UserMembership } from "../store/memberships-repository.js";
import { insertOrg, type OrgRecord } from "../store/orgs-repository.js";
import { deleteSession, findSession, touchSession } from "../store/sessions-repository.js";
import {
  countUsers,
  findUserByEmail,
  findUserById,
  insertUser,
  type UserRecord,
  upgradePasswordHash,
} from "../store/users-repository.js";
import type { Actor } from "./actor.js";
import { auditEvent } from "./audit.js";
import { BackoffLimiter, FailureLimiter } from "./failure-limiter.js";
import { burnPasswordCheck, hashPassword, MIN_PASSWORD_LENGTH, needsRehash, verifyPassword } from "./passwords.js";
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

/**
 * Brute-force limits for sign-in (per instance). Nothing locks an account for everybody (issue 9
 * finding 7): failures slow down the account *from the address they came from*, so a guesser cannot
 * keep the owner out, and each address has its own budget across accounts.
 */
export interface LoginLimits {
  /**
   * Failed sign-ins to one account from one address before each further attempt from that address
   * must wait: 1 s, doubling per failure, at most 15 minutes (`TESSERA_LOGIN_FAILURES_PER_ACCOUNT`).
   */
  perAccountAndAddress: number;
  /** Failed sign-ins per client address per window, whatever the accounts (`TESSERA_LOGIN_FAILURES_PER_ADDRESS`). */
  perAddress: number;
  windowMs: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimits = { perAccountAndAddress: 5, perAddress: 50, windowMs: 15 * 60_000 };

/** The progressive delay after the free failures: 1 s, doubling, capped at 15 minutes. */
export const LOGIN_BACKOFF = { baseDelayMs: 1000, maxDelayMs: 15 * 60_000 };

/** A pair (account, address) with no failure for its current wait plus this long starts again from zero. */
export const LOGIN_BACKOFF_FORGET_MS = 60 * 60_000;

/** Failed bearer authentications per client address per minute before it is told to wait. */
export const DEFAULT_BEARER_FAILURES_PER_MINUTE = 120;

/** The one refusal of every password operation under `TESSERA_OIDC_ONLY=true`. */
export function passwordsDisabled(): TesseraError {
  return new TesseraError(
    "passwords_disabled",
    "Passwords are turned off on this instance (TESSERA_OIDC_ONLY): sign in with the identity provider",
  );
}

/** The CLI reaches setup without the HTTP schema: the same rule for names (src/core/names.ts). */
function checkName(name: string, field: string): void {
  const bad = forbiddenNameCharacter(name);
  if (bad) throw validationError(field, `must not contain control, bidirectional-override or zero-width characters (${bad})`);
}

export class AuthService {
  readonly #store: Store;
  readonly #sessionTtlMs: number;
  readonly #byAccountAndAddress: BackoffLimiter;
  readonly #byAddress: FailureLimiter;
  readonly #bearerByAddress: FailureLimiter;
  readonly #passwords: boolean;

  /** `passwords` false (`TESSERA_OIDC_ONLY=true`): password sign-in is refused with `passwords_disabled`. */
  constructor(
    store: Store,
    sessionTtlMs: number,
    limits: LoginLimits = DEFAULT_LOGIN_LIMITS,
    bearerFailuresPerMinute = DEFAULT_BEARER_FAILURES_PER_MINUTE,
    passwords = true,
  ) {
    this.#store = store;
    this.#passwords = passwords;
    this.#sessionTtlMs = sessionTtlMs;
    this.#byAccountAndAddress = new BackoffLimiter({
      freeFailures: limits.perAccountAndAddress,
      ...LOGIN_BACKOFF,
      forgetAfterMs: LOGIN_BACKOFF_FORGET_MS,
    });
    this.#byAddress = new FailureLimiter(limits.perAddress, limits.windowMs);
    this.#bearerByAddress = new FailureLimiter(bearerFailuresPerMinute, 60_000);
  }

  /** Keys each in-memory limiter holds now (each is bounded; see DEFAULT_LIMITER_ENTRIES). */
  get limiterSizes(): { loginByAccountAndAddress: number; loginByAddress: number; bearerByAddress: number } {
    return {
      loginByAccountAndAddress: this.#byAccountAndAddress.size,
      loginByAddress: this.#byAddress.size,
      bearerByAddress: this.#bearerByAddress.size,
    };
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
    checkName(input.name, "name");
    checkName(input.organization.name, "organization.name");
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
   * Checks a password. Unknown accounts cost the same argon2 work as known ones. Every attempt is one
   * audit event at instance level (orgId null) on the account: it concerns the person, not any one of
   * their organisations, whose admins must not read where and when they sign in (issue 9 finding 5), and
   * it costs one row however many organisations the account is in (issue 16 finding 3). A hash in an
   * older form (scrypt) is rewritten as argon2id once the password has been proven right.
   */
  async login(
    email: string,
    password: string,
    meta: RequestMeta,
  ): Promise<{ user: UserRecord; memberships: UserMembership[]; session: NewSession }> {
    if (!this.#passwords) throw passwordsDisabled();
    const db = this.#store.db;
    const accountKey = normalizeEmail(email);
    const addressKey = meta.ip ?? "unknown";
    // One key per account *and* address: JSON keeps an email holding "|" from colliding with another pair.
    const pairKey = JSON.stringify([accountKey, addressKey]);
    const wait = Math.max(
      this.#byAccountAndAddress.retryAfter(pairKey, Date.now()),
      this.#byAddress.retryAfter(addressKey, Date.now()),
    );
    if (wait > 0) {
      throw new TesseraError("rate_limited", "Too many failed sign-in attempts; try again later", { retryAfterSeconds: wait });
    }
    // No account has a NUL in its email, and PostgreSQL cannot even compare one: a plain failed attempt.
    const found = email.includes("\u0000") ? undefined : await findUserByEmail(db, accountKey);
    let ok = false;
    // A host-provisioned person (SPEC §9) has no password: refused at the same cost as an unknown account.
    const noPassword = found !== undefined && (found.externalId != null || found.passwordHash === "");
    if (found && !noPassword) ok = await verifyPassword(password, found.passwordHash);
    else await burnPasswordCheck(password);
    if (found && found.disabledAt !== null) ok = false;
    const upgraded = found && ok && needsRehash(found.passwordHash) ? await hashPassword(password) : undefined;
    const now = Date.now();
    let throttled = false;
    if (ok) {
      this.#byAccountAndAddress.reset(pairKey);
    } else {
      // Reaching a limit is audited once, as its own event, beside the failed attempt itself.
      throttled = this.#byAccountAndAddress.fail(pairKey, now);
      throttled = this.#byAddress.fail(addressKey, now) || throttled;
    }
    return db
      .transaction()
      .execute(async (trx) => {
        const actor: Actor = found ? { type: "user", user: found } : { type: "system" };
        const target = found ? { type: "user", id: found.id, name: found.name } : null;
        const action = ok ? "auth.login" : "auth.login_failed";
        const details = ok
          ? {}
          : {
              email: normalizeEmail(email).slice(0, 320),
              reason: noPassword ? "no_password" : found ? "bad_credentials" : "unknown_account",
            };
        const events = [auditEvent(meta, actor, null, action, target, details, now)];
        if (throttled) {
          const limitDetails = { email: details.email, ip: meta.ip };
          events.push(auditEvent(meta, actor, null, "auth.login_throttled", target, limitDetails, now));
        }
        await insertEvents(trx, events);
        if (!ok || !found) return null;
        if (upgraded !== undefined) await upgradePasswordHash(trx, found.id, found.passwordHash, upgraded, now);
        const memberships = await listMembershipsOfUser(trx, found.id);
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
