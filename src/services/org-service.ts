import { TesseraError, validationError } from "../core/errors.js";
import { newId } from "../core/ids.js";
import { decideRoleChange, decideRootInOrg } from "../core/policy.js";
import { DEFAULT_QUOTAS } from "../core/quotas.js";
import { isRole, type Role } from "../core/roles.js";
import { isManagementScope, isWildcard, MANAGEMENT_SCOPE_NAMES, MANAGEMENT_SCOPES, SCOPE_RE } from "../core/scopes.js";
import { DEFAULT_ORG_SETTINGS, normaliseSettings, type OrgSettings, validateSettings } from "../core/settings.js";
import { insertEvents } from "../store/audit-repository.js";
import type { Store } from "../store/database.js";
import {
  countOwners,
  deleteMembership,
  findMember,
  insertMembership,
  listMembers,
  type MemberRecord,
  updateRole,
} from "../store/memberships-repository.js";
import {
  insertOrg,
  listOrgsOfUser,
  listOrgsPage,
  listProductScopes,
  lockOrg,
  type OrgRecord,
  replaceProductScopes,
  updateOrg,
} from "../store/orgs-repository.js";
import { listUnrevokedPersonalTokens, updateToken } from "../store/tokens-repository.js";
import { findUserById } from "../store/users-repository.js";
import { type Actor, type OrgAccess, policyActor, requireScope, resolveOrgAccess } from "./actor.js";
import { auditEvent } from "./audit.js";
import { catalogueNames, enforce } from "./authority.js";
import type { ChangeBus } from "./change-bus.js";
import { QuotaGuard } from "./quotas.js";
import type { RequestMeta } from "./request-meta.js";
import { revocationPatch, targetOf } from "./token-service.js";

export interface CatalogueEntry {
  name: string;
  description: string;
  kind: "management" | "product";
}

/** A product scope as written by the operator. */
export interface CatalogueInput {
  name: string;
  description?: string | undefined;
}

export interface OrgPatch {
  name?: string | undefined;
  settings?: Partial<OrgSettings> | undefined;
}

/** The revocation reason of a personal token whose owner left or was removed (SPEC §2). */
export const MEMBER_REMOVED = "member removed";

export class OrgService {
  readonly #store: Store;
  readonly #bus: ChangeBus;
  /** Instance-wide quotas; also for the member functions (`assert(trx, "membersPerOrganization", {orgId})`). */
  readonly quotas: QuotaGuard;

  constructor(store: Store, bus: ChangeBus, quotas = new QuotaGuard(DEFAULT_QUOTAS, store.dialect)) {
    this.#store = store;
    this.#bus = bus;
    this.quotas = quotas;
  }

