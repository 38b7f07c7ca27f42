import { TesseraError } from "../core/errors.js";
import { decideRootInOrg, type InstanceCaller, type PolicyActor } from "../core/policy.js";
import { type Role, rolePermissions, seesAllTokens } from "../core/roles.js";
import { GRANTS_EVERYTHING, type PermissionSet, scopeSet } from "../core/scopes.js";
import type { TokenRecord } from "../core/tokens.js";
import type { OwnerState } from "../core/verification.js";
import { tokenPermissions } from "../core/verification.js";
import type { ActorType } from "../store/audit-repository.js";
import type { Db } from "../store/database.js";
import { findMember } from "../store/memberships-repository.js";
import { findOrg, type OrgRecord } from "../store/orgs-repository.js";
import type { UserRecord } from "../store/users-repository.js";
import type { EmbedScope } from "./embed-service.js";

/** Who is calling: a signed-in person, a token presented as Bearer, or the system (CLI). */
export type Actor =
  | {
      type: "user";
      user: UserRecord;
      /**
       * Set when the person acts through the embedded tokens screen's bearer (SPEC §9): confined to one
       * organisation (others are 404) and, by the HTTP layer, to the tokens screen's routes.
       */
      embed?: EmbedScope;
    }
  | { type: "token"; token: TokenRecord; owner: (UserRecord & OwnerState) | null }
  | { type: "system" };

export function actorRef(actor: Actor): { type: ActorType; id: string | null; name: string | null } {
  switch (actor.type) {
    case "user":
      return { type: "user", id: actor.user.id, name: actor.user.name };
    case "token":
      return { type: "token", id: actor.token.id, name: actor.token.name };
    case "system":
      return { type: "system", id: null, name: "system" };
  }
}

/** What an actor may do in one organisation. */
export interface OrgAccess {
  org: OrgRecord;
  actor: Actor;
  /** The person behind the request (a user, or a personal token's owner); null for service/root/system. */
  userId: string | null;
  /** Their role in the organisation, when a person is behind the request. */
  role: Role | null;
  permissions: PermissionSet;
  /** Owners, admins and organisation-level tokens see every token; members only their own. */
  seesAllTokens: boolean;
}

const notFound = () => new TesseraError("not_found", "No such organisation");

/**
 * Resolves the actor's access to `orgId`. Someone with no standing in the organisation gets 404, never
 * 403, so that the existence of other organisations is not revealed.
 */
export async function resolveOrgAccess(db: Db, actor: Actor, orgId: string): Promise<OrgAccess> {
  const org = await findOrg(db, orgId);
  if (!org) throw notFound();
  switch (actor.type) {
    case "system":
      return { org, actor, userId: null, role: null, permissions: { grants: () => true }, seesAllTokens: true };
    case "user": {
      if (actor.embed !== undefined && actor.embed.orgId !== orgId) throw notFound();
      const member = await findMember(db, orgId, actor.user.id);
      if (!member) throw notFound();
      return {
        org,
        actor,
        userId: actor.user.id,
        role: member.role,
        permissions: rolePermissions(member.role),
        seesAllTokens: seesAllTokens(member.role),
      };
    }
    case "token": {
      const { token } = actor;
      if (token.kind === "root") {
        // Instance scopes, not organisation scopes: instance:admin is every management operation in
        // every organisation; a root token without it has no standing in any organisation.
        const decision = decideRootInOrg(token.scopes);
        if (!decision.allowed) {
          throw new TesseraError("forbidden", decision.reason, { missingScope: decision.missingScope ?? "instance:admin" });
        }
        return { org, actor, userId: null, role: null, permissions: GRANTS_EVERYTHING, seesAllTokens: true };
      }
      if (token.orgId !== orgId) throw notFound();
      if (token.kind === "service") {
        return { org, actor, userId: null, role: null, permissions: scopeSet(token.scopes), seesAllTokens: true };
      }
      const role = actor.owner?.role ?? null;
      return {
        org,
        actor,
        userId: token.ownerId,
        role,
        permissions: tokenPermissions(token, actor.owner),
        seesAllTokens: role !== null && seesAllTokens(role),
      };
    }
  }
}

/** Refuses with 403 (`insufficient_scope` for tokens) unless the access grants `scope`. */
export function requireScope(access: OrgAccess, scope: string): void {
  if (!access.permissions.grants(scope)) {
    throw new TesseraError("forbidden", `This action needs the ${scope} permission`, { missingScope: scope });
  }
}

/** The actor as the policy (`core/policy.ts`) sees it. */
export function policyActor(access: OrgAccess): PolicyActor {
  const { actor } = access;
  const kind =
    actor.type === "system"
      ? "system"
      : actor.type === "user"
        ? "person"
        : actor.token.kind === "personal"
          ? "person"
          : actor.token.kind === "root"
            ? "root"
            : "service";
  return {
    kind,
    personId: access.userId,
    role: access.role,
    permissions: access.permissions,
    seesAllTokens: access.seesAllTokens,
  };
}

/** The actor as the instance-level rules (root tokens, verification) see it. */
export function instanceCaller(actor: Actor): InstanceCaller {
  if (actor.type === "token") return { kind: actor.token.kind, scopes: actor.token.scopes };
  return { kind: actor.type, scopes: [] };
}
