import type { ChangeBus } from "../core/changes.js";
import { isRole } from "../core/roles.js";
import type { PermissionSet } from "../core/scopes.js";
import { hashToken, isWellFormedToken } from "../core/token-format.js";
import type { TokenRecord } from "../core/tokens.js";
import {
  evaluateToken,
  type OwnerState,
  type PreparedToken,
  prepareToken,
  VERIFY_CODES,
  type VerifyCode,
} from "../core/verification.js";
import type { Store } from "../store/database.js";
import { findMember } from "../store/memberships-repository.js";
import { findOrg } from "../store/orgs-repository.js";
import { findTokenBySecretHash } from "../store/tokens-repository.js";
import { findUserById, type UserRecord } from "../store/users-repository.js";
import type { LimitOutcome, LimitState, Limits } from "./limits.js";
import { type CacheEntry, type Slot, TokenCache, type TokenCacheOptions } from "./token-cache.js";
import type { UsageCounter, UsageRecorder } from "./usage-recorder.js";

export interface VerifyRequest {
  token: string;
  scopes?: readonly string[] | undefined;
  ip?: string | null | undefined;
  /** The end client's user agent, as the caller passes it: kept in the token's request history. */
  userAgent?: string | null | undefined;
  /**
   * The organisation the caller may verify for: a service token's own organisation. Undefined means any
   * (a root token, or Tessera's own bearer authentication). Tokens of other organisations are NOT_FOUND.
   */
  orgId?: string | undefined;
  /**
   * `digest(token)` when the caller already has it (a connection presenting the same bearer again): the
   * format check and SHA-256 are then skipped, the rest (cache, status, scopes…) is not. Null: malformed.
   */
  digest?: string | null | undefined;
  /** Units this verification takes from every limit and from the credits (integer ≥ 0, default 1). */
  cost?: number | undefined;
}

export type TokenOwner = UserRecord & OwnerState;

export interface VerifyResult {
  valid: boolean;
  code: VerifyCode;
  /** Present whenever the token was found (so refusals can be explained and audited). */
  token?: TokenRecord;
  owner?: TokenOwner | null;
  scopes?: string[];
  permissions?: PermissionSet;
  /** Every limit that applied (the token's, then its organisation's), as it stands after this check. */
  ratelimits?: LimitState[];
  /** The token's credits after this check; absent when it has none. */
  credits?: { remaining: number } | null;
}

export interface VerifierOptions {
  store: Store;
  pepper: string | undefined;
  /** Rate limits and credits: in memory, or in Redis across instances. */
  limits: Limits;
  usage: UsageRecorder;
  /** Changes from this and other instances; each evicts what it affects from the cache. */
  bus: ChangeBus;
  cache?: Partial<TokenCacheOptions>;
  clock?: () => number;
}

export const DEFAULT_CACHE: TokenCacheOptions = {
  maxEntries: 100_000,
  maxNegativeEntries: 10_000,
  ttlMs: 10_000,
  negativeTtlMs: 10_000,
};

export interface VerifierStats {
  hits: number;
  misses: number;
  /** Background re-reads of entries in use (see `#refresh`). */
  refreshes: number;
  /** Entries now, both pools. */
  size: number;
  /** Of which "no such secret" answers (their own bounded pool). */
  negatives: number;
}

/** The VALID answer for a prepared token: built once per cache entry, frozen, shared. */
function validResultOf(prepared: PreparedToken): VerifyResult {
  return Object.freeze({
    valid: true,
    code: "VALID",
    token: prepared.token,
    owner: prepared.owner as TokenOwner | null,
    scopes: prepared.scopes,
    permissions: prepared.permissions,
  });
}

const MALFORMED: VerifyResult = Object.freeze({ valid: false, code: "MALFORMED" });
const NOT_FOUND: VerifyResult = Object.freeze({ valid: false, code: "NOT_FOUND" });

/**
 * The one verifier (SPEC §5): `POST /v1/verify`, bearer authentication and the middleware all use it.
 * Order: format and checksum (malformed input never touches storage) → SHA-256 → cache (storage on a
 * miss only) → status, expiry, owner, IP, scopes → rate limit → usage recorded in memory. A warm
 * verification neither reads nor writes storage.
 */