  access(actor: Actor, orgId: string): Promise<OrgAccess> {
    return resolveOrgAccess(this.#store.db, actor, orgId);
  }

  /** A person creates an organisation and becomes its owner. */
  async create(actor: Actor, name: string, meta: RequestMeta): Promise<OrgRecord> {
    if (actor.type !== "user") throw new TesseraError("forbidden", "Only a signed-in person can create an organisation");
    const now = Date.now();
    const org: OrgRecord = {
      id: newId("organization"),
      name: name.trim(),
      settings: { ...DEFAULT_ORG_SETTINGS },
      createdAt: now,
      updatedAt: now,
    };
    await this.#store.db.transaction().execute(async (trx) => {
      await this.quotas.assert(trx, "organizationsPerUser", { userId: actor.user.id });
      await insertOrg(trx, org);
      await insertMembership(trx, org.id, actor.user.id, "owner", now);
      await insertEvents(trx, [
        auditEvent(meta, actor, org.id, "org.created", { type: "organization", id: org.id, name: org.name }, {}, now),
      ]);
    });
    return org;
  }

  /**
   * The organisations the actor can see, oldest first, one page (`limit` ≤ 100, default 50) after
   * `cursor` (the previous page's `nextCursor`): a person's memberships, a root token's all, an org
   * token's own. One query per page, whatever the number of memberships.
   */
  async list(
    actor: Actor,
    page: { limit?: number | undefined; cursor?: string | undefined } = {},
  ): Promise<{ items: (OrgRecord & { role: Role | null })[]; nextCursor: string | null }> {
    const db = this.#store.db;
    if (actor.type === "token" && actor.token.kind === "root") enforce(decideRootInOrg(actor.token.scopes));
    const limit = Math.min(page.limit ?? 50, 100);
    let rows: (OrgRecord & { role: Role | null })[];
    if (actor.type === "system" || (actor.type === "token" && actor.token.kind === "root")) {
      rows = await listOrgsPage(db, { after: page.cursor, limit: limit + 1 });
    } else if (actor.type === "token") {
      const access = await this.access(actor, actor.token.orgId!);
      requireScope(access, "org:read");
      rows = page.cursor && page.cursor >= access.org.id ? [] : [{ ...access.org, role: access.role }];
    } else {
      rows = (await listOrgsOfUser(db, actor.user.id, { after: page.cursor, limit: limit + 1 })).map((o) => ({
        ...o,
        role: isRole(o.role) ? o.role : null,
      }));
    }
    const items = rows.slice(0, limit);
    return { items, nextCursor: rows.length > limit ? items[items.length - 1]!.id : null };
  }

  async get(access: OrgAccess): Promise<OrgRecord> {
    requireScope(access, "org:read");
    return access.org;
  }

  async update(access: OrgAccess, patch: OrgPatch, meta: RequestMeta): Promise<OrgRecord> {
    requireScope(access, "org:write");
    const before = access.org;
    const settings: OrgSettings = normaliseSettings({ ...before.settings, ...stripUndefined(patch.settings ?? {}) });
    const errors = validateSettings(settings);
    if (errors.length > 0)
      throw new TesseraError("validation_failed", errors.map((e) => `${e.field}: ${e.message}`).join("; "), { fields: errors });
    const now = Date.now();
    const after: OrgRecord = { ...before, name: patch.name?.trim() ?? before.name, settings, updatedAt: now };
    const changes: Record<string, { from: unknown; to: unknown }> = {};
    if (after.name !== before.name) changes.name = { from: before.name, to: after.name };
    for (const key of Object.keys(settings) as (keyof OrgSettings)[]) {
      if (JSON.stringify(settings[key]) !== JSON.stringify(before.settings[key]))
        changes[key] = { from: before.settings[key], to: settings[key] };
    }
    await this.#store.db.transaction().execute(async (trx) => {
      await updateOrg(trx, after);
      await insertEvents(trx, [
        auditEvent(
          meta,
          access.actor,
          after.id,
          "org.settings_changed",
          { type: "organization", id: after.id, name: after.name },
          { changes },
          now,
        ),
      ]);
    });
    this.#bus.publish({ type: "org", orgId: after.id });
    return after;
  }

  async catalogue(access: OrgAccess): Promise<CatalogueEntry[]> {
    requireScope(access, "org:read");
    return catalogueOf(this.#store, access.org.id);
  }

  /**
   * Replaces the product scopes. Management scopes are Tessera's own: listed ones are ignored. `scopes`
   * may be a function of the current product scopes (the CLI's `scopes add|remove`): it runs inside the
   * transaction, so a concurrent edit is never lost between reading and writing.
   */
  async replaceCatalogue(
    access: OrgAccess,
    scopes: readonly CatalogueInput[] | ((current: readonly CatalogueInput[]) => readonly CatalogueInput[]),
    meta: RequestMeta,
  ): Promise<CatalogueEntry[]> {
    requireScope(access, "org:write");
    if (typeof scopes !== "function") this.#productScopes(scopes);
    const now = Date.now();
    await this.#store.db.transaction().execute(async (trx) => {
      const current = await listProductScopes(trx, access.org.id);
      const product = this.#productScopes(typeof scopes === "function" ? scopes(current) : scopes);
      const before = current.map((s) => s.name);
      await replaceProductScopes(trx, access.org.id, product, now);
      const after = product.map((s) => s.name);
      await insertEvents(trx, [
        auditEvent(
          meta,
          access.actor,
          access.org.id,
          "org.scopes_changed",
          { type: "organization", id: access.org.id, name: access.org.name },
          { added: after.filter((n) => !before.includes(n)), removed: before.filter((n) => !after.includes(n)) },
          now,
        ),
      ]);
    });
    this.#bus.publish({ type: "org", orgId: access.org.id });
    return catalogueOf(this.#store, access.org.id);
  }

  /** Checked product scopes: management ones dropped, names well-formed and unique, within the quota. */
  #productScopes(scopes: readonly CatalogueInput[]): { name: string; description: string }[] {
    const product: { name: string; description: string }[] = [];
    const seen = new Set<string>();
    scopes.forEach((s, i) => {
      if (MANAGEMENT_SCOPE_NAMES.includes(s.name)) return;
      const field = `[${i}].name`;
      if (!SCOPE_RE.test(s.name) || isWildcard(s.name))
        throw validationError(field, "must look like resource:action (lowercase)");
      if (isManagementScope(s.name)) throw validationError(field, "this resource is reserved for Tessera's management scopes");
      if (seen.has(s.name)) throw validationError(field, `duplicate scope ${s.name}`);
      seen.add(s.name);
      product.push({ name: s.name, description: s.description?.trim() ?? "" });
    });
    // A size, not a count: the catalogue is replaced whole, so no concurrent twin can add to it.
    this.quotas.assertSize("scopesPerCatalogue", product.length);
    return product;
  }

  async members(access: OrgAccess): Promise<MemberRecord[]> {
    requireScope(access, "members:read");
    return listMembers(this.#store.db, access.org.id);
  }

  async changeRole(access: OrgAccess, userId: string, role: Role, meta: RequestMeta): Promise<MemberRecord> {
    requireScope(access, "members:write");
    const orgId = access.org.id;
    const now = Date.now();
    const member = await this.#store.db.transaction().execute(async (trx) => {
      // Owner counts are read under the organisation's lock: two owners demoting each other never leave none.
      await lockOrg(trx, orgId, this.#store.dialect);
      const target = await findMember(trx, orgId, userId);
      if (!target) throw new TesseraError("not_found", "No such member");
      enforce(decideRoleChange(policyActor(access), { from: target.role, to: role }, await catalogueNames(trx, orgId)));
      if (target.role === "owner" && role !== "owner" && (await countOwners(trx, orgId)) <= 1) {
        throw new TesseraError("invalid_state", "The organisation must keep at least one owner");
      }
      if (target.role === role) return target;
      await updateRole(trx, orgId, userId, role);
      await insertEvents(trx, [
        auditEvent(
          meta,
          access.actor,
          orgId,
          "member.role_changed",
          { type: "user", id: userId, name: target.name },
          { from: target.role, to: role },
          now,
        ),
      ]);
      return { ...target, role };
    });
    this.#bus.publish({ type: "member", orgId, userId });
    return member;
  }

  /**
   * Removes a member, or lets a person leave (any role, by themselves, from a console session). Their
   * personal tokens in this organisation are revoked in the same transaction (reason "member removed"):
   * re-adding the person later does not bring them back.
   */
  async removeMember(access: OrgAccess, userId: string, meta: RequestMeta): Promise<void> {
    const leaving = access.actor.type === "user" && access.actor.user.id === userId;
    if (!leaving) requireScope(access, "members:write");
    const orgId = access.org.id;
    const now = Date.now();
    const revoked = await this.#store.db.transaction().execute(async (trx) => {
      // Owner counts are read under the organisation's lock: two owners removing each other never leave none.
      await lockOrg(trx, orgId, this.#store.dialect);
      const target = await findMember(trx, orgId, userId);
      if (!target) throw new TesseraError("not_found", "No such member");
      // Leaving is one's own choice; removing someone else takes the authority their role gives (SPEC §2).
      if (!leaving) {
        enforce(decideRoleChange(policyActor(access), { from: target.role, to: null }, await catalogueNames(trx, orgId)));
      }
      if (target.role === "owner" && (await countOwners(trx, orgId)) <= 1) {
        throw new TesseraError("invalid_state", "The organisation must keep at least one owner");
      }
      await deleteMembership(trx, orgId, userId);
      const tokens = await listUnrevokedPersonalTokens(trx, orgId, userId);
      for (const token of tokens) await updateToken(trx, token.id, revocationPatch(access.actor, MEMBER_REMOVED, now));
      await insertEvents(trx, [
        auditEvent(
          meta,
          access.actor,
          orgId,
          leaving ? "member.left" : "member.removed",
          { type: "user", id: userId, name: target.name },
          { role: target.role, revokedTokens: tokens.map((t) => t.id) },
          now,
        ),
        ...tokens.map((t) =>
          auditEvent(meta, access.actor, orgId, "token.revoked", targetOf(t), { reason: MEMBER_REMOVED }, now),
        ),
      ]);
      return tokens;
    });
    this.#bus.publish({ type: "member", orgId, userId });
    for (const token of revoked) this.#bus.publish({ type: "token", tokenId: token.id });
  }

  async findUser(userId: string) {
    return findUserById(this.#store.db, userId);
  }
}

export async function catalogueOf(store: Store, orgId: string): Promise<CatalogueEntry[]> {
  const product = await listProductScopes(store.db, orgId);
  return [
    ...MANAGEMENT_SCOPES.map((s) => ({ ...s, kind: "management" as const })),
    ...product.map((s) => ({ ...s, kind: "product" as const })),
  ];
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
