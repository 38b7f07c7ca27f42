import { timingSafeEqual } from "node:crypto";
import * as client from "openid-client";
import type { OidcConfig } from "../config.js";
import { TesseraError, validationError } from "../core/errors.js";
import { newId } from "../core/ids.js";
import { forbiddenNameCharacter } from "../core/names.js";
import { MAX_NAME_LENGTH } from "../core/tokens.js";
import { insertEvents } from "../store/audit-repository.js";
import type { Store } from "../store/database.js";
import { hasPendingInvitation } from "../store/invitations-repository.js";
import {
  findOidcIdentity,
  findUserByEmail,
  findUserByOidcIdentity,
  insertUser,
  linkOidcIdentity,
  NO_PASSWORD,
  type UserRecord,
} from "../store/users-repository.js";
import type { Actor } from "./actor.js";
import { auditEvent } from "./audit.js";
import { normalizeEmail } from "./auth-service.js";
import { FailureLimiter } from "./failure-limiter.js";
import type { RequestMeta } from "./request-meta.js";
import { type NewSession, openSession } from "./sessions.js";

/** A sign-in started here must come back within this long (the provider's login page included). */
export const OIDC_FLOW_TTL_MS = 10 * 60_000;
/** Seconds to wait for the provider (discovery, token, keys, userinfo) before giving up. */
const PROVIDER_TIMEOUT_SECONDS = 10;

/**
 * What one browser's sign-in holds between leaving for the provider and coming back: kept in that
 * browser (an HttpOnly cookie scoped to the callback), so that the answer is accepted only in the browser
 * that asked (state), only with the ID token minted for this request (nonce), and the code only with the
 * verifier that never left this browser and server (PKCE).
 */
export interface OidcFlow {
  state: string;
  nonce: string;
  verifier: string;
  /** A path on this server (checked by `safeReturnTo`) to land on after signing in. */
  returnTo: string;
  startedAt: number;
}

/**
 * Why an OpenID Connect sign-in was refused: audited as `details.reason` and handed to the console
 * (`?signin_error=`), which explains it. Never more than the person who tried can learn anyway.
 */
export type OidcFailure =
  | "state_mismatch"
  | "expired"
  | "provider_error"
  | "issuer_mismatch"
  | "nonce_mismatch"
  | "code_rejected"
  | "invalid_response"
  | "email_not_verified"
  | "no_account"
  | "account_disabled"
  | "account_linked"
  | "rate_limited";

export class OidcSignInError extends Error {
  readonly reason: OidcFailure;
  constructor(reason: OidcFailure, message: string = reason) {
    super(message);
    this.name = "OidcSignInError";
    this.reason = reason;
  }
}

export interface OidcOptions {
  config: OidcConfig;
  /** `<TESSERA_PUBLIC_URL>/v1/auth/oidc/callback`: registered at the provider, sent in every request. */
  redirectUrl: string;
  /** `TESSERA_PUBLIC_URL`: the only origin `returnTo` may point to. */
  publicUrl: string;
  sessionTtlMs: number;
  /** Failed sign-ins per client address per 15 minutes before the callback refuses at once. */
  failuresPerAddress: number;
}