export class Verifier {
  readonly #o: VerifierOptions;
  readonly #clock: () => number;
  readonly #cache: TokenCache;
  readonly #unsubscribe: () => void;
  #hits = 0;
  #misses = 0;
  #refreshes = 0;
  /** Outcomes so far, by code (read by the metrics at scrape time, so counting costs one increment). */
  readonly outcomes: Record<VerifyCode, number> = Object.fromEntries(VERIFY_CODES.map((c) => [c, 0])) as Record<
    VerifyCode,
    number
  >;

  constructor(options: VerifierOptions) {
    this.#o = options;
    this.#clock = options.clock ?? Date.now;
    this.#cache = new TokenCache({ ...DEFAULT_CACHE, ...options.cache });
    this.#unsubscribe = options.bus.subscribe((change) => this.#cache.apply(change));
  }

  get stats(): VerifierStats {
    return {
      hits: this.#hits,
      misses: this.#misses,
      refreshes: this.#refreshes,
      size: this.#cache.size,
      negatives: this.#cache.negativeSize,
    };
  }

  /** Drops every cached lookup (tests, operators). */
  clearCache(): void {
    this.#cache.clear();
  }

  close(): void {
    this.#unsubscribe();
  }

  verify(req: VerifyRequest): Promise<VerifyResult> {
    const result = this.check(req);
    return result instanceof Promise ? result : Promise.resolve(result);
  }

