import { rateLimitHeaders, type VerifiedToken } from "../services/verification-view.js";
import type { TokenVerifier } from "./verifier-client.js";

/** What a protected route needs: a verifier and the scopes every request must hold. */
export interface GuardOptions {
  verifier: TokenVerifier;
  scopes?: readonly string[];
  /**
   * Told why verification is unavailable each time a request is answered 503 (Tessera unreachable, its
   * credential refused…). Default: one line on stderr, at most once per 30 s per distinct reason.
   */
  onUnavailable?: (error: unknown) => void;
}

/** Reasons already logged by the default `onUnavailable`, and when. */
const lastLogged = new Map<string, number>();
const LOG_EVERY_MS = 30_000;

function logUnavailable(error: unknown): void {
  const reason = error instanceof Error ? error.message : String(error);
  const now = Date.now();
  if (now - (lastLogged.get(reason) ?? Number.NEGATIVE_INFINITY) < LOG_EVERY_MS) return;
  if (lastLogged.size > 100) lastLogged.clear();
  lastLogged.set(reason, now);
  process.stderr.write(`tessera: token verification is unavailable, answering 503: ${reason}\n`);
}

export interface Denial {
  status: 401 | 403 | 429 | 503;
  headers: Record<string, string>;
  /** RFC 9457 problem details. */
  body: { type: string; title: string; status: number; detail: string; code: string };
}

/**
 * `headers`: `RateLimit-Limit`, `-Remaining`, `-Reset` (IETF draft, seconds) when the token has limits:
 * the middleware sets them on the response either way.
 */
export type GuardResult = { ok: true; token: VerifiedToken; headers: Record<string, string> } | { ok: false; denial: Denial };

function deny(
  status: Denial["status"],
  code: string,
  title: string,
  detail: string,
  headers: Record<string, string> = {},
): GuardResult {
  return {
    ok: false,
    denial: {
      status,
      headers: { "content-type": "application/problem+json", ...headers },
      body: { type: `urn:tessera:problem:${code}`, title, status, detail, code },
    },
  };
}

const BEARER_RE = /^Bearer +(\S+) *$/i;

/**
 * The framework-neutral core of every middleware: reads `Authorization: Bearer`, verifies, and answers
 * per RFC 6750: 401 `invalid_token` for missing/bad tokens, 403 `insufficient_scope`, 429 with
 * Retry-After when the token's rate limit is exhausted (`rate_limited`) or its credits are
 * (`usage_exceeded`, no Retry-After), 503 when Tessera cannot be reached. Every answer for a token with
 * limits carries the `RateLimit-*` fields.
 */
export async function guard(
  options: GuardOptions,
  authorization: string | undefined,
  ip: string | null | undefined,
): Promise<GuardResult> {
  if (!authorization) {
    return deny(401, "unauthorized", "Authentication required", "Send Authorization: Bearer <token>", {
      "www-authenticate": 'Bearer realm="api"',
    });
  }
  const match = BEARER_RE.exec(authorization);
  if (!match) {
    return deny(401, "unauthorized", "Authentication required", "Use Authorization: Bearer <token>", {
      "www-authenticate": 'Bearer error="invalid_request"',
    });
  }
  let result: Awaited<ReturnType<TokenVerifier["verify"]>>;
  try {
    result = await options.verifier.verify({ token: match[1]!, scopes: options.scopes, ip: ip ?? null });
  } catch (error) {
    (options.onUnavailable ?? logUnavailable)(error);
    return deny(503, "service_unavailable", "Service unavailable", "Token verification is unavailable; try again shortly", {
      "retry-after": "5",
    });
  }
  const limitHeaders = rateLimitHeaders(result);
  if (result.valid && result.token) return { ok: true, token: result.token, headers: limitHeaders };
  switch (result.code) {
    case "INSUFFICIENT_SCOPE": {
      const scope = (options.scopes ?? []).join(" ");
      return deny(403, "forbidden", "Not allowed", `This call needs the scope(s): ${scope}`, {
        "www-authenticate": `Bearer error="insufficient_scope", scope="${scope}"`,
      });
    }
    case "IP_NOT_ALLOWED":
      return deny(403, "forbidden", "Not allowed", "This token may not be used from this address", {
        "www-authenticate": 'Bearer error="insufficient_scope"',
      });
    case "RATE_LIMITED":
      return deny(429, "rate_limited", "Too many requests", "The token's rate limit is exhausted", {
        "retry-after": "1",
        ...limitHeaders,
      });
    case "USAGE_EXCEEDED":
      // Credits are spent until an operator adds more or the next refill: retrying soon will not help.
      return deny(429, "usage_exceeded", "Usage exceeded", "The token's credits are used up", limitHeaders);
    default:
      return deny(401, "unauthorized", "Authentication required", `The token is not valid (${result.code})`, {
        "www-authenticate": 'Bearer error="invalid_token"',
      });
  }
}
