import type { AuditAction } from "../core/audit-actions.js";
import { TesseraError, validationError } from "../core/errors.js";
import { resolveExpiry } from "../core/expiry.js";
import { newId } from "../core/ids.js";
import { INSTANCE_SCOPE_NAMES, unknownInstanceScopes } from "../core/instance-scopes.js";
import { MAX_ALLOWED_IPS, parseCidr } from "../core/ip.js";
import {
  type CreditsInput,
  DEFAULT_LIMIT_NAME,
  loosensLimits,
  type NamedRateLimit,
  normaliseRateLimits,
  refillPeriodStart,
  type TokenCredits,
  validateCredits,
  validateRateLimits,
} from "../core/limits.js";
import {
  decideCreateToken,
  decideExpiryChange,
  decideLimitsChange,
  decideManageRootTokens,
  decideRegenerate,
  decideSeeToken,
  decideTokenAction,
  decideTokensAccess,
  decideTransition,
} from "../core/policy.js";
import { DEFAULT_QUOTAS } from "../core/quotas.js";
import { grantableScopes } from "../core/scopes.js";
import {
  applyTransition,
  canRegenerate,
  deriveStatus,
  MAX_GRACE_SECONDS,
  type TokenStatus,
  type Transition,
} from "../core/status.js";
import { type Environment, generateToken, hashToken } from "../core/token-format.js";
import { blankToken, MAX_METADATA_BYTES, type RateLimit, type TokenKind, type TokenRecord } from "../core/tokens.js";
import { type AuditEvent, insertEvents, listEvents } from "../store/audit-repository.js";
import type { Db, Store } from "../store/database.js";
import {
  findTokenById,
  findTokenForUpdate,
  insertToken,
  listRootTokens,
  listTokenRows,
  replaceSecret,
  type TokenKeyset,
  type TokenSort,
  updateToken,
} from "../store/tokens-repository.js";
import { listTokenRequests, listUsage, type RequestPosition, type TokenRequestRow } from "../store/usage-repository.js";
import { type Actor, actorRef, instanceCaller, type OrgAccess, policyActor, requireScope } from "./actor.js";
import { auditEvent } from "./audit.js";
import { catalogueNames, enforce } from "./authority.js";
import type { ChangeBus } from "./change-bus.js";
import type { Limits } from "./limits.js";
import { QuotaGuard } from "./quotas.js";
import type { RequestMeta } from "./request-meta.js";

export interface CreateTokenInput {
  name: string;
  description?: string | null | undefined;
  kind?: "personal" | "service" | undefined;
  issuedFor?: string | null | undefined;
  scopes?: string[] | undefined;
  expiresAt?: string | null | undefined;
  expiresInDays?: number | null | undefined;
  environment?: Environment | undefined;
  allowedIps?: string[] | undefined;
  /** Older clients' single limit: becomes the limit named `default`. */
  rateLimit?: RateLimit | null | undefined;
  /** Up to five named limits (besides a legacy `rateLimit`, whose name `default` they may then not use). */
  rateLimits?: NamedRateLimit[] | undefined;
  /** Null or absent: unlimited uses. */
  credits?: CreditsInput | null | undefined;
  metadata?: Record<string, unknown> | undefined;
}

export type UpdateTokenInput = Partial<
  Pick<
    CreateTokenInput,
    "name" | "description" | "scopes" | "allowedIps" | "rateLimit" | "rateLimits" | "credits" | "metadata" | "expiresAt"
  >
>;

export interface RegenerateInput {
  graceSeconds?: number | undefined;
  expiresAt?: string | null | undefined;
  expiresInDays?: number | null | undefined;
}

export interface TokenListQuery {
  q?: string | undefined;
  status?: TokenStatus | undefined;
  kind?: TokenKind | undefined;
  ownerId?: string | undefined;
  createdById?: string | undefined;
  unusedForDays?: number | undefined;
  sort?: TokenSort | undefined;
  order?: "asc" | "desc" | undefined;
  limit?: number | undefined;
  cursor?: string | undefined;
}

export type BatchAction = Transition;

