import { isRole } from "../core/roles.js";
import type { PermissionSet } from "../core/scopes.js";
import { hashToken, parseToken } from "../core/token-format.js";
import type { TokenRecord } from "../core/tokens.js";
import { evaluateToken, type OwnerState, type VerifyCode } from "../core/verification.js";
import type { Store } from "../store/database.js";
import { findMember } from "../store/memberships-repository.js";
import { findTokenBySecretHash } from "../store/tokens-repository.js";
import { findUserById, type UserRecord } from "../store/users-repository.js";
import type { RateLimitDecision, RateLimiter } from "./rate-limiter.js";
import type { UsageRecorder } from "./usage-recorder.js";

export interface VerifyRequest {
  token: string;
  scopes?: readonly string[] | undefined;
  ip?: string | null | undefined;
  /**
   * The organisation the caller may verify for: a service token's own organisation. Undefined means any
   * (a root token, or Tessera's own bearer authentication). Tokens of other organisations are NOT_FOUND.
   */
  orgId?: string | undefined;
}

export interface VerifyResult {
  valid: boolean;
  code: VerifyCode;
  /** Present whenever the token was found (so refusals can be explained and audited). */
  token?: TokenRecord;
  owner?: (UserRecord & OwnerState) | null;
  scopes?: string[];
  permissions?: PermissionSet;
  ratelimit?: RateLimitDecision;
}

/** A token found by its hash, with its owner's current standing. */
export interface ResolvedToken {
  token: TokenRecord;
  secretExpiresAt: number | null;
  owner: (UserRecord & OwnerState) | null;
}

export interface VerifierOptions {
  store: Store;
  pepper: string | undefined;
  rateLimiter: RateLimiter;
  usage: UsageRecorder;
  clock?: () => number;
  /** Called with every outcome (metrics). */
  onResult?: (code: VerifyCode) => void;
}

/**
 * The one verifier (SPEC §5): `POST /v1/verify`, bearer authentication and the middleware all use it.
 * Order: format and checksum (no storage for malformed input) → hash → lookup → status, expiry, owner,
 * IP, scopes → rate limit → usage recorded in memory.
 */
export class Verifier {
  readonly #o: VerifierOptions;
  readonly #clock: () => number;

  constructor(options: VerifierOptions) {
    this.#o = options;
    this.#clock = options.clock ?? Date.now;
  }

  async verify(req: VerifyRequest): Promise<VerifyResult> {
    const result = await this.#verify(req);
    this.#o.onResult?.(result.code);
    return result;
  }

  async #verify(req: VerifyRequest): Promise<VerifyResult> {
    if (!parseToken(req.token)) return { valid: false, code: "MALFORMED" };
    const resolved = await this.resolve(hashToken(req.token, this.#o.pepper));
    if (!resolved || (req.orgId !== undefined && resolved.token.orgId !== req.orgId)) {
      return { valid: false, code: "NOT_FOUND" };
    }
    const now = this.#clock();
    const ip = req.ip ?? null;
    const { token, owner } = resolved;
    const evaluation = evaluateToken({ ...resolved, now, ip, requiredScopes: req.scopes });
    const base = { token, owner, scopes: evaluation.scopes, permissions: evaluation.permissions };
    if (evaluation.code === "NOT_FOUND") return { valid: false, code: "NOT_FOUND" };
    if (evaluation.code !== "VALID") {
      this.#o.usage.record(token.id, false, ip, now);
      return { ...base, valid: false, code: evaluation.code };
    }
    let ratelimit: RateLimitDecision | undefined;
    if (token.rateLimit) {
      ratelimit = await this.#o.rateLimiter.consume(token.id, token.rateLimit, now);
      if (!ratelimit.allowed) {
        this.#o.usage.record(token.id, false, ip, now);
        return { ...base, valid: false, code: "RATE_LIMITED", ratelimit };
      }
    }
    this.#o.usage.record(token.id, true, ip, now);
    return ratelimit ? { ...base, valid: true, code: "VALID", ratelimit } : { ...base, valid: true, code: "VALID" };
  }

  /** Finds a token by the hash of its secret, with its owner's current role and state. */
  async resolve(hash: string): Promise<ResolvedToken | undefined> {
    const { db } = this.#o.store;
    const match = await findTokenBySecretHash(db, hash);
    if (!match) return undefined;
    const { token } = match;
    let owner: (UserRecord & OwnerState) | null = null;
    if (token.kind === "personal" && token.ownerId && token.orgId) {
      const [user, member] = await Promise.all([findUserById(db, token.ownerId), findMember(db, token.orgId, token.ownerId)]);
      if (user) {
        owner = { ...user, role: member && isRole(member.role) ? member.role : null, disabled: user.disabledAt !== null };
      }
    }
    return { token, secretExpiresAt: match.secretExpiresAt, owner };
  }
}