/** The identity the provider vouched for, after every check. */
interface Identity {
  issuer: string;
  subject: string;
  email: string | null;
  emailVerified: boolean;
  name: string | null;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function hasControl(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/**
 * A path on this server, never another origin (an open redirect would hand a freshly signed-in person to
 * an attacker's page): one leading slash, no backslash or control character, same origin once resolved.
 * Undefined when not such a path.
 */
export function safeReturnTo(value: string, publicUrl: string): string | undefined {
  if (value.length > 2048 || !value.startsWith("/") || value.startsWith("//") || value.includes("\\") || hasControl(value)) {
    return undefined;
  }
  const base = new URL(publicUrl);
  let url: URL;
  try {
    url = new URL(value, base);
  } catch {
    return undefined;
  }
  if (url.origin !== base.origin) return undefined;
  return `${url.pathname}${url.search}${url.hash}`;
}

/**
 * OpenID Connect sign-in for the console (SPEC §9): authorisation code with PKCE (`openid-client`), state
 * and nonce checked, the ID token's issuer, audience, signature and lifetime verified by the library.
 *
 * Who may sign in (the rule where the SPEC is silent, chosen to never grow anyone's access):
 * 1. the account already linked to this issuer and subject;
 * 2. else the account whose email the provider says is verified (`email_verified: true`), which is then
 *    linked; an account linked to another subject of the same issuer is refused (`account_linked`);
 * 3. else, when that verified email has a pending invitation, a new account without a password and
 *    without any organisation: joining still takes accepting the invitation (SPEC §2);
 * 4. anybody else is refused (`no_account`): the provider's users are not all Tessera's.
 * Every attempt that reached the callback is one audit event at instance level, like a password sign-in.
 */
export class OidcService {
  readonly #store: Store;
  readonly #options: OidcOptions;
  readonly #failures: FailureLimiter;
  #discovered: Promise<client.Configuration> | undefined;

  constructor(store: Store, options: OidcOptions) {
    this.#store = store;
    this.#options = options;
    this.#failures = new FailureLimiter(options.failuresPerAddress, 15 * 60_000);
  }

  get name(): string {
    return this.#options.config.name;
  }

  /**
   * The provider's metadata, discovered once from the issuer (whose answer must name the same issuer) and
   * kept; a failed discovery is tried again at the next sign-in rather than remembered.
   */
  async #configuration(): Promise<client.Configuration> {
    this.#discovered ??= (async () => {
      const { issuer, clientId, clientSecret } = this.#options.config;
      const insecure = new URL(issuer).protocol === "http:";
      return client.discovery(
        new URL(issuer),
        clientId,
        clientSecret === undefined ? { token_endpoint_auth_method: "none" } : { client_secret: clientSecret },
        clientSecret === undefined ? client.None() : client.ClientSecretBasic(clientSecret),
        { timeout: PROVIDER_TIMEOUT_SECONDS, ...(insecure ? { execute: [client.allowInsecureRequests] } : {}) },
      );
    })();
    try {
      return await this.#discovered;
    } catch (error) {
      this.#discovered = undefined;
      throw error;
    }
  }

  /** Starts a sign-in: the provider's authorisation URL, and the flow the browser keeps until it returns. */
  async begin(returnTo: string | undefined): Promise<{ authorizationUrl: string; flow: OidcFlow }> {
    const target = returnTo === undefined ? "/" : safeReturnTo(returnTo, this.#options.publicUrl);
    if (target === undefined) throw validationError("returnTo", "must be a path on this server, starting with a single /");
    let configuration: client.Configuration;
    try {
      configuration = await this.#configuration();
    } catch (error) {
      throw new TesseraError(
        "service_unavailable",
        `The identity provider could not be reached or did not identify itself as ${this.#options.config.issuer}: ${describe(error)}`,
        { retryAfterSeconds: 30 },
      );
    }
    const flow: OidcFlow = {
      state: client.randomState(),
      nonce: client.randomNonce(),
      verifier: client.randomPKCECodeVerifier(),
      returnTo: target,
      startedAt: Date.now(),
    };
    const url = client.buildAuthorizationUrl(configuration, {
      redirect_uri: this.#options.redirectUrl,
      scope: this.#options.config.scopes.join(" "),
      response_type: "code",
      state: flow.state,
      nonce: flow.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(flow.verifier),
      code_challenge_method: "S256",
    });
    return { authorizationUrl: url.href, flow };
  }

  /**
   * Completes a sign-in from the provider's answer (`query`, the callback's query string) and the flow
   * this browser kept (undefined when it kept none). Opens a console session, or throws
   * {@link OidcSignInError} after auditing why.
   */
  async complete(
    query: string,
    flow: OidcFlow | undefined,
    meta: RequestMeta,
  ): Promise<{ user: UserRecord; session: NewSession; returnTo: string }> {
    const address = meta.ip ?? "unknown";
    if (this.#failures.retryAfter(address, Date.now()) > 0) {
      throw new OidcSignInError("rate_limited", "Too many failed sign-ins from this address");
    }
    let identity: Identity | undefined;
    try {
      identity = await this.#identity(query, flow);
      return await this.#signIn(identity, flow!, meta);
    } catch (error) {
      const failure =
        error instanceof OidcSignInError
          ? error
          : error instanceof TesseraError && error.code === "conflict"
            ? new OidcSignInError("account_linked", error.message)
            : undefined;
      if (!failure) throw error;
      const throttled = this.#failures.fail(address, Date.now());
      await this.#auditFailure(failure, identity, meta, throttled);
      throw failure;
    }
  }

  /** The provider's answer, checked: state (here), then issuer, PKCE, ID token and nonce (openid-client). */
  async #identity(query: string, flow: OidcFlow | undefined): Promise<Identity> {
    const params = new URLSearchParams(query);
    const state = params.get("state");
    if (!flow || state === null || !sameSecret(state, flow.state)) {
      throw new OidcSignInError("state_mismatch", "The answer does not belong to a sign-in started in this browser");
    }
    if (Date.now() - flow.startedAt > OIDC_FLOW_TTL_MS) throw new OidcSignInError("expired", "The sign-in took too long");
    const configuration = await this.#configuration().catch((error: unknown) => {
      throw new OidcSignInError("invalid_response", `The identity provider could not be reached: ${describe(error)}`);
    });
    const issuer = configuration.serverMetadata().issuer;
    // RFC 9207: an answer naming another issuer is a mix-up attack (or a misconfiguration); said as such.
    const iss = params.get("iss");
    if (iss !== null && iss !== issuer)
      throw new OidcSignInError("issuer_mismatch", `The answer names issuer ${iss.slice(0, 200)}`);
    const current = new URL(this.#options.redirectUrl);
    current.search = params.toString();
    let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
    try {
      tokens = await client.authorizationCodeGrant(configuration, current, {
        expectedState: flow.state,
        expectedNonce: flow.nonce,
        pkceCodeVerifier: flow.verifier,
        idTokenExpected: true,
      });
    } catch (error) {
      throw classify(error);
    }
    const claims = tokens.claims();
    if (!claims) throw new OidcSignInError("invalid_response", "The provider returned no ID token");
    // Providers that keep the ID token small (oidc-provider's default among them) give the email at the
    // userinfo endpoint; both claims are taken from one source, never mixed.
    let source: Record<string, unknown> = claims;
    if (claims.email === undefined && configuration.serverMetadata().userinfo_endpoint) {
      try {
        source = await client.fetchUserInfo(configuration, tokens.access_token, claims.sub);
      } catch (error) {
        throw classify(error);
      }
    }
    const email = typeof source.email === "string" && source.email.length <= 320 ? normalizeEmail(source.email) : null;
    const name = typeof source.name === "string" ? source.name : typeof claims.name === "string" ? claims.name : null;
    return {
      issuer: claims.iss,
      subject: claims.sub,
      email: email && !email.includes("\u0000") ? email : null,
      emailVerified: source.email_verified === true,
      name,
    };
  }

  /** Finds (or, when invited, creates) the account and opens its session: one transaction. */
  async #signIn(identity: Identity, flow: OidcFlow, meta: RequestMeta) {
    const now = Date.now();
    return this.#store.db.transaction().execute(async (trx) => {
      let user: UserRecord | undefined = await findUserByOidcIdentity(trx, identity.issuer, identity.subject);
      let linked = false;
      let created = false;
      if (!user) {
        if (!identity.email || !identity.emailVerified) {
          throw new OidcSignInError("email_not_verified", "The provider did not vouch for the email address");
        }
        const byEmail = await findUserByEmail(trx, identity.email);
        if (byEmail) {
          const { passwordHash: _omit, ...found } = byEmail;
          // A person the host product provisioned (SPEC §9) signs in through the host, never here: the
          // host stays the source of truth for who they are and which organisations they reach.
          if (found.externalId != null) {
            throw new OidcSignInError("account_linked", "The account is managed by the host product; sign in there");
          }
          user = found;
          const link = await findOidcIdentity(trx, user.id);
          if (link.issuer === identity.issuer && link.subject !== null && link.subject !== identity.subject) {
            throw new OidcSignInError("account_linked", "The account is linked to another identity at this provider");
          }
        } else if (await hasPendingInvitation(trx, identity.email, now)) {
          user = {
            id: newId("user"),
            email: identity.email,
            name: displayName(identity),
            instanceAdmin: false,
            disabledAt: null,
            createdAt: now,
          };
          await insertUser(trx, { ...user, passwordHash: NO_PASSWORD });
          created = true;
        } else {
          throw new OidcSignInError("no_account", "No account has this email, and it has no pending invitation");
        }
        if (user.disabledAt !== null) throw new OidcSignInError("account_disabled", "The account is disabled");
        if (!(await linkOidcIdentity(trx, user.id, identity.issuer, identity.subject, now))) {
          throw new OidcSignInError("account_linked", "The account is linked to another identity at this provider");
        }
        linked = true;
      }
      if (user.disabledAt !== null) throw new OidcSignInError("account_disabled", "The account is disabled");
      const actor: Actor = { type: "user", user };
      const details = { method: "oidc", issuer: identity.issuer, ...(linked ? { linked } : {}), ...(created ? { created } : {}) };
      await insertEvents(trx, [
        auditEvent(meta, actor, null, "auth.login", { type: "user", id: user.id, name: user.name }, details, now),
      ]);
      const session = await openSession(trx, user.id, this.#options.sessionTtlMs, now, meta);
      return { user, session, returnTo: safeReturnTo(flow.returnTo, this.#options.publicUrl) ?? "/" };
    });
  }

  async #auditFailure(failure: OidcSignInError, identity: Identity | undefined, meta: RequestMeta, throttled: boolean) {
    let user: UserRecord | undefined;
    if (identity) {
      user = await findUserByOidcIdentity(this.#store.db, identity.issuer, identity.subject);
      if (!user && identity.email) {
        const found = await findUserByEmail(this.#store.db, identity.email);
        if (found) {
          const { passwordHash: _omit, ...rest } = found;
          user = rest;
        }
      }
    }
    const actor: Actor = user ? { type: "user", user } : { type: "system" };
    const target = user ? { type: "user", id: user.id, name: user.name } : null;
    const details = {
      method: "oidc",
      reason: failure.reason,
      message: failure.message.slice(0, 300),
      issuer: identity?.issuer ?? this.#options.config.issuer,
      ...(identity ? { subject: identity.subject.slice(0, 255), email: identity.email?.slice(0, 320) ?? null } : {}),
    };
    const now = Date.now();
    const events = [auditEvent(meta, actor, null, "auth.login_failed", target, details, now)];
    if (throttled)
      events.push(auditEvent(meta, actor, null, "auth.login_throttled", target, { method: "oidc", ip: meta.ip }, now));
    await insertEvents(this.#store.db, events);
  }
}

/** The provider's name for a new account, when it is one Tessera accepts for a name; else the email's local part. */
function displayName(identity: Identity): string {
  const name = identity.name?.trim() ?? "";
  if (name && name.length <= MAX_NAME_LENGTH && !forbiddenNameCharacter(name)) return name;
  const local = (identity.email ?? "user").split("@")[0]!.slice(0, MAX_NAME_LENGTH);
  return local && !forbiddenNameCharacter(local) ? local : "user";
}

function describe(error: unknown): string {
  const cause = (error as { cause?: unknown })?.cause;
  const inner = cause instanceof Error ? `: ${cause.message}` : "";
  return `${error instanceof Error ? error.message : String(error)}${inner}`.slice(0, 300);
}

/** openid-client's refusals as reasons: the detail of a claim comparison is in its cause. */
function classify(error: unknown): OidcSignInError {
  if (error instanceof client.AuthorizationResponseError) {
    return new OidcSignInError("provider_error", `The provider answered ${error.error}: ${error.error_description ?? ""}`);
  }
  if (error instanceof client.ResponseBodyError) {
    // invalid_grant: a code used twice, expired, or not matching its PKCE verifier or redirect URL.
    return new OidcSignInError(
      "code_rejected",
      `The provider refused the code (${error.error}): ${error.error_description ?? ""}`,
    );
  }
  const text = describe(error);
  if (/"nonce"/.test(text)) return new OidcSignInError("nonce_mismatch", text);
  if (/"iss"|issuer/.test(text)) return new OidcSignInError("issuer_mismatch", text);
  return new OidcSignInError("invalid_response", text);
}