export interface BatchItemResult {
  id: string;
  ok: boolean;
  status?: TokenStatus;
  /** The error the single-token endpoint would have answered. */
  error?: TesseraError;
}

const DAY_MS = 86_400_000;

/**
 * List cursors: the last id in createdAt order (as before); for the other sorts the last row's sort key
 * and id, base64url JSON. Opaque to clients.
 */
function encodeCursor(sort: TokenSort, key: string | number | undefined, id: string): string {
  if (sort === "createdAt") return id;
  return Buffer.from(JSON.stringify([sort, key, id])).toString("base64url");
}

function decodeCursor(sort: TokenSort, cursor: string): TokenKeyset {
  const bad = () => validationError("query.cursor", "is not a cursor of this list (pass nextCursor back with the same sort)");
  if (sort === "createdAt") {
    if (!/^tok_[0-9A-Za-z]{22}$/.test(cursor)) throw bad();
    return { id: cursor };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw bad();
  }
  if (!Array.isArray(parsed) || parsed.length !== 3 || parsed[0] !== sort) throw bad();
  const [, key, id] = parsed as [unknown, unknown, unknown];
  const keyOk = sort === "name" ? typeof key === "string" : typeof key === "number" && Number.isFinite(key);
  if (!keyOk || typeof id !== "string" || !/^tok_[0-9A-Za-z]{22}$/.test(id)) throw bad();
  return { key: key as string | number, id };
}

export interface AuditQuery {
  action?: string | undefined;
  actorId?: string | undefined;
  targetId?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  limit?: number | undefined;
  cursor?: string | undefined;
}

const TRANSITION_ACTION: Record<Transition, AuditAction> = {
  deactivate: "token.deactivated",
  activate: "token.activated",
  suspend: "token.suspended",
  resume: "token.resumed",
  revoke: "token.revoked",
};

const tokenNotFound = () => new TesseraError("not_found", "No such token");

function checkName(name: string): string {
  const trimmed = name.trim();
  if (trimmed.length === 0) throw validationError("name", "must not be empty");
  return trimmed;
}

function checkAllowedIps(ips: readonly string[]): string[] {
  if (ips.length > MAX_ALLOWED_IPS) throw validationError("allowedIps", `at most ${MAX_ALLOWED_IPS} entries`);
  return ips.map((ip, i) => {
    const trimmed = ip.trim();
    if (!parseCidr(trimmed))
      throw validationError(`allowedIps[${i}]`, `"${trimmed.slice(0, 64)}" is not an IPv4 or IPv6 address or CIDR`);
    return trimmed;
  });
}

function checkMetadata(metadata: Record<string, unknown>): Record<string, unknown> {
  if (Buffer.byteLength(JSON.stringify(metadata)) > MAX_METADATA_BYTES) {
    throw validationError("metadata", `must be at most ${MAX_METADATA_BYTES} bytes as JSON`);
  }
  return metadata;
}

function checkRateLimits(limits: NamedRateLimit[]): NamedRateLimit[] {
  const errors = validateRateLimits(limits, "rateLimits");
  if (errors.length > 0)
    throw new TesseraError("validation_failed", errors.map((e) => `${e.field}: ${e.message}`).join("; "), { fields: errors });
  return limits;
}

/** Credits as a create or an explicit set stores them: a new generation, the refill period starting now. */
function newCredits(input: CreditsInput, gen: number, now: number): TokenCredits {
  const errors = validateCredits(input, "credits");
  if (errors.length > 0)
    throw new TesseraError("validation_failed", errors.map((e) => `${e.field}: ${e.message}`).join("; "), { fields: errors });
  const refill = input.refill ?? null;
  return {
    remaining: input.remaining,
    refill,
    refilledAt: refill ? refillPeriodStart(refill.interval, now) : null,
    gen,
    seq: 0,
  };
}

/** How credits are shown in an audit event's changes. */
function creditsAudit(c: TokenCredits | null): { remaining: number; refill: TokenCredits["refill"] } | null {
  return c ? { remaining: c.remaining, refill: c.refill } : null;
}

function isPerson(access: OrgAccess): boolean {
  return access.userId !== null;
}

