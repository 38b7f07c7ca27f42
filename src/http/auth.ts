import { timingSafeEqual } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";
import { TesseraError } from "../core/errors.js";
import type { VerifyCode } from "../core/verification.js";
import type { Actor, OrgAccess } from "../services/actor.js";
import type { RequestMeta } from "../services/request-meta.js";
import type { VerifyResult } from "../services/verifier.js";
import type { Tessera } from "../tessera.js";
import { metaOf } from "./context.js";
import { HTTPS_REQUIRED_DETAIL } from "./problem.js";

export const SESSION_COOKIE = "tessera_session";
export const CSRF_COOKIE = "tessera_csrf";
export const CSRF_HEADER = "x-csrf-token";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

const REFUSAL_DETAIL: Partial<Record<VerifyCode, string>> = {
  MALFORMED: "The bearer token is malformed",
  NOT_FOUND: "The bearer token is not recognised",
  EXPIRED: "The bearer token has expired",
  INACTIVE: "The bearer token is deactivated",
  SUSPENDED: "The bearer token is suspended",
  REVOKED: "The bearer token has been revoked",
  OWNER_DISABLED: "The bearer token's owner is no longer a member",
};

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Whether the client's connection was HTTPS (directly, or per a trusted proxy's X-Forwarded-Proto). */
export function isHttps(request: FastifyRequest): boolean {
  return request.protocol === "https";
}

/**
 * Who is calling: a bearer token (verified by the one verifier, so revocation applies at once) or the
 * console's session cookie, with the double-submit CSRF check on mutating requests. Throws 401/403/429.
 */
export async function authenticate(request: FastifyRequest): Promise<Actor> {
  // Decided once per request, before the body was read (see the onRequest step in app.ts).
  if (request.actor) return request.actor;
  const { tessera } = request.server;
  const header = request.headers.authorization;
  if (header !== undefined) {
    const embed = EMBED_HEADER_RE.exec(header);
    if (embed) return authenticateEmbed(tessera, embed[1]!, isHttps(request), metaOf(request));
    return authenticateBearer(tessera, header, isHttps(request), metaOf(request));
  }
  const cookie = request.cookies[SESSION_COOKIE];
  if (!cookie) throw new TesseraError("unauthorized", "Sign in, or send Authorization: Bearer <token>");
  const session = await tessera.auth.resolveSession(cookie);
  if (!session) throw new TesseraError("unauthorized", "The session has expired; sign in again");
  if (!SAFE_METHODS.has(request.method)) {
    const sent = request.headers[CSRF_HEADER];
    const fromCookie = request.cookies[CSRF_COOKIE];
    if (typeof sent !== "string" || !fromCookie || !sameSecret(sent, fromCookie) || !sameSecret(sent, session.csrfToken)) {
      throw new TesseraError("csrf_failed", `Send the ${CSRF_HEADER} header with the value of the ${CSRF_COOKIE} cookie`);
    }
  }
  return { type: "user", user: session.user };
}

const BEARER_RE = /^Bearer +(\S+) *$/i;
/** The embedded page's bearer (`tse.…`, see services/embed-service.ts): never a Tessera token. */
const EMBED_HEADER_RE = /^Bearer +(tse\.\S*) *$/i;

/**
 * The embedded tokens screen's bearer (SPEC §9): the person it was minted for, confined to its
 * organisation (`actor.embed`); the routes it may reach are decided in app.ts (`embedRouteAllowed`).
 * Unknown or over → 401, counted like any failed bearer.
 */
async function authenticateEmbed(tessera: Tessera, bearer: string, https: boolean, meta: RequestMeta): Promise<Actor> {
  if (tessera.config.production && !https) throw new TesseraError("https_required", HTTPS_REQUIRED_DETAIL);
  const wait = tessera.auth.bearerRetryAfter(meta.ip);
  if (wait > 0) throw throttled(wait);
  const found = await tessera.embed.resolveBearer(bearer);
  if (!found)
    return refuse(tessera, meta, "EMBED_SESSION_OVER", "The embedded session has expired; the host page opens a new one");
  return { type: "user", user: found.user, embed: found.scope };
}

/**
 * The last Authorization header one connection presented and its digest (`Verifier.digest`): a backend
 * sends the same bearer on every call over a keep-alive connection, and the format check and SHA-256 of
 * an identical string need not be redone. Everything that can change (revocation, expiry, scopes) is
 * still decided per request from the cache. Held in memory with the connection and dropped with it,
 * like the request headers Node already keeps for it; never written anywhere.
 */
export interface BearerMemo {
  header: string | undefined;
  digest: string | null;
}

/**
 * Bearer authentication, shared by the Fastify routes and the verification fast lane: the token goes
 * through the one verifier (so revocation applies at once); failures are counted per address. A warm
 * token is answered at once (no promise), so the fast lane stays synchronous; callers may `await` it, and
 * must expect a refusal either thrown or as a rejected promise.
 */
