import { createHash, randomBytes } from "node:crypto";
import { sql } from "kysely";
import { TesseraError, validationError } from "../core/errors.js";
import { newId } from "../core/ids.js";
import { DEFAULT_ORG_SETTINGS } from "../core/settings.js";
import { insertEvents } from "../store/audit-repository.js";
import type { Store } from "../store/database.js";
import { insertMembership, listMembershipsOfUser, type UserMembership } from "../store/memberships-repository.js";
import { insertOrg, type OrgRecord } from "../store/orgs-repository.js";
import { deleteExpiredSessions, deleteSession, findSession, insertSession } from "../store/sessions-repository.js";
import { countUsers, findUserByEmail, findUserById, insertUser, type UserRecord } from "../store/users-repository.js";
import type { Actor } from "./actor.js";
import { auditEvent } from "./audit.js";
import { burnPasswordCheck, hashPassword, MIN_PASSWORD_LENGTH, verifyPassword } from "./passwords.js";
import type { RequestMeta } from "./request-meta.js";

export interface NewSession {
  /** The cookie value; only its hash is stored. */
  cookie: string;
  csrfToken: string;
  expiresAt: number;
}

export interface SetupInput {
  email: string;
  password: string;
  name: string;
  organization: { name: string };
}

function hashSessionId(value: string): string {
  return createHash("sha256").update(value).digest("hex");
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

export function checkPassword(password: string, field = "password"): void {
  if (password.length < MIN_PASSWORD_LENGTH) throw validationError(field, `must be at least ${MIN_PASSWORD_LENGTH} characters`);
}

export class AuthService {
  readonly #store: Store;
  readonly #sessionTtlMs: number;

  constructor(store: Store, sessionTtlMs: number) {
    this.#store = store;
    this.#sessionTtlMs = sessionTtlMs;
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
      const session = await this.#createSession(trx, user.id, now);
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
    // No account has a NUL in its email, and PostgreSQL cannot even compare one: a plain failed attempt.
    const found = email.includes("\u0000") ? undefined : await findUserByEmail(db, normalizeEmail(email));
    let ok = false;
    if (found) ok = await verifyPassword(password, found.passwordHash);
    else await burnPasswordCheck(password);
    if (found && found.disabledAt !== null) ok = false;
    const now = Date.now();
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
        await insertEvents(
          trx,
          orgIds.map((orgId) => auditEvent(meta, actor, orgId, action, target, details, now)),
        );
        if (!ok || !found) return null;
        const { passwordHash: _omit, ...user } = found;
        return { user, memberships, session: await this.#createSession(trx, found.id, now) };
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
  async resolveSession(cookie: string): Promise<{ user: UserRecord; csrfToken: string } | undefined> {
    if (cookie.length > 200) return undefined;
    const session = await findSession(this.#store.db, hashSessionId(cookie));
    if (!session || session.expiresAt <= Date.now()) return undefined;
    const user = await findUserById(this.#store.db, session.userId);
    if (!user || user.disabledAt !== null) return undefined;
    return { user, csrfToken: session.csrfToken };
  }

  async memberships(userId: string): Promise<UserMembership[]> {
    return listMembershipsOfUser(this.#store.db, userId);
  }

  async #createSession(db: Store["db"] | Parameters<typeof insertSession>[0], userId: string, now: number): Promise<NewSession> {
    const cookie = randomBytes(32).toString("base64url");
    const csrfToken = randomBytes(24).toString("base64url");
    const expiresAt = now + this.#sessionTtlMs;
    await deleteExpiredSessions(db, now);
    await insertSession(db, { idHash: hashSessionId(cookie), userId, csrfToken, expiresAt }, now);
    return { cookie, csrfToken, expiresAt };
  }
}
