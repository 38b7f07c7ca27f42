import type { Environment } from "../core/token-format.js";
import type { TokenKind } from "../core/tokens.js";
import type { VerifyCode } from "../core/verification.js";
import type { VerifyResult } from "./verifier.js";

/** The wire form of a verification (SPEC §5): what `POST /v1/verify` answers and the middleware exposes. */
export interface VerificationResponse {
  valid: boolean;
  code: VerifyCode;
  token?: VerifiedToken;
  /** The first limit, for older clients (null when the token has none). */
  ratelimit?: { limit: number; remaining: number; resetAt: string } | null;
  /** Every limit that applied: the token's by name, its organisation's as `org:<name>`. */
  ratelimits?: { name: string; limit: number; remaining: number; resetAt: string }[];
  /** The token's credits after this verification (absent when it has none). */
  credits?: { remaining: number };
}

export interface VerifiedToken {
  id: string;
  orgId: string | null;
  name: string;
  kind: TokenKind;
  ownerId: string | null;
  /** The scopes the token may use now. */
  scopes: string[];
  environment: Environment;
  expiresAt: string | null;
  metadata: Record<string, unknown>;
}

/** Epoch ms → ISO 8601, the API's form for every time. */
export function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

function tokenView(r: VerifyResult & { token: NonNullable<VerifyResult["token"]> }): VerifiedToken {
  const t = r.token;
  return {
    id: t.id,
    orgId: t.orgId,
    name: t.name,
    kind: t.kind,
    ownerId: t.ownerId,
    scopes: r.scopes ?? [],
    environment: t.environment,
    expiresAt: iso(t.expiresAt),
    metadata: t.metadata,
  };
}

export function verificationResponse(r: VerifyResult): VerificationResponse {
  const body: VerificationResponse = { valid: r.valid, code: r.code };
  if (r.token && r.code !== "NOT_FOUND") body.token = tokenView(r as Parameters<typeof tokenView>[0]);
  if (r.token) {
    const first = r.ratelimits?.[0];
    body.ratelimit = first ? { limit: first.limit, remaining: first.remaining, resetAt: iso(first.resetAt)! } : null;
    if (r.ratelimits && r.ratelimits.length > 0) {
      body.ratelimits = r.ratelimits.map((l) => ({
        name: l.name,
        limit: l.limit,
        remaining: l.remaining,
        resetAt: iso(l.resetAt)!,
      }));
    }
    if (r.credits) body.credits = { remaining: r.credits.remaining };
  }
  return body;
}

/** A response body ready to write: its text and its length in bytes. */
export interface SerialisedBody {
  text: string;
  bytes: number;
}

const serialised = new WeakMap<VerifyResult, SerialisedBody>();

function serialise(r: VerifyResult): SerialisedBody {
  const text = JSON.stringify(verificationResponse(r));
  return { text, bytes: Buffer.byteLength(text) };
}

/**
 * The token part of a body, by token object: a cached token's object is never edited (a change replaces
 * it, as for the shared VALID answer below), and its scopes are its cache entry's own array.
 */
const tokenParts = new WeakMap<object, { scopes: readonly string[] | undefined; json: string }>();

function tokenPart(r: VerifyResult & { token: NonNullable<VerifyResult["token"]> }): string {
  const hit = tokenParts.get(r.token);
  if (hit !== undefined && hit.scopes === r.scopes) return hit.json;
  const json = JSON.stringify(tokenView(r));
  tokenParts.set(r.token, { scopes: r.scopes, json });
  return json;
}

/** The last window end written and its ISO form: every token's window of the same length ends at once. */
let lastResetAt = Number.NaN;
let lastResetIso = "";

function resetIso(ms: number): string {
  if (ms !== lastResetAt) {
    lastResetIso = new Date(ms).toISOString();
    lastResetAt = ms;
  }
  return lastResetIso;
}

/**
 * `JSON.stringify(verificationResponse(r))` for an answer that carries limits or credits (a new result
 * every time): the same text, built from a cached token part and the few figures that change (a test
 * holds the two equal).
 */
function serialiseLimited(r: VerifyResult): string {
  let text = `{"valid":${r.valid},"code":"${r.code}"`;
  if (!r.token) return `${text}}`;
  if (r.code !== "NOT_FOUND") text += `,"token":${tokenPart(r as Parameters<typeof tokenPart>[0])}`;
  const limits = r.ratelimits;
  const first = limits?.[0];
  text += first
    ? `,"ratelimit":{"limit":${first.limit},"remaining":${first.remaining},"resetAt":"${resetIso(first.resetAt)}"}`
    : `,"ratelimit":null`;
  if (limits && limits.length > 0) {
    text += `,"ratelimits":[`;
    for (let i = 0; i < limits.length; i++) {
      const l = limits[i]!;
      text += `${i > 0 ? "," : ""}{"name":${JSON.stringify(l.name)},"limit":${l.limit},"remaining":${l.remaining},"resetAt":"${resetIso(l.resetAt)}"}`;
    }
    text += "]";
  }
  if (r.credits) text += `,"credits":{"remaining":${r.credits.remaining}}`;
  return `${text}}`;
}

/**
 * `JSON.stringify(verificationResponse(r))` and its byte length. A frozen result never changes (the
 * shared VALID answer of a cached token, which a change to the token replaces rather than edits;
 * MALFORMED; NOT_FOUND), so its body is made once and kept as long as the result is.
 */
export function verificationBody(r: VerifyResult): SerialisedBody {
  if (!Object.isFrozen(r)) {
    if (r.ratelimits === undefined && r.credits === undefined) return serialise(r);
    const text = serialiseLimited(r);
    return { text, bytes: Buffer.byteLength(text) };
  }
  let body = serialised.get(r);
  if (body === undefined) {
    body = serialise(r);
    serialised.set(r, body);
  }
  return body;
}

/**
 * The IETF `RateLimit-*` header fields (draft-ietf-httpapi-ratelimit-headers, delta seconds) for a
 * verification: of the limits that applied, the one closest to refusing (fewest remaining); and
 * `Retry-After` when it refused. Empty when the token has no limits.
 */
export function rateLimitHeaders(r: Pick<VerificationResponse, "ratelimits" | "code">, now = Date.now()): Record<string, string> {
  const limits = r.ratelimits;
  if (!limits || limits.length === 0) return {};
  let closest = limits[0]!;
  for (const l of limits) if (l.remaining < closest.remaining) closest = l;
  const reset = Math.max(0, Math.ceil((Date.parse(closest.resetAt) - now) / 1000));
  const headers: Record<string, string> = {
    "ratelimit-limit": String(closest.limit),
    "ratelimit-remaining": String(closest.remaining),
    "ratelimit-reset": String(reset),
  };
  if (r.code === "RATE_LIMITED") {
    // The limit that refused: the one with less room than a request takes (the soonest to reopen if several).
    let refusing = limits.filter((l) => l.remaining === 0);
    if (refusing.length === 0) refusing = [closest];
    const latest = Math.max(...refusing.map((l) => Date.parse(l.resetAt)));
    headers["retry-after"] = String(Math.max(1, Math.ceil((latest - now) / 1000)));
  }
  return headers;
}