export class TokenService {
  readonly #store: Store;
  readonly #bus: ChangeBus;
  readonly #pepper: string | undefined;
  readonly #quotas: QuotaGuard;
  readonly #limits: Pick<Limits, "forget"> | undefined;

  readonly #now: () => number;

  constructor(
    store: Store,
    bus: ChangeBus,
    pepper: string | undefined,
    quotas = new QuotaGuard(DEFAULT_QUOTAS, store.dialect),
    /** The live limiter: told when credits are set explicitly, so its balance is re-seeded from storage. */
    limits?: Pick<Limits, "forget">,
    now: () => number = Date.now,
  ) {
    this.#now = now;
    this.#store = store;
    this.#bus = bus;
    this.#pepper = pepper;
    this.#quotas = quotas;
    this.#limits = limits;
  }

  async create(access: OrgAccess, input: CreateTokenInput, meta: RequestMeta): Promise<{ token: TokenRecord; secret: string }> {
    const org = access.org;
    const actor = policyActor(access);
    const kind = input.kind ?? (isPerson(access) ? "personal" : "service");
    const catalogue = await catalogueNames(this.#store.db, org.id);
    // Default: the creator's full permission set within the catalogue (SPEC §4).
    const scopes = input.scopes === undefined ? grantableScopes(access.permissions, catalogue) : [...new Set(input.scopes)];
    enforce(decideCreateToken(actor, { kind, scopes }, catalogue, org.settings));
    const name = checkName(input.name);
    const now = Date.now();
    const expiry = resolveExpiry(input, org.settings, now);
    if (!expiry.ok) throw validationError(expiry.error.field, expiry.error.message);
    const allowedIps = checkAllowedIps(input.allowedIps ?? []);
    const metadata = checkMetadata(input.metadata ?? {});
    const rateLimits = checkRateLimits(normaliseRateLimits(input.rateLimit, input.rateLimits) ?? []);
    const credits = input.credits ? newCredits(input.credits, 1, now) : null;
    const environment = input.environment ?? "live";
    const generated = generateToken(org.settings.tokenPrefix, environment);
    const creator = actorRef(access.actor);
    const token: TokenRecord = {
      ...blankToken(now),
      id: newId("token"),
      orgId: org.id,
      kind,
      name,
      description: input.description?.trim() || null,
      issuedFor: input.issuedFor?.trim() || null,
      ownerId: kind === "personal" ? access.userId : null,
      createdById: creator.id,
      createdByName: creator.name,
      prefix: generated.displayPrefix,
      last4: generated.last4,
      environment,
      scopes,
      expiresAt: expiry.expiresAt,
      allowedIps,
      rateLimits,
      credits,
      metadata,
    };
    await this.#store.db.transaction().execute(async (trx) => {
      await this.#quotas.assertNewToken(trx, org.id, token.ownerId);
      await insertToken(trx, token, hashToken(generated.secret, this.#pepper));
      await insertEvents(trx, [
        auditEvent(
          meta,
          access.actor,
          org.id,
          "token.created",
          targetOf(token),
          {
            kind,
            scopes,
            environment,
            expiresAt: token.expiresAt === null ? null : new Date(token.expiresAt).toISOString(),
            prefix: token.prefix,
            ...(rateLimits.length > 0 ? { rateLimits } : {}),
            ...(credits ? { credits: creditsAudit(credits) } : {}),
          },
          now,
        ),
      ]);
    });
    return { token: (await findTokenById(this.#store.db, token.id))!, secret: generated.secret };
  }

  /**
   * An instance-level token for the operator (CLI only), holding instance scopes (SPEC §2): by default
   * all three (`instance:admin`, `tokens:verify`, `orgs:provision`); anything else is refused.
   */
  async createRoot(
    name: string,
    meta: RequestMeta,
    requested: readonly string[] = INSTANCE_SCOPE_NAMES,
  ): Promise<{ token: TokenRecord; secret: string }> {
    const scopes = [...new Set(requested)];
    if (scopes.length === 0) throw validationError("scopes", `name at least one of ${INSTANCE_SCOPE_NAMES.join(", ")}`);
    const unknown = unknownInstanceScopes(scopes);
    if (unknown.length > 0) {
      throw validationError(
        "scopes",
        `unknown instance scope(s): ${unknown.map((s) => JSON.stringify(s.slice(0, 80))).join(", ")} (known: ${INSTANCE_SCOPE_NAMES.join(", ")})`,
      );
    }
    const generated = generateToken("tsr", "live");
    const now = Date.now();
    const token: TokenRecord = {
      ...blankToken(now),
      id: newId("token"),
      kind: "root",
      name: checkName(name),
      createdByName: "system",
      prefix: generated.displayPrefix,
      last4: generated.last4,
      scopes,
    };
    await this.#store.db.transaction().execute(async (trx) => {
      await insertToken(trx, token, hashToken(generated.secret, this.#pepper));
      await insertEvents(trx, [
        auditEvent(meta, { type: "system" }, null, "token.created", targetOf(token), { kind: "root", scopes }, now),
      ]);
    });
    return { token, secret: generated.secret };
  }

  /** Root tokens, newest first: for a root token holding instance:admin, or the CLI (SPEC §2, §4). */
  async listRoot(
    actor: Actor,
    query: { limit?: number | undefined; cursor?: string | undefined },
  ): Promise<{ items: TokenRecord[]; nextCursor: string | null }> {
    enforce(decideManageRootTokens(instanceCaller(actor)));
    const limit = query.limit ?? 50;
    const rows = await listRootTokens(this.#store.db, { before: query.cursor, limit: limit + 1 });
    const items = rows.slice(0, limit);
    return { items, nextCursor: rows.length > limit ? items[items.length - 1]!.id : null };
  }

  /**
   * Revokes a root token, at once on every instance (the change bus evicts it from every verifier's
   * cache), audited. Any id that is not a root token is 404.
   */
  async revokeRoot(actor: Actor, tokenId: string, reason: string | undefined, meta: RequestMeta): Promise<TokenRecord> {
    enforce(decideManageRootTokens(instanceCaller(actor)));
    await this.#store.db.transaction().execute(async (trx) => {
      const token = await findTokenForUpdate(trx, tokenId, this.#store.dialect);
      if (token?.kind !== "root") throw tokenNotFound();
      const now = Date.now();
      const result = applyTransition(token, "revoke", now, { revokeRequiresSuspension: false });
      if (!result.ok) throw new TesseraError("invalid_state", `Cannot revoke: ${result.reason}`);
      await updateToken(trx, token.id, revocationPatch(actor, reason, now));
      const details = reason?.trim() ? { kind: "root", reason: reason.trim() } : { kind: "root" };
      await insertEvents(trx, [auditEvent(meta, actor, null, "token.revoked", targetOf(token), details, now)]);
    });
    this.#bus.publish({ type: "token", tokenId });
    return this.#reload(tokenId);
  }

  async list(access: OrgAccess, query: TokenListQuery): Promise<{ items: TokenRecord[]; nextCursor: string | null }> {
    requireScope(access, "tokens:read");
    enforce(decideTokensAccess(policyActor(access), access.org.settings));
    let ownerId = query.ownerId;
    if (!access.seesAllTokens) {
      if (ownerId !== undefined && ownerId !== access.userId) return { items: [], nextCursor: null };
      ownerId = access.userId ?? "";
    }
    const sort = query.sort ?? "createdAt";
    const limit = query.limit ?? 50;
    const now = Date.now();
    const rows = await listTokenRows(
      this.#store.db,
      {
        orgId: access.org.id,
        dialect: this.#store.dialect,
        ownerId,
        createdById: query.createdById,
        q: query.q,
        status: query.status,
        kind: query.kind,
        unusedBefore: query.unusedForDays === undefined ? undefined : now - query.unusedForDays * DAY_MS,
        sort,
        order: query.order ?? "desc",
        after: query.cursor === undefined ? undefined : decodeCursor(sort, query.cursor),
        limit: limit + 1,
      },
      now,
    );
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      items: page.map((r) => r.token),
      nextCursor: rows.length > limit && last ? encodeCursor(sort, last.key, last.token.id) : null,
    };
  }

  /** A token the access may see; anything else, including other organisations' tokens, is 404. */
  async get(access: OrgAccess, tokenId: string): Promise<TokenRecord> {
    requireScope(access, "tokens:read");
    enforce(decideTokensAccess(policyActor(access), access.org.settings));
    const token = await findTokenById(this.#store.db, tokenId);
    if (!token || token.orgId !== access.org.id) throw tokenNotFound();
    enforce(decideSeeToken(policyActor(access), token));
    return token;
  }

  async update(access: OrgAccess, tokenId: string, input: UpdateTokenInput, meta: RequestMeta): Promise<TokenRecord> {
    const actor = policyActor(access);
    const scopes = input.scopes === undefined ? undefined : [...new Set(input.scopes)];
    // Read before the transaction (SQLite has one connection); decided against the locked row below.
    const catalogue = scopes === undefined ? [] : await catalogueNames(this.#store.db, access.org.id);
    const allowedIps = input.allowedIps === undefined ? undefined : checkAllowedIps(input.allowedIps);
    if (input.metadata !== undefined) checkMetadata(input.metadata);
    const name = input.name === undefined ? undefined : checkName(input.name);
    if (input.rateLimits !== undefined) checkRateLimits(input.rateLimits);
    if (input.credits) newCredits(input.credits, 0, 0);
    let creditsSet = false;
    let requestedExpiry: number | null | undefined;
    if (input.expiresAt !== undefined) {
      requestedExpiry = input.expiresAt === null ? null : Date.parse(input.expiresAt);
      if (requestedExpiry !== null && Number.isNaN(requestedExpiry)) throw validationError("expiresAt", "is not a date-time");
    }
    await this.#mutate(access, tokenId, async (token, now) => {
      enforce(decideTokenAction(actor, token, { type: "edit", scopes }, { catalogue, settings: access.org.settings }));
      if (token.revokedAt !== null) throw new TesseraError("invalid_state", "A revoked token cannot be edited");
      if (requestedExpiry !== undefined && requestedExpiry !== token.expiresAt) {
        enforce(
          decideExpiryChange(actor, token, { current: token.expiresAt, requested: requestedExpiry, now }, access.org.settings),
        );
      }
      const changes: Record<string, { from: unknown; to: unknown }> = {};
      const patch: Record<string, unknown> = { updated_at: now };
      const set = (key: string, column: string, from: unknown, to: unknown, stored: unknown = to) => {
        if (JSON.stringify(from) === JSON.stringify(to)) return;
        changes[key] = { from, to };
        patch[column] = stored;
      };
      if (name !== undefined) set("name", "name", token.name, name);
      if (input.description !== undefined)
        set("description", "description", token.description, input.description?.trim() || null);
      if (allowedIps !== undefined) set("allowedIps", "allowed_ips", token.allowedIps, allowedIps, JSON.stringify(allowedIps));
      let rateLimits: NamedRateLimit[] | undefined = input.rateLimits;
      if (input.rateLimit !== undefined) {
        // Older clients: the legacy single limit is the one named `default`; the other named limits stay.
        const others = (rateLimits ?? token.rateLimits).filter((l) => l.name !== DEFAULT_LIMIT_NAME);
        rateLimits = checkRateLimits([...(normaliseRateLimits(input.rateLimit, undefined) ?? []), ...others]);
      }
      enforce(decideLimitsChange(actor, token, loosensLimits(token, { rateLimits, credits: input.credits })));
      if (rateLimits !== undefined)
        set("rateLimits", "rate_limits", token.rateLimits, rateLimits, rateLimits.length > 0 ? JSON.stringify(rateLimits) : null);
      if (input.credits !== undefined) {
        const before = creditsAudit(token.credits);
        const after = input.credits ? { remaining: input.credits.remaining, refill: input.credits.refill ?? null } : null;
        if (JSON.stringify(before) !== JSON.stringify(after) || input.credits !== null) {
          // An explicit set, even of the same figures: the live balance (which may have moved) is replaced.
          const next = input.credits ? newCredits(input.credits, (token.credits?.gen ?? 0) + 1, now) : null;
          changes.credits = { from: before, to: after };
          patch.credits_remaining = next?.remaining ?? null;
          patch.credits_refill = next?.refill ? JSON.stringify(next.refill) : null;
          patch.credits_refilled_at = next?.refilledAt ?? null;
          patch.credits_gen = next?.gen ?? (token.credits?.gen ?? 0) + 1;
          patch.credits_seq = 0;
          creditsSet = true;
        }
      }
      if (input.metadata !== undefined)
        set("metadata", "metadata", token.metadata, input.metadata, JSON.stringify(input.metadata));
      if (requestedExpiry !== undefined)
        set("expiresAt", "expires_at", isoOrNull(token.expiresAt), isoOrNull(requestedExpiry), requestedExpiry);
      const scopesChanged = scopes !== undefined && JSON.stringify(scopes) !== JSON.stringify(token.scopes);
      if (scopesChanged) patch.scopes = JSON.stringify(scopes);
      const events: AuditEvent[] = [];
      if (Object.keys(changes).length > 0)
        events.push(auditEvent(meta, access.actor, token.orgId, "token.updated", targetOf(token), { changes }, now));
      if (scopesChanged) {
        events.push(
          auditEvent(
            meta,
            access.actor,
            token.orgId,
            "token.scopes_changed",
            targetOf(token),
            {
              from: token.scopes,
              to: scopes,
              added: scopes.filter((s) => !token.scopes.includes(s)),
              removed: token.scopes.filter((s) => !scopes.includes(s)),
            },
            now,
          ),
        );
      }
      return { patch: events.length > 0 ? patch : null, events };
    });
    if (creditsSet) await this.#limits?.forget(tokenId);
    return this.#reload(tokenId);
  }

  async transition(
    access: OrgAccess,
    tokenId: string,
    transition: Transition,
    reason: string | undefined,
    meta: RequestMeta,
  ): Promise<TokenRecord> {
    await this.#mutate(access, tokenId, async (token, now) =>
      transitionStep(
        access,
        token,
        transition,
        reason,
        meta,
        now,
        transition === "revoke" && reason ? { reason: reason.trim() } : {},
      ),
    );
    return this.#reload(tokenId);
  }

  /**
   * A change the system makes to one token on its own (the notice scheduler, the leak response): the same
   * lock, visibility and transaction as a person's change, with the system as actor. `change` may write
   * more in the transaction (a notice claim, a mail) and returns null to write nothing at all (the claim
   * was another instance's). Build transitions with {@link transitionStep}, so they pass the same policy.
   * True when something was written; the token's cached state is dropped everywhere when it was changed.
   */
  async systemChange(
    access: OrgAccess,
    tokenId: string,
    change: (token: TokenRecord, now: number, trx: Db) => Promise<TokenChange | null>,
  ): Promise<boolean> {
    let written = false;
    await this.#mutate(access, tokenId, async (token, now, trx) => {
      const result = await change(token, now, trx);
      written = result !== null;
      return result ?? { patch: null, events: [] };
    });
    return written;
  }

