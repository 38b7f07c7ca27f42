import { createHash } from "node:crypto";
import { randomBase62 } from "../core/base62.js";
import { TesseraError, validationError } from "../core/errors.js";
import { newId } from "../core/ids.js";
import { decideRoleChange } from "../core/policy.js";
import type { Role } from "../core/roles.js";
import { insertEvents } from "../store/audit-repository.js";
import type { Store } from "../store/database.js";
import {
  claimInvitation,
  findInvitation,
  findInvitationBySecretHash,
  type InvitationRecord,
  insertInvitation,
  invitationStatus,
  listInvitations,
  revokeInvitation,
  revokeOpenInvitations,
} from "../store/invitations-repository.js";
import { findMember, insertMembership } from "../store/memberships-repository.js";
import { findOrg, type OrgRecord } from "../store/orgs-repository.js";
import { claimPasswordReset, deleteStalePasswordResets, insertPasswordReset } from "../store/password-resets-repository.js";
import {
  deleteSessionByPublicId,
  deleteSessionsOfUser,
  listSessionsOfUser,
  type SessionRecord,
} from "../store/sessions-repository.js";
import {
  findUserByEmail,
  findUserById,
  findUserWithHashById,
  insertUser,
  setUserLocale,
  type UserRecord,
  updatePasswordHash,
} from "../store/users-repository.js";
import { type Actor, actorRef, type OrgAccess, policyActor, requireScope } from "./actor.js";
import { auditEvent } from "./audit.js";
import { checkPassword, normalizeEmail, passwordsDisabled } from "./auth-service.js";
import { catalogueNames, enforce } from "./authority.js";
import type { ChangeBus } from "./change-bus.js";
import { FailureLimiter } from "./failure-limiter.js";
import { invitationMail, type Mailer, type MailLocale, passwordResetMail } from "./mailer.js";
import { hashPassword, verifyPassword } from "./passwords.js";
import type { QuotaGuard } from "./quotas.js";
import type { RequestMeta } from "./request-meta.js";
import { hashSessionId, type NewSession, openSession } from "./sessions.js";

/** An invitation link lives 7 days (SPEC §4); a reset link one hour. */
export const INVITATION_TTL_MS = 7 * 24 * 3600_000;
export const PASSWORD_RESET_TTL_MS = 3600_000;

/**
 * Link secrets are shaped like Tessera tokens (`tsi_live_…` for invitations, `tsp_live_…` for password
 * resets, 43 base62 characters ≈ 256 bits from the CSPRNG) so that the log and problem redaction, which
 * matches token shapes, hides them wherever they appear (a URL path, a pasted body). Stored SHA-256'd.
 */
const INVITATION_PREFIX = "tsi_live_";
const RESET_PREFIX = "tsp_live_";
const SECRET_LENGTH = 43;
const INVITATION_SECRET_RE = /^tsi_live_[0-9A-Za-z]{43}$/;
const RESET_SECRET_RE = /^tsp_live_[0-9A-Za-z]{43}$/;

function newSecret(prefix: string): { secret: string; hash: string } {
  const secret = `${prefix}${randomBase62(SECRET_LENGTH)}`;
  return { secret, hash: sha256(secret) };
}

function sha256(value: string): string {
  return createHash("sha256").update(value).digest("hex");
}

/** Password reset requests: per client address and per email, per 15 minutes (counted whether or not the account exists). */
const RESET_REQUESTS_PER_ADDRESS = 20;
const RESET_REQUESTS_PER_EMAIL = 5;
/** Wrong current passwords per account per 15 minutes before a password change must wait. */
const PASSWORD_CHANGE_FAILURES = 10;
const WINDOW_MS = 15 * 60_000;

const INVALID_INVITATION = "This invitation link is not valid: it may have expired, been used or been revoked";
const INVALID_RESET = "This reset link is not valid: it may have expired or been used";

export interface InvitationInput {
  email: string;
  role: Role;
  /** The invitee's language for the mail. */
  locale?: MailLocale | undefined;
}

export interface InvitationWithInviter extends InvitationRecord {
  status: ReturnType<typeof invitationStatus>;
}

export interface AcceptInput {
  name?: string | undefined;
  password?: string | undefined;
}

export interface AcceptResult {
  user: UserRecord;
  organization: OrgRecord;
  role: Role;
  /** Set when a new account was created (it is signed in). */
  session: NewSession | null;
}

export interface SessionView {
  id: string;
  createdAt: number;
  expiresAt: number;
  lastSeenAt: number | null;
  ip: string | null;
  userAgent: string | null;
  current: boolean;
}

