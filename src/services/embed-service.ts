import { createHash, randomBytes } from "node:crypto";
import { TesseraError } from "../core/errors.js";
import { newId } from "../core/ids.js";
import {
  decideEmbedProvision,
  decideProvisionProfile,
  decideProvisionRename,
  decideRoleChange,
  type ProvisionCaller,
  provisioningActor,
} from "../core/policy.js";
import type { Role } from "../core/roles.js";
import { GRANTS_NOTHING, scopeSet } from "../core/scopes.js";
import { DEFAULT_ORG_SETTINGS } from "../core/settings.js";
import { insertEvents } from "../store/audit-repository.js";
import { isUniqueViolation } from "../store/conflicts.js";
import type { Db, Store } from "../store/database.js";
import {
  claimHandoff,
  countMembershipsElsewhere,
  type EmbedSessionRecord,
  type EmbedTheme,
  findEmbedSessionByBearer,
  findOrgByExternalId,
  findUserByExternalId,
  insertEmbedSession,
  insertProvisionedOrg,
  insertProvisionedUser,
  renameOrg,
  setOrgExternalId,
  updateUserProfile,
} from "../store/embed-repository.js";
import { countOwners, findMember, insertMembership, updateRole } from "../store/memberships-repository.js";
import { findOrg, lockOrg, type OrgRecord } from "../store/orgs-repository.js";
import { findUserByEmail, findUserById, setUserLocale, type UserRecord } from "../store/users-repository.js";
import type { Actor } from "./actor.js";
import { auditEvent } from "./audit.js";
import { normalizeEmail } from "./auth-service.js";
import { catalogueNames, enforce } from "./authority.js";
import type { ChangeBus } from "./change-bus.js";
import type { QuotaGuard } from "./quotas.js";
import type { RequestMeta } from "./request-meta.js";

export type { EmbedTheme };

/** How long the handoff in the URL's fragment can be exchanged (SPEC §9: single use, 60 s). */
export const HANDOFF_TTL_MS = 60_000;

/** The handoff travels in the URL fragment: 32 random bytes, base64url. */
export const HANDOFF_RE = /^[A-Za-z0-9_-]{43}$/;

/**
 * The embedded page's bearer: `tse.` + 32 random bytes (base64url). The dot keeps it apart from every
 * Tessera token (`<prefix>_<env>_…`), so the two never meet in the verifier or in a secret scanner.
 */
export const EMBED_BEARER_RE = /^tse\.[A-Za-z0-9_-]{43}$/;

export type EmbedLocale = "en" | "it";

export interface EmbedSessionInput {
  user: { externalId: string; email: string; name: string };
  organization: { externalId: string; name: string };
  role: Role;
  locale?: EmbedLocale | undefined;
  theme?: Partial<EmbedTheme> | undefined;
}

/** What the embedded page learns when it exchanges its handoff. */
export interface EmbedGrant {
  accessToken: string;
  expiresAt: number;
  user: UserRecord;
  organization: OrgRecord;
  role: Role;
  locale: EmbedLocale;
  theme: EmbedTheme;
}

/** The embed bearer's standing, attached to the user actor (`Actor.embed`). */
export interface EmbedScope {
  sessionId: string;
  orgId: string;
  expiresAt: number;
}

const sha256 = (value: string) => createHash("sha256").update(value).digest("hex");

const EXPIRED_HANDOFF = "This embed link is not valid: it was already used or has expired; ask the host for a new one";

export interface EmbedOptions {
  publicUrl: string;
  /** Lifetime of the embedded page's bearer. */
  sessionTtlMs: number;
  quotas: QuotaGuard;
}

/** SPEC §9: host-provisioned identity and the embedded tokens screen's sessions. */
export class EmbedService {
  readonly #store: Store;
  readonly #bus: ChangeBus;
  readonly #options: EmbedOptions;

  constructor(store: Store, bus: ChangeBus, options: EmbedOptions) {
    this.#store = store;
    this.#bus = bus;
    this.#options = options;
  }