  /**
   * {@link verify}, answering at once when nothing has to be waited for (a warm or malformed token, a
   * rate limiter that decides in memory) and with a promise otherwise. The HTTP fast lane uses it to
   * skip the promise machinery on the hot path; everything else can simply `await` it.
   */
  check(req: VerifyRequest): VerifyResult | Promise<VerifyResult> {
    const warm = this.#fromCache(req);
    if (warm !== undefined && !(warm instanceof Promise)) {
      this.outcomes[warm.code]++;
      return warm;
    }
    return (warm ?? this.#verify(req)).then((result) => {
      this.outcomes[result.code]++;
      return result;
    });
  }

  /**
   * {@link check} for a token whose lookup is in memory only: undefined when answering would need
   * storage. Used for addresses over their failure limit, which may still use tokens already known.
   */
  checkCached(req: VerifyRequest): VerifyResult | Promise<VerifyResult> | undefined {
    const warm = this.#fromCache(req);
    if (warm === undefined) return undefined;
    if (!(warm instanceof Promise)) {
      this.outcomes[warm.code]++;
      return warm;
    }
    return warm.then((result) => {
      this.outcomes[result.code]++;
      return result;
    });
  }

  /**
   * The first two steps of verification: the token's format and checksum, then its SHA-256 (HMAC with
   * the pepper) as stored. Null for a malformed token, which must not go further.
   */
  digest(token: string): string | null {
    return isWellFormedToken(token) ? hashToken(token, this.#o.pepper) : null;
  }

  /** The warm path, with no storage: the answer when the token's lookup is cached, else undefined. */
  #fromCache(req: VerifyRequest): VerifyResult | Promise<VerifyResult> | undefined {
    const digest = req.digest === undefined ? this.digest(req.token) : req.digest;
    if (digest === null) return MALFORMED;
    const now = this.#clock();
    const entry = this.#cache.get(digest, now);
    if (!entry) return undefined;
    this.#hits++;
    if (now >= entry.refreshAt && !entry.refreshing) this.#refresh(digest, entry);
    return this.#decide(req, entry, now);
  }

  /**
   * Re-reads a cached lookup in the background, the request that noticed it carrying on with the cached
   * answer (still within its TTL bound): a token in steady use never makes a request wait for storage.
   * A failed or outdated re-read leaves the entry as it was, to be tried again on its next use.
   */
  #refresh(hash: string, entry: CacheEntry): void {
    entry.refreshing = true;
    this.#refreshes++;
    const epoch = this.#cache.epoch;
    this.#lookup(hash).then(
      (found) => {
        const stored = this.#cache.set(hash, found?.prepared ?? null, found?.secretExpiresAt ?? null, this.#clock(), epoch);
        if (!stored) entry.refreshing = false;
      },
      () => {
        entry.refreshing = false;
      },
    );
  }

  /** The cold path: a cache miss reads storage once, then caches what it found (or that nothing was). */
  async #verify(req: VerifyRequest): Promise<VerifyResult> {
    const hash = req.digest ?? hashToken(req.token, this.#o.pepper);
    this.#misses++;
    const epoch = this.#cache.epoch;
    const found = await this.#lookup(hash);
    const now = this.#clock();
    const prepared = found?.prepared ?? null;
    const secretExpiresAt = found?.secretExpiresAt ?? null;
    const entry = this.#cache.set(hash, prepared, secretExpiresAt, now, epoch) ?? { prepared, secretExpiresAt };
    return this.#decide(req, entry, now);
  }

  /** The token's usage counter for this interval, kept on its cache entry so counting looks nothing up. */
  #counter(slot: Slot, tokenId: string): UsageCounter {
    let counter = slot.usage;
    if (counter === undefined || counter.closed) {
      counter = this.#o.usage.counter(tokenId);
      slot.usage = counter;
    }
    return counter;
  }

  /** Status, owner, IP, scopes, then rate limit and usage: everything after the token is found. */
  #decide(req: VerifyRequest, slot: Slot, now: number): VerifyResult | Promise<VerifyResult> {
    const { prepared } = slot;
    if (!prepared || (req.orgId !== undefined && prepared.token.orgId !== req.orgId)) return NOT_FOUND;
    const ip = req.ip ?? null;
    const code = evaluateToken(prepared, slot.secretExpiresAt, now, ip, req.scopes);
    if (code === "NOT_FOUND") return NOT_FOUND;
    const { token } = prepared;
    const userAgent = req.userAgent ?? null;
    if (code === "VALID" && prepared.limits.length === 0 && prepared.credits === null) {
      const counter = this.#counter(slot, token.id);
      counter.add(true, ip, now);
      counter.request(now, code, ip, userAgent, req.scopes);
      slot.valid ??= validResultOf(prepared);
      return slot.valid;
    }
    const base = {
      token,
      owner: prepared.owner as TokenOwner | null,
      scopes: prepared.scopes,
      permissions: prepared.permissions,
    };
    if (code !== "VALID") {
      const counter = this.#counter(slot, token.id);
      counter.add(false, ip, now);
      counter.request(now, code, ip, userAgent, req.scopes);
      return { ...base, valid: false, code };
    }
    const decided = (outcome: LimitOutcome): VerifyResult => {
      const allowed = outcome.code === "VALID";
      const counter = this.#counter(slot, token.id);
      counter.add(allowed, ip, now);
      counter.request(now, outcome.code, ip, userAgent, req.scopes);
      // A literal, not a spread of `base`: this runs for every verification of a token with limits.
      return {
        token: base.token,
        owner: base.owner,
        scopes: base.scopes,
        permissions: base.permissions,
        valid: allowed,
        code: outcome.code,
        ratelimits: outcome.ratelimits,
        credits: outcome.credits,
      };
    };
    const outcome = this.#o.limits.check({ limits: prepared.limits, credits: prepared.credits, cost: req.cost ?? 1, now });
    return outcome instanceof Promise ? outcome.then(decided) : decided(outcome);
  }

  /** Storage: the token with this secret hash and its owner's current role and state. */
  async #lookup(hash: string): Promise<{ prepared: PreparedToken; secretExpiresAt: number | null } | undefined> {
    const { db } = this.#o.store;
    const match = await findTokenBySecretHash(db, hash);
    if (!match) return undefined;
    const { token } = match;
    let owner: TokenOwner | null = null;
    const orgLookup = token.orgId ? findOrg(db, token.orgId) : Promise.resolve(undefined);
    if (token.kind === "personal" && token.ownerId && token.orgId) {
      const [user, member] = await Promise.all([
        findUserById(db, token.ownerId),
        findMember(db, token.orgId, token.ownerId),
        orgLookup,
      ]);
      if (user) {
        owner = { ...user, role: member && isRole(member.role) ? member.role : null, disabled: user.disabledAt !== null };
      }
    }
    const orgLimits = (await orgLookup)?.settings.rateLimits ?? [];
    return { prepared: prepareToken(token, owner, orgLimits), secretExpiresAt: match.secretExpiresAt };
  }
}