export interface AccountOptions {
  /** Base of every link (`TESSERA_PUBLIC_URL`), without a trailing slash. */
  publicUrl: string;
  sessionTtlMs: number;
  /** Absent without `TESSERA_SMTP_URL`: links are then returned to whoever made them. */
  mailer: Mailer | undefined;
  /** `membersPerOrganization` is asked when an invitation is accepted. */
  quotas?: QuotaGuard | undefined;
  /**
   * False under `TESSERA_OIDC_ONLY=true`: resets, changes and choosing a password on accepting an
   * invitation are refused (`passwords_disabled`); people join by signing in with the provider.
   */
  passwords?: boolean | undefined;
}

/**
 * Joining by invitation, password reset and change, and a person's own sessions (SPEC §2, §4): nobody
 * sets, learns or resets another person's password, and nobody learns whether an email has an account.
 */
export class AccountService {
  readonly #store: Store;
  readonly #bus: ChangeBus;
  readonly #options: AccountOptions;
  readonly #resetByAddress = new FailureLimiter(RESET_REQUESTS_PER_ADDRESS, WINDOW_MS);
  readonly #resetByEmail = new FailureLimiter(RESET_REQUESTS_PER_EMAIL, WINDOW_MS);
  readonly #changeFailures = new FailureLimiter(PASSWORD_CHANGE_FAILURES, WINDOW_MS);

  constructor(store: Store, bus: ChangeBus, options: AccountOptions) {
    this.#store = store;
    this.#bus = bus;
    this.#options = options;
  }

  get mails(): boolean {
    return this.#options.mailer !== undefined;
  }