  /**
   * Upserts the person, the organisation and the membership the host names (the host is the source of
   * truth for the role), each change audited with the calling token as actor, and mints a single-use
   * handoff: one transaction. A concurrent twin (the same new person or organisation at the same moment
   * on PostgreSQL) is retried once, and then finds what the other created.
   */
  async createSession(actor: Actor, input: EmbedSessionInput, meta: RequestMeta): Promise<{ url: string; expiresAt: number }> {
    const caller = provisionCaller(actor);
    // Refuse the wrong kind of caller before reading anything (the organisation is decided inside).
    enforce(decideEmbedProvision(caller, caller.kind === "service" ? caller.orgId : null));
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#provision(actor, caller, input, meta);
      } catch (error) {
        const twin = (error instanceof TesseraError && error.code === "conflict") || isUniqueViolation(error);
        if (!twin || attempt >= 2) throw error;
      }
    }
  }

  async #provision(
    actor: Actor,
    caller: ProvisionCaller,
    input: EmbedSessionInput,
    meta: RequestMeta,
  ): Promise<{ url: string; expiresAt: number }> {
    const now = Date.now();
    const handoff = randomBytes(32).toString("base64url");
    const email = normalizeEmail(input.user.email);
    const userName = input.user.name.trim();
    const orgName = input.organization.name.trim();
    const policyActor = provisioningActor(caller);
    const changed = await this.#store.db.transaction().execute(async (trx) => {
      const events = [];
      const org = await this.#resolveOrg(trx, caller, input.organization.externalId, orgName, now);
      const orgId = org.record.id;
      const orgTarget = { type: "organization", id: orgId, name: orgName };
      if (org.created) {
        events.push(auditEvent(meta, actor, orgId, "org.created", orgTarget, { externalId: input.organization.externalId }, now));
      } else {
        if (org.externalIdSet) {
          events.push(
            auditEvent(meta, actor, orgId, "org.updated", orgTarget, { externalId: input.organization.externalId }, now),
          );
        }
        if (org.record.name !== orgName) {
          enforce(decideProvisionRename(policyActor));
          await renameOrg(trx, orgId, orgName, now);
          events.push(
            auditEvent(meta, actor, orgId, "org.updated", orgTarget, { name: { from: org.record.name, to: orgName } }, now),
          );
        }
      }

      let user = await findUserByExternalId(trx, input.user.externalId);
      if (!user) {
        if (await findUserByEmail(trx, email)) {
          // Never take over an account the host did not make: its password, sessions and tokens are its own.
          throw new TesseraError("conflict", "user.email belongs to an account that was not provisioned by the host");
        }
        user = {
          id: newId("user"),
          email,
          name: userName,
          instanceAdmin: false,
          disabledAt: null,
          createdAt: now,
          externalId: input.user.externalId,
        };
        await insertProvisionedUser(trx, { id: user.id, email, name: userName, externalId: input.user.externalId }, now);
        events.push(
          auditEvent(
            meta,
            actor,
            orgId,
            "user.provisioned",
            { type: "user", id: user.id, name: userName },
            { externalId: input.user.externalId, email },
            now,
          ),
        );
      } else if (user.email !== email || user.name !== userName) {
        enforce(decideProvisionProfile(policyActor, await countMembershipsElsewhere(trx, user.id, orgId)));
        const other = user.email !== email ? await findUserByEmail(trx, email) : undefined;
        if (other && other.id !== user.id) throw new TesseraError("conflict", "user.email belongs to another account");
        await updateUserProfile(trx, user.id, { email, name: userName }, now);
        const changes: Record<string, unknown> = {};
        if (user.email !== email) changes.email = { from: user.email, to: email };
        if (user.name !== userName) changes.name = { from: user.name, to: userName };
        events.push(auditEvent(meta, actor, orgId, "user.updated", { type: "user", id: user.id, name: userName }, changes, now));
        user = { ...user, email, name: userName };
      }
      if (user.disabledAt !== null) throw new TesseraError("invalid_state", "This person's account is disabled");

      // The host says which language the person reads: their notice mail (SPEC §10) follows it.
      if (input.locale !== undefined) await setUserLocale(trx, user.id, input.locale);
      const userTarget = { type: "user", id: user.id, name: userName };
      const member = await findMember(trx, orgId, user.id);
      let roleChanged = false;
      if (!member) {
        enforce(decideRoleChange(policyActor, { from: null, to: input.role }, await catalogueNames(trx, orgId)));
        await this.#options.quotas.assert(trx, "membersPerOrganization", { orgId });
        await insertMembership(trx, orgId, user.id, input.role, now);
        events.push(auditEvent(meta, actor, orgId, "member.added", userTarget, { role: input.role, provisioned: true }, now));
        roleChanged = true;
      } else if (member.role !== input.role) {
        enforce(decideRoleChange(policyActor, { from: member.role, to: input.role }, await catalogueNames(trx, orgId)));
        // Owner counts are read under the organisation's lock (as the members API does); sessions that
        // change no owner take no lock, so one organisation's sessions do not queue behind each other.
        if (member.role === "owner") await lockOrg(trx, orgId, this.#store.dialect);
        if (member.role === "owner" && (await countOwners(trx, orgId)) <= 1) {
          throw new TesseraError("invalid_state", "The organisation must keep at least one owner");
        }
        await updateRole(trx, orgId, user.id, input.role);
        events.push(
          auditEvent(meta, actor, orgId, "member.role_changed", userTarget, { from: member.role, to: input.role }, now),
        );
        roleChanged = true;
      }

      const session: EmbedSessionRecord = {
        id: newId("session"),
        userId: user.id,
        orgId,
        locale: input.locale ?? "en",
        theme: { mode: input.theme?.mode ?? "light", accent: input.theme?.accent ?? null },
        createdById: actor.type === "token" ? actor.token.id : "",
        createdAt: now,
        handoffExpiresAt: now + HANDOFF_TTL_MS,
        exchangedAt: null,
        expiresAt: null,
      };
      await insertEmbedSession(trx, session, sha256(handoff));
      if (events.length > 0) await insertEvents(trx, events);
      return roleChanged ? { orgId, userId: user.id } : null;
    });
    // Demotion narrows the person's tokens at once: every instance drops what it cached of the membership.
    if (changed) this.#bus.publish({ type: "member", orgId: changed.orgId, userId: changed.userId });
    return { url: `${this.#options.publicUrl}/embed#handoff=${handoff}`, expiresAt: now + HANDOFF_TTL_MS };
  }

  /** The organisation the session is for: found or created by externalId (root), or the service token's own. */
  async #resolveOrg(
    trx: Db,
    caller: ProvisionCaller,
    externalId: string,
    name: string,
    now: number,
  ): Promise<{ record: OrgRecord; created: boolean; externalIdSet: boolean }> {
    const found = await findOrgByExternalId(trx, externalId);
    if (caller.kind === "service") {
      const own = caller.orgId === null ? undefined : await findOrg(trx, caller.orgId);
      if (found) {
        enforce(decideEmbedProvision(caller, found.id));
        return { record: found, created: false, externalIdSet: false };
      }
      // Its own organisation, not yet known to the host's id: it takes the id; any other id is another organisation.
      if (!own || (own.externalId !== null && own.externalId !== undefined)) enforce(decideEmbedProvision(caller, null));
      await setOrgExternalId(trx, own!.id, externalId, now);
      return { record: { ...own!, externalId }, created: false, externalIdSet: true };
    }
    enforce(decideEmbedProvision(caller, found?.id ?? null));
    if (found) return { record: found, created: false, externalIdSet: false };
    const record = {
      id: newId("organization"),
      name,
      settings: { ...DEFAULT_ORG_SETTINGS },
      createdAt: now,
      updatedAt: now,
      externalId,
    };
    await insertProvisionedOrg(trx, record);
    return { record, created: true, externalIdSet: false };
  }

  /**
   * Exchanges a handoff (single use, within 60 s) for the embedded page's bearer. Refused the same way
   * whether the handoff never existed, was used or has expired.
   */
  async exchange(handoff: string): Promise<EmbedGrant> {
    if (!HANDOFF_RE.test(handoff)) throw new TesseraError("unauthorized", EXPIRED_HANDOFF);
    const accessToken = `tse.${randomBytes(32).toString("base64url")}`;
    const now = Date.now();
    const expiresAt = now + this.#options.sessionTtlMs;
    const db = this.#store.db;
    const grant = await db.transaction().execute(async (trx) => {
      const session = await claimHandoff(trx, sha256(handoff), sha256(accessToken), now, expiresAt);
      if (!session) return null;
      const user = await findUserById(trx, session.userId);
      const organization = await findOrg(trx, session.orgId);
      const member = user ? await findMember(trx, session.orgId, user.id) : undefined;
      if (!user || user.disabledAt !== null || !organization || !member) return null;
      return { session, user, organization, role: member.role };
    });
    if (!grant) throw new TesseraError("unauthorized", EXPIRED_HANDOFF);
    return {
      accessToken,
      expiresAt,
      user: grant.user,
      organization: grant.organization,
      role: grant.role,
      locale: grant.session.locale === "it" ? "it" : "en",
      theme: grant.session.theme,
    };
  }

  /** The person behind an embed bearer and the session's bounds; undefined when unknown or over. */
  async resolveBearer(bearer: string): Promise<{ user: UserRecord; scope: EmbedScope } | undefined> {
    if (!EMBED_BEARER_RE.test(bearer)) return undefined;
    const db = this.#store.db;
    const session = await findEmbedSessionByBearer(db, sha256(bearer));
    const now = Date.now();
    if (!session || session.expiresAt === null || session.expiresAt <= now) return undefined;
    const user = await findUserById(db, session.userId);
    if (!user || user.disabledAt !== null) return undefined;
    return { user, scope: { sessionId: session.id, orgId: session.orgId, expiresAt: session.expiresAt } };
  }
}

/** The caller as the provisioning rules see it. */
function provisionCaller(actor: Actor): ProvisionCaller {
  if (actor.type !== "token") return { kind: actor.type, scopes: [], orgId: null, permissions: GRANTS_NOTHING };
  const { token } = actor;
  return {
    kind: token.kind,
    scopes: token.scopes,
    orgId: token.orgId,
    permissions: token.kind === "service" ? scopeSet(token.scopes) : GRANTS_NOTHING,
  };
}
