import type { Environment } from "../core/token-format.js";
import type { TokenKind } from "../core/tokens.js";
import type { VerifyCode } from "../core/verification.js";
import type { VerifyResult } from "./verifier.js";

/** The wire form of a verification (SPEC §5): what `POST /v1/verify` answers and the middleware exposes. */
export interface VerificationResponse {
  valid: boolean;
  code: VerifyCode;
  token?: VerifiedToken;
  ratelimit?: { limit: number; remaining: number; resetAt: string } | null;
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

export function verificationResponse(r: VerifyResult): VerificationResponse {
  const body: VerificationResponse = { valid: r.valid, code: r.code };
  if (r.token && r.code !== "NOT_FOUND") {
    const t = r.token;
    body.token = {
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
  if (r.token) {
    body.ratelimit = r.ratelimit
      ? { limit: r.ratelimit.limit, remaining: r.ratelimit.remaining, resetAt: iso(r.ratelimit.resetAt)! }
      : null;
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
 * `JSON.stringify(verificationResponse(r))` and its byte length. A frozen result never changes (the
 * shared VALID answer of a cached token, which a change to the token replaces rather than edits;
 * MALFORMED; NOT_FOUND), so its body is made once and kept as long as the result is.
 */
export function verificationBody(r: VerifyResult): SerialisedBody {
  if (!Object.isFrozen(r)) return serialise(r);
  let body = serialised.get(r);
  if (body === undefined) {
    body = serialise(r);
    serialised.set(r, body);
  }
  return body;
}