  /** A new secret; the old one dies now or after a grace period of at most 7 days. */
  async regenerate(
    access: OrgAccess,
    tokenId: string,
    input: RegenerateInput,
    meta: RequestMeta,
  ): Promise<{ token: TokenRecord; secret: string }> {
    const actor = policyActor(access);
    const grace = input.graceSeconds ?? 0;
    if (!Number.isInteger(grace) || grace < 0 || grace > MAX_GRACE_SECONDS) {
      throw validationError("graceSeconds", `must be a whole number of seconds from 0 to ${MAX_GRACE_SECONDS} (7 days)`);
    }
    let secret = "";
    await this.#mutate(access, tokenId, async (token, now, trx) => {
      // Against the row as locked: a concurrent scope edit cannot slip between the check and the secret.
      enforce(decideRegenerate(actor, token, access.org.settings));
      if (!canRegenerate(token)) throw new TesseraError("invalid_state", "A revoked token cannot be regenerated");
      let expiresAt = token.expiresAt;
      const expired = expiresAt !== null && expiresAt <= now;
      if (input.expiresAt !== undefined || (input.expiresInDays !== undefined && input.expiresInDays !== null) || expired) {
        const expiry = resolveExpiry(input, access.org.settings, now);
        if (!expiry.ok) throw validationError(expiry.error.field, expiry.error.message);
        expiresAt = expiry.expiresAt;
      }
      const generated = generateToken(access.org.settings.tokenPrefix, token.environment);
      secret = generated.secret;
      const previousExpiresAt = grace > 0 ? now + grace * 1000 : null;
      await replaceSecret(trx, token.id, hashToken(generated.secret, this.#pepper), now, previousExpiresAt);
      return {
        patch: {
          prefix: generated.displayPrefix,
          last4: generated.last4,
          expires_at: expiresAt,
          regenerated_at: now,
          previous_secret_expires_at: previousExpiresAt,
          updated_at: now,
        },
        events: [
          auditEvent(
            meta,
            access.actor,
            token.orgId,
            "token.regenerated",
            targetOf(token),
            {
              graceSeconds: grace,
              previousSecretExpiresAt: previousExpiresAt === null ? null : new Date(previousExpiresAt).toISOString(),
              expiresAt: expiresAt === null ? null : new Date(expiresAt).toISOString(),
            },
            now,
          ),
        ],
      };
    });
    return { token: await this.#reload(tokenId), secret };
  }

  /**
   * `POST …/tokens/batch`: each id exactly as the single-token transition would do it (same policy, its
   * own transaction), so one refusal never undoes or blocks the others. The caller's standing (tokens:write,
   * the tokens screen) is checked once, before any id: without it the whole request is refused.
   */
  async batch(
    access: OrgAccess,
    action: BatchAction,
    ids: readonly string[],
    reason: string | undefined,
    meta: RequestMeta,
  ): Promise<BatchItemResult[]> {
    requireScope(access, "tokens:write");
    enforce(decideTokensAccess(policyActor(access), access.org.settings));
    const results: BatchItemResult[] = [];
    for (const id of ids) {
      try {
        const token = await this.transition(access, id, action, action === "revoke" ? reason : undefined, meta);
        results.push({ id, ok: true, status: deriveStatus(token, Date.now()) });
      } catch (error) {
        if (!(error instanceof TesseraError)) throw error;
        results.push({ id, ok: false, error });
      }
    }
    return results;
  }

  /** The token's recent verifications, newest first (kept 30 days or the last 10,000). */
  async requests(
    access: OrgAccess,
    tokenId: string,
    query: { limit?: number | undefined; cursor?: string | undefined },
  ): Promise<{ items: TokenRequestRow[]; nextCursor: string | null }> {
    const token = await this.get(access, tokenId);
    const limit = query.limit ?? 50;
    let after: RequestPosition | undefined;
    if (query.cursor !== undefined) {
      // The last item's position: its batch's time and id, and its index in the batch.
      const match = /^(\d{1,16})\.(req_[0-9A-Za-z]{22})\.(\d{1,6})$/.exec(query.cursor);
      if (!match) throw validationError("query.cursor", "is not a cursor of this list");
      after = { at: Number(match[1]), batchId: match[2]!, index: Number(match[3]) };
    }
    const rows = await listTokenRequests(this.#store.db, token.id, after, limit + 1);
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    return {
      items,
      nextCursor: rows.length > limit && last ? `${last.position.at}.${last.position.batchId}.${last.position.index}` : null,
    };
  }

  async usage(access: OrgAccess, tokenId: string, from: number, to: number, interval: "hour" | "day") {
    const token = await this.get(access, tokenId);
    const step = interval === "hour" ? 3600_000 : 86_400_000;
    const start = from - (from % step);
    const rows = await listUsage(this.#store.db, token.id, start, to);
    const buckets: { start: number; ok: number; denied: number }[] = [];
    for (let t = start; t < to; t += step) buckets.push({ start: t, ok: 0, denied: 0 });
    for (const row of rows) {
      const bucket = buckets[Math.floor((row.start - start) / step)];
      if (bucket) {
        bucket.ok += row.ok;
        bucket.denied += row.denied;
      }
    }
    return buckets;
  }

  async tokenAudit(access: OrgAccess, tokenId: string, query: AuditQuery) {
    const token = await this.get(access, tokenId);
    return this.#events(access, { ...query, targetId: token.id });
  }

  async orgAudit(access: OrgAccess, query: AuditQuery) {
    requireScope(access, "audit:read");
    return this.#events(access, query);
  }

  async #events(access: OrgAccess, query: AuditQuery) {
    const limit = query.limit ?? 50;
    const rows = await listEvents(this.#store.db, {
      orgId: access.org.id,
      action: query.action,
      actorId: query.actorId,
      targetId: query.targetId,
      from: query.from ? Date.parse(query.from) : undefined,
      to: query.to ? Date.parse(query.to) : undefined,
      before: query.cursor,
      limit: limit + 1,
    });
    const items = rows.slice(0, limit);
    return { items, nextCursor: rows.length > limit ? items[items.length - 1]!.id : null };
  }

  /**
   * One transaction for a change to one token: lock, check visibility, apply, audit. The cache is told
   * after commit.
   */
  async #mutate(
    access: OrgAccess,
    tokenId: string,
    change: (token: TokenRecord, now: number, trx: Parameters<typeof updateToken>[0]) => Promise<TokenChange>,
  ): Promise<void> {
    let changed = false;
    // tokens:write before looking (403 before 404, as for every token change); the use case's own
    // decision, inside `change`, repeats it with the rest of its rules against the locked row.
    requireScope(access, "tokens:write");
    enforce(decideTokensAccess(policyActor(access), access.org.settings));
    await this.#store.db.transaction().execute(async (trx) => {
      const token = await findTokenForUpdate(trx, tokenId, this.#store.dialect);
      if (!token || token.orgId !== access.org.id) throw tokenNotFound();
      enforce(decideSeeToken(policyActor(access), token));
      const { patch, events } = await change(token, this.#now(), trx);
      if (patch) await updateToken(trx, tokenId, patch);
      await insertEvents(trx, events);
      changed = patch !== null;
    });
    if (changed) this.#bus.publish({ type: "token", tokenId });
  }