export function authenticateBearer(
  tessera: Tessera,
  header: string,
  https: boolean,
  meta: RequestMeta,
  memo?: BearerMemo,
): Actor | Promise<Actor> {
  const match = BEARER_RE.exec(header);
  if (!match) return refuse(tessera, meta, "MALFORMED", "Use Authorization: Bearer <token>");
  // Both entry points refuse plain HTTP in production before they get here; kept as the last word.
  if (tessera.config.production && !https) throw new TesseraError("https_required", HTTPS_REQUIRED_DETAIL);
  const token = match[1]!;
  let digest: string | null;
  if (memo !== undefined && memo.header === header) {
    digest = memo.digest;
  } else {
    digest = tessera.verifier.digest(token);
    if (memo !== undefined) {
      memo.header = header;
      memo.digest = digest;
    }
  }
  const request = { token, ip: meta.ip, digest };
  const wait = tessera.auth.bearerRetryAfter(meta.ip);
  if (wait > 0) {
    // Too many failures from this address: storage is protected by refusing every token the verifier
    // does not already hold, but a token it holds as valid (warm in memory, no storage read) keeps
    // working, so that failures by others behind the same address do not lock out its real users.
    const warm = tessera.verifier.checkCached(request);
    if (warm === undefined) throw throttled(wait);
    return warm instanceof Promise
      ? warm.then((r) => warmActorOf(tessera, r, meta, wait))
      : warmActorOf(tessera, warm, meta, wait);
  }
  const result = tessera.verifier.check(request);
  return result instanceof Promise ? result.then((r) => actorOf(tessera, r, meta)) : actorOf(tessera, result, meta);
}

function throttled(wait: number): TesseraError {
  return new TesseraError("rate_limited", "Too many failed authentications from this address", { retryAfterSeconds: wait });
}

/**
 * A throttled address's warm token: a valid one (or one refused for its own rate limit or allowlist) is
 * answered as usual; any other answer stays the address's 429, uncounted (nothing was looked up).
 */
function warmActorOf(tessera: Tessera, result: VerifyResult, meta: RequestMeta, wait: number): Actor | Promise<Actor> {
  if (result.valid || result.code === "RATE_LIMITED" || result.code === "USAGE_EXCEEDED" || result.code === "IP_NOT_ALLOWED")
    return actorOf(tessera, result, meta);
  throw throttled(wait);
}

function actorOf(tessera: Tessera, result: VerifyResult, meta: RequestMeta): Actor | Promise<Actor> {
  if (result.code === "RATE_LIMITED" || result.code === "USAGE_EXCEEDED") {
    const resetAt = Math.max(
      Date.now() + 1000,
      ...(result.ratelimits ?? []).filter((l) => l.remaining === 0).map((l) => l.resetAt),
    );
    const reset = Math.ceil((resetAt - Date.now()) / 1000);
    throw new TesseraError(
      "rate_limited",
      result.code === "RATE_LIMITED" ? "The bearer token's rate limit is exhausted" : "The bearer token's credits are used up",
      { retryAfterSeconds: reset },
    );
  }
  if (result.code === "IP_NOT_ALLOWED") throw new TesseraError("forbidden", "The bearer token may not be used from this address");
  if (!result.valid || !result.token) {
    return refuse(tessera, meta, result.code, REFUSAL_DETAIL[result.code] ?? "The bearer token is not valid");
  }
  return { type: "token", token: result.token, owner: result.owner ?? null };
}

/** A failed bearer authentication: counted (and audited at the limit) before the 401. */
async function refuse(tessera: Tessera, meta: RequestMeta, code: string, detail: string): Promise<never> {
  await tessera.auth.bearerFailed(meta, code);
  throw new TesseraError("unauthorized", detail);
}

/** The caller's access to the organisation in the path (404 when they have none). */
export async function orgAccess(request: FastifyRequest, orgId: string): Promise<OrgAccess> {
  const actor = await authenticate(request);
  return request.server.tessera.orgs.access(actor, orgId);
}

export interface SessionCookies {
  cookie: string;
  csrfToken: string;
  expiresAt: number;
}

export function setSessionCookies(request: FastifyRequest, reply: FastifyReply, s: SessionCookies): void {
  const secure = isHttps(request);
  const expires = new Date(s.expiresAt);
  reply.setCookie(SESSION_COOKIE, s.cookie, { httpOnly: true, sameSite: "lax", secure, path: "/", expires });
  // Readable by the console's script on purpose: it echoes it in the x-csrf-token header (double submit).
  reply.setCookie(CSRF_COOKIE, s.csrfToken, { httpOnly: false, sameSite: "lax", secure, path: "/", expires });
}

export function clearSessionCookies(request: FastifyRequest, reply: FastifyReply): void {
  const secure = isHttps(request);
  reply.clearCookie(SESSION_COOKIE, { path: "/", httpOnly: true, sameSite: "lax", secure });
  reply.clearCookie(CSRF_COOKIE, { path: "/", sameSite: "lax", secure });
}