  /**
   * Invites an email to the organisation with a role (granted like a role change: only owners invite
   * owners). Replaces any open invitation of the same email. The answer never depends on whether the
   * email has an account. Mailed when SMTP is configured; otherwise the link is returned, once.
   */
  async invite(
    access: OrgAccess,
    input: InvitationInput,
    meta: RequestMeta,
  ): Promise<{ invitation: InvitationWithInviter; acceptUrl: string | null }> {
    requireScope(access, "members:write");
    // Inviting grants a role: the one authorisation rule for role grants (SPEC §2, core/policy.ts).
    enforce(
      decideRoleChange(policyActor(access), { from: null, to: input.role }, await catalogueNames(this.#store.db, access.org.id)),
    );
    const email = normalizeEmail(input.email);
    if (email.includes("\u0000")) throw validationError("email", "must be an email address");
    const orgId = access.org.id;
    const now = Date.now();
    const by = actorRef(access.actor);
    const { secret, hash } = newSecret(INVITATION_PREFIX);
    const invitation: InvitationRecord = {
      id: newId("invitation"),
      orgId,
      email,
      role: input.role,
      invitedById: by.id,
      invitedByName: by.name,
      createdAt: now,
      expiresAt: now + INVITATION_TTL_MS,
      acceptedAt: null,
      acceptedById: null,
      revokedAt: null,
    };
    const mailer = this.#options.mailer;
    await this.#store.db.transaction().execute(async (trx) => {
      // Members are visible to whoever may invite (members:read), so saying so reveals nothing new.
      const existing = await findUserByEmail(trx, email);
      if (existing && (await findMember(trx, orgId, existing.id))) {
        throw new TesseraError("conflict", "This email already belongs to a member of the organisation");
      }
      const replaced = await revokeOpenInvitations(trx, orgId, email, now);
      await insertInvitation(trx, invitation, hash);
      await insertEvents(trx, [
        auditEvent(
          meta,
          access.actor,
          orgId,
          "invitation.created",
          { type: "invitation", id: invitation.id, name: email },
          { email, role: input.role, mailed: mailer !== undefined, replaced },
          now,
        ),
      ]);
    });
    const acceptUrl = `${this.#options.publicUrl}/accept-invitation#token=${secret}`;
    if (mailer) {
      try {
        await mailer.send(invitationMail(email, acceptUrl, input.locale));
      } catch {
        // Nobody holds the link now: withdraw it rather than leave a pending invitation no one can use.
        await this.#store.db.transaction().execute(async (trx) => {
          await revokeInvitation(trx, invitation.id, Date.now());
          await insertEvents(trx, [
            auditEvent(
              meta,
              { type: "system" },
              orgId,
              "invitation.revoked",
              { type: "invitation", id: invitation.id, name: email },
              { reason: "mail could not be sent" },
            ),
          ]);
        });
        throw new TesseraError("service_unavailable", "The invitation could not be mailed; try again shortly", {
          retryAfterSeconds: 30,
        });
      }
      return { invitation: { ...invitation, status: "pending" }, acceptUrl: null };
    }
    return { invitation: { ...invitation, status: "pending" }, acceptUrl };
  }

  /** Pending first, then newest first. */
  async invitations(access: OrgAccess): Promise<InvitationWithInviter[]> {
    requireScope(access, "members:read");
    const now = Date.now();
    const all = (await listInvitations(this.#store.db, access.org.id)).map((i) => ({ ...i, status: invitationStatus(i, now) }));
    return [...all.filter((i) => i.status === "pending"), ...all.filter((i) => i.status !== "pending")];
  }

  /** Revokes a pending invitation (its link dies). Another organisation's → 404; a used one → 409. */
  async revokeInvitation(access: OrgAccess, id: string, meta: RequestMeta): Promise<void> {
    requireScope(access, "members:write");
    const orgId = access.org.id;
    const now = Date.now();
    await this.#store.db.transaction().execute(async (trx) => {
      const invitation = await findInvitation(trx, orgId, id);
      if (!invitation) throw new TesseraError("not_found", "No such invitation");
      // Withdrawing an offered role is decided like taking the role away (SPEC §2, core/policy.ts).
      enforce(decideRoleChange(policyActor(access), { from: invitation.role, to: null }, await catalogueNames(trx, orgId)));
      if (!(await revokeInvitation(trx, id, now))) {
        throw new TesseraError(
          "invalid_state",
          `The invitation is ${invitationStatus(invitation, now)}; only a pending one can be revoked`,
        );
      }
      await insertEvents(trx, [
        auditEvent(
          meta,
          access.actor,
          orgId,
          "invitation.revoked",
          { type: "invitation", id, name: invitation.email },
          { email: invitation.email, role: invitation.role },
          now,
        ),
      ]);
    });
  }

  /** What a pending invitation is for (public, by its secret). Unknown, used, revoked or expired → one 404. */
  async describeInvitation(secret: string): Promise<{ invitation: InvitationRecord; organization: OrgRecord }> {
    const invitation = await this.#pending(secret);
    const organization = await findOrg(this.#store.db, invitation.orgId);
    if (!organization) throw new TesseraError("not_found", INVALID_INVITATION);
    return { invitation, organization };
  }

  /**
   * Accepts an invitation. Signed in (`caller`): the account's email must be the invited one. Not signed
   * in: a new account for the invited email, with the name and password its holder chooses, signed in at
   * once; when the email already has an account the answer says to sign in as it (the link's holder
   * learns that much, and nothing else: not the name, not the memberships).
   */
  async accept(secret: string, caller: UserRecord | null, input: AcceptInput, meta: RequestMeta): Promise<AcceptResult> {
    const invitation = await this.#findBySecret(secret);
    const now = Date.now();
    if (invitation.acceptedAt !== null) throw new TesseraError("conflict", "This invitation has already been used");
    if (invitationStatus(invitation, now) !== "pending") throw new TesseraError("not_found", INVALID_INVITATION);
    const organization = await findOrg(this.#store.db, invitation.orgId);
    if (!organization) throw new TesseraError("not_found", INVALID_INVITATION);
    const role = invitation.role;
    const inviter = { id: invitation.invitedById, name: invitation.invitedByName };
    const added = (user: UserRecord) =>
      auditEvent(
        meta,
        { type: "user", user },
        invitation.orgId,
        "member.added",
        { type: "user", id: user.id, name: user.name },
        { role, via: "invitation", invitationId: invitation.id, invitedBy: inviter },
        now,
      );

    if (caller) {
      if (normalizeEmail(caller.email) !== invitation.email) {
        throw new TesseraError("forbidden", `This invitation is for ${invitation.email}; sign in as that address to accept it`);
      }
      await this.#store.db.transaction().execute(async (trx) => {
        if (await findMember(trx, invitation.orgId, caller.id)) {
          throw new TesseraError("conflict", "You are already a member of this organisation");
        }
        if (!(await claimInvitation(trx, invitation.id, caller.id, now))) {
          throw new TesseraError("conflict", "This invitation has already been used");
        }
        await this.#options.quotas?.assert(trx, "membersPerOrganization", { orgId: invitation.orgId });
        await insertMembership(trx, invitation.orgId, caller.id, role, now);
        await insertEvents(trx, [added(caller)]);
      });
      this.#bus.publish({ type: "member", orgId: invitation.orgId, userId: caller.id });
      return { user: caller, organization, role, session: null };
    }

    if (this.#options.passwords === false) throw passwordsDisabled();
    if (await findUserByEmail(this.#store.db, invitation.email)) {
      throw new TesseraError("conflict", `Sign in as ${invitation.email} to accept this invitation`);
    }
    const name = input.name?.trim() ?? "";
    if (!name) throw validationError("name", "is required to create an account");
    if (input.password === undefined) throw validationError("password", "is required to create an account");
    checkPassword(input.password);
    const passwordHash = await hashPassword(input.password);
    const user: UserRecord = {
      id: newId("user"),
      email: invitation.email,
      name,
      instanceAdmin: false,
      disabledAt: null,
      createdAt: now,
    };
    const session = await this.#store.db.transaction().execute(async (trx) => {
      if (!(await claimInvitation(trx, invitation.id, user.id, now))) {
        throw new TesseraError("conflict", "This invitation has already been used");
      }
      await this.#options.quotas?.assert(trx, "membersPerOrganization", { orgId: invitation.orgId });
      // A concurrent twin creating the same email fails here, as a conflict (never a 500 with the email).
      await insertUser(trx, { ...user, passwordHash });
      await insertMembership(trx, invitation.orgId, user.id, role, now);
      await insertEvents(trx, [added(user)]);
      return openSession(trx, user.id, this.#options.sessionTtlMs, now, meta);
    });
    this.#bus.publish({ type: "member", orgId: invitation.orgId, userId: user.id });
    return { user, organization, role, session };
  }

  /**
   * Asks for a reset link. The caller learns nothing (always the same answer; the mail goes out after the
   * answer, so its time does not tell either). Limited per address and per email, known or not.
   */
  async requestPasswordReset(email: string, meta: RequestMeta): Promise<void> {
    if (this.#options.passwords === false) throw passwordsDisabled();
    const key = normalizeEmail(email);
    const address = meta.ip ?? "unknown";
    const now = Date.now();
    const wait = Math.max(this.#resetByAddress.retryAfter(address, now), this.#resetByEmail.retryAfter(key, now));
    if (wait > 0) throw new TesseraError("rate_limited", "Too many reset requests; try again later", { retryAfterSeconds: wait });
    this.#resetByAddress.fail(address, now);
    this.#resetByEmail.fail(key, now);
    const mailer = this.#options.mailer;
    const user = key.includes("\u0000") ? undefined : await findUserByEmail(this.#store.db, key);
    // A host-provisioned person has no password to reset (SPEC §9): nothing is sent, the answer is the same.
    if (!mailer || !user || user.disabledAt !== null || user.externalId != null) return;
    const link = await this.#newResetLink(user, meta, "mail");
    void mailer.send(passwordResetMail(user.email, link)).catch(() => {
      // Nothing to tell the requester (that would reveal the account); the person may ask again.
    });
  }

  /** The operator's way without SMTP (`tessera user reset-link`): a link for an existing account. */
  async resetLink(email: string, meta: RequestMeta): Promise<string> {
    if (this.#options.passwords === false) throw passwordsDisabled();
    const user = await findUserByEmail(this.#store.db, normalizeEmail(email));
    if (!user) throw new TesseraError("not_found", "No account has this email");
    if (user.externalId != null)
      throw new TesseraError("invalid_state", "This account is provisioned by the host and has no password");
    return this.#newResetLink(user, meta, "operator");
  }

  /** Sets a new password with a reset link; every session of the account ends. */
  async confirmPasswordReset(secret: string, password: string, meta: RequestMeta): Promise<void> {
    if (this.#options.passwords === false) throw passwordsDisabled();
    if (!RESET_SECRET_RE.test(secret)) throw new TesseraError("not_found", INVALID_RESET);
    checkPassword(password);
    const passwordHash = await hashPassword(password);
    const now = Date.now();
    await this.#store.db.transaction().execute(async (trx) => {
      const userId = await claimPasswordReset(trx, sha256(secret), now);
      const user = userId ? await findUserById(trx, userId) : undefined;
      if (!user || user.externalId != null) throw new TesseraError("not_found", INVALID_RESET);
      await updatePasswordHash(trx, user.id, passwordHash, now);
      const ended = await deleteSessionsOfUser(trx, user.id);
      await insertEvents(trx, [
        auditEvent(meta, { type: "user", user }, null, "auth.password_reset", userTarget(user), { endedSessions: ended }, now),
      ]);
    });
  }

  /**
   * The language of one's own notice mail (SPEC §10). A preference, not a grant: it is not audited.
   */
  async setLocale(user: UserRecord, locale: MailLocale): Promise<void> {
    await setUserLocale(this.#store.db, user.id, locale);
  }

  /**
   * Changes one's own password with the current one. A wrong current password counts as a failed
   * attempt (per account); every other session of the account ends, the current one stays.
   */
  async changePassword(
    user: UserRecord,
    sessionCookie: string,
    currentPassword: string,
    newPassword: string,
    meta: RequestMeta,
  ): Promise<void> {
    if (this.#options.passwords === false) throw passwordsDisabled();
    const now = Date.now();
    const wait = this.#changeFailures.retryAfter(user.id, now);
    if (wait > 0) {
      throw new TesseraError("rate_limited", "Too many wrong passwords; try again later", { retryAfterSeconds: wait });
    }
    const stored = await findUserWithHashById(this.#store.db, user.id);
    if (!stored || !(await verifyPassword(currentPassword, stored.passwordHash))) {
      const reached = this.#changeFailures.fail(user.id, Date.now());
      await insertEvents(this.#store.db, [
        auditEvent(meta, { type: "user", user }, null, "auth.password_change_failed", userTarget(user), { throttled: reached }),
      ]);
      throw validationError("currentPassword", "is not your current password");
    }
    this.#changeFailures.reset(user.id);
    checkPassword(newPassword, "newPassword");
    const passwordHash = await hashPassword(newPassword);
    await this.#store.db.transaction().execute(async (trx) => {
      await updatePasswordHash(trx, user.id, passwordHash, now);
      const ended = await deleteSessionsOfUser(trx, user.id, hashSessionId(sessionCookie));
      await insertEvents(trx, [
        auditEvent(meta, { type: "user", user }, null, "auth.password_changed", userTarget(user), { endedSessions: ended }, now),
      ]);
    });
  }

  async sessions(userId: string, sessionCookie: string): Promise<SessionView[]> {
    const current = hashSessionId(sessionCookie);
    const rows = await listSessionsOfUser(this.#store.db, userId, Date.now());
    return rows.map((s: SessionRecord) => ({
      id: s.publicId,
      createdAt: s.createdAt ?? 0,
      expiresAt: s.expiresAt,
      lastSeenAt: s.lastSeenAt ?? null,
      ip: s.ip ?? null,
      userAgent: s.userAgent ?? null,
      current: s.idHash === current,
    }));
  }

  /** Sign out everywhere: every session of the account, the current one included. */
  async endAllSessions(user: UserRecord, meta: RequestMeta): Promise<void> {
    await this.#store.db.transaction().execute(async (trx) => {
      const ended = await deleteSessionsOfUser(trx, user.id);
      await insertEvents(trx, [
        auditEvent(meta, { type: "user", user }, null, "auth.sessions_ended", userTarget(user), { endedSessions: ended }),
      ]);
    });
  }

  /** Ends one of one's own sessions; someone else's (or an unknown id) → 404. */
  async endSession(user: UserRecord, id: string, meta: RequestMeta): Promise<void> {
    await this.#store.db.transaction().execute(async (trx) => {
      if (!(await deleteSessionByPublicId(trx, user.id, id))) throw new TesseraError("not_found", "No such session");
      await insertEvents(trx, [
        auditEvent(meta, { type: "user", user }, null, "auth.session_ended", userTarget(user), { sessionId: id }),
      ]);
    });
  }

  async #findBySecret(secret: string): Promise<InvitationRecord> {
    const invitation = INVITATION_SECRET_RE.test(secret)
      ? await findInvitationBySecretHash(this.#store.db, sha256(secret))
      : undefined;
    if (!invitation) throw new TesseraError("not_found", INVALID_INVITATION);
    return invitation;
  }

  async #pending(secret: string): Promise<InvitationRecord> {
    const invitation = await this.#findBySecret(secret);
    if (invitationStatus(invitation, Date.now()) !== "pending") throw new TesseraError("not_found", INVALID_INVITATION);
    return invitation;
  }

  async #newResetLink(user: UserRecord, meta: RequestMeta, via: "mail" | "operator"): Promise<string> {
    const { secret, hash } = newSecret(RESET_PREFIX);
    const now = Date.now();
    await this.#store.db.transaction().execute(async (trx) => {
      await deleteStalePasswordResets(trx, now);
      await insertPasswordReset(trx, {
        secretHash: hash,
        userId: user.id,
        createdAt: now,
        expiresAt: now + PASSWORD_RESET_TTL_MS,
      });
      // Whoever asked is not known to be the account's owner: the system acts, the account is the target.
      const actor: Actor = { type: "system" };
      await insertEvents(trx, [auditEvent(meta, actor, null, "auth.password_reset_requested", userTarget(user), { via }, now)]);
    });
    return `${this.#options.publicUrl}/reset-password#token=${secret}`;
  }
}

function userTarget(user: UserRecord) {
  return { type: "user", id: user.id, name: user.name };
}