  async #reload(tokenId: string): Promise<TokenRecord> {
    return (await findTokenById(this.#store.db, tokenId))!;
  }
}

/**
 * The columns a revocation sets, whoever revokes (a transition, a root-token revocation, a member's
 * removal): when, by whom (kept by name too, for after the actor is gone) and why.
 */
export function revocationPatch(by: Actor, reason: string | null | undefined, now: number): Record<string, unknown> {
  const ref = actorRef(by);
  return {
    updated_at: now,
    revoked_at: now,
    revoked_by_id: ref.id,
    revoked_by_name: ref.name,
    revoke_reason: reason?.trim() || null,
  };
}

function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** What one change to a token writes: the row's new columns (null: none) and its audit events. */
export interface TokenChange {
  patch: Record<string, unknown> | null;
  events: AuditEvent[];
}

/**
 * A status transition of a locked token as the policy allows it (`decideTransition`, `applyTransition`):
 * the patch and its audit event (`details` added to it). Throws `forbidden` / `invalid_state` as the
 * transition endpoints answer.
 */
export function transitionStep(
  access: OrgAccess,
  token: TokenRecord,
  transition: Transition,
  reason: string | null | undefined,
  meta: RequestMeta,
  now: number,
  details: Record<string, unknown> = {},
): TokenChange {
  enforce(decideTransition(policyActor(access), token, transition));
  const result = applyTransition(token, transition, now, access.org.settings);
  if (!result.ok) throw new TesseraError("invalid_state", `Cannot ${transition}: ${result.reason}`);
  const patch: Record<string, unknown> =
    "revokedAt" in result.patch ? revocationPatch(access.actor, reason, now) : { updated_at: now };
  if ("suspendedAt" in result.patch) patch.suspended_at = result.patch.suspendedAt;
  if ("deactivatedAt" in result.patch) patch.deactivated_at = result.patch.deactivatedAt;
  return {
    patch,
    events: [auditEvent(meta, access.actor, token.orgId, TRANSITION_ACTION[transition], targetOf(token), details, now)],
  };
}

export function targetOf(token: TokenRecord) {
  return { type: "token", id: token.id, name: token.name };
}
