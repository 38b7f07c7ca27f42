import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { type ErrorCode, type FieldIssue, type QuotaLimit, TesseraError } from "../core/errors.js";
import { FREE_TEXT_PATTERN, NAME_CHARACTERS_MESSAGE, NAME_PATTERN } from "../core/names.js";
import type {} from "./context.js";

/** The one place error codes become HTTP statuses. */
export const STATUS_OF: Record<ErrorCode, number> = {
  unauthorized: 401,
  forbidden: 403,
  csrf_failed: 403,
  passwords_disabled: 403,
  not_found: 404,
  method_not_allowed: 405,
  validation_failed: 400,
  invalid_state: 409,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  quota_exceeded: 409,
  https_required: 426,
  service_unavailable: 503,
  internal_error: 500,
};

const TITLE_OF: Record<ErrorCode, string> = {
  unauthorized: "Authentication required",
  forbidden: "Not allowed",
  csrf_failed: "CSRF check failed",
  passwords_disabled: "Passwords are turned off",
  not_found: "Not found",
  method_not_allowed: "Method not allowed",
  validation_failed: "Invalid request",
  invalid_state: "Not possible in the current state",
  conflict: "Conflict",
  payload_too_large: "Request body too large",
  unsupported_media_type: "Unsupported media type",
  rate_limited: "Too many requests",
  quota_exceeded: "Quota exceeded",
  https_required: "HTTPS required",
  service_unavailable: "Service unavailable",
  internal_error: "Internal error",
};

/** Why a production server refuses plain HTTP (SPEC §8): said the same way by every entry point. */
export const HTTPS_REQUIRED_DETAIL =
  "This server accepts HTTPS only: no password, session or secret may cross plain HTTP. Use the https:// address";

/** RFC 9457 problem details, with Tessera's stable `code`. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  errors?: FieldIssue[];
  /** For `quota_exceeded`: which quota, and its maximum. */
  limit?: QuotaLimit;
  traceId?: string;
}

export function problemOf(code: ErrorCode, detail: string, errors?: FieldIssue[]): Problem {
  return {
    type: `urn:tessera:problem:${code}`,
    title: TITLE_OF[code],
    status: STATUS_OF[code],
    detail,
    code,
    ...(errors && errors.length > 0 ? { errors } : {}),
  };
}

/** Whether the request authenticated (or tried to) with a bearer token: RFC 6750 headers apply. */
export function isBearer(authorization: string | undefined): boolean {
  return /^bearer\s/i.test(authorization ?? "");
}

/**
 * Anything shaped like a Tessera token: any organisation prefix (2–8 letters), either environment, in
 * any letter case (`TSR_LIVE_…` is a typed-in or upper-cased secret all the same), from 20 characters of
 * body (a token cut short is still most of a secret). Never echoed back or logged, even when the caller
 * sent it.
 */
const TOKEN_LIKE = /[a-z]{2,8}_(?:live|test)_[0-9a-z]{20,}/gi;

export function redactSecrets(text: string): string {
  return text.replace(TOKEN_LIKE, "[redacted token]");
}

/** A refusal as HTTP: the problem body and the headers that go with it (RFC 6750, Retry-After). */
export function problemResponse(
  error: TesseraError,
  traceId: string,
  bearer: boolean,
): { problem: Problem; headers: Record<string, string> } {
  const fields = error.fields?.map((f) => ({ field: redactSecrets(f.field), message: redactSecrets(f.message) }));
  const problem: Problem = {
    ...problemOf(error.code, redactSecrets(error.message), fields),
    ...(error.limit ? { limit: error.limit } : {}),
    traceId,
  };
  const headers: Record<string, string> = {};
  if (error.code === "unauthorized") {
    headers["www-authenticate"] = bearer ? 'Bearer error="invalid_token"' : 'Bearer realm="tessera"';
  } else if (error.code === "forbidden" && bearer) {
    headers["www-authenticate"] = error.missingScope
      ? `Bearer error="insufficient_scope", scope="${error.missingScope}"`
      : 'Bearer error="insufficient_scope"';
  }
  if (error.code === "rate_limited") headers["retry-after"] = String(Math.max(1, error.retryAfterSeconds ?? 1));
  else if (error.code === "service_unavailable" && error.retryAfterSeconds !== undefined) {
    headers["retry-after"] = String(Math.max(1, error.retryAfterSeconds));
  }
  return { problem, headers };
}

export function sendProblem(request: FastifyRequest, reply: FastifyReply, error: TesseraError): FastifyReply {
  const { problem, headers } = problemResponse(error, request.traceId, isBearer(request.headers.authorization));
  return reply.code(problem.status).headers(headers).type("application/problem+json").send(problem);
}

/** Ajv's `/allowedIps/0` → `allowedIps[0]`, `/rateLimit/limit` → `rateLimit.limit`. */
function fieldOf(instancePath: string, missing?: unknown): string {
  const parts = instancePath.split("/").filter(Boolean);
  if (typeof missing === "string") parts.push(missing);
  return parts.reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part), "") || "body";
}

interface AjvIssue {
  instancePath: string;
  message?: string;
  keyword: string;
  params: Record<string, unknown>;
}

const STORAGE_DOWN = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "57P01",
  "57P03",
  "08006",
  "08001",
  "08003",
  // query_canceled: PostgreSQL's statement_timeout (TESSERA_DB_TIMEOUT_MS) ended the statement.
  "57014",
  "SQLITE_BUSY",
]);

/**
 * PostgreSQL refuses text it cannot store: a NUL character (U+0000) in a body, query or path parameter
 * (22021 character_not_in_repertoire, 22P05 untranslatable_character). The request's fault, not a 5xx.
 */
const UNSTORABLE_TEXT = new Set(["22021", "22P05"]);

/** Longest unknown key echoed back in a field name, and most field issues listed in one problem. */
const MAX_ECHOED_KEY = 100;
const MAX_FIELD_ISSUES = 100;

/** Maps anything thrown to a problem; never leaks a 5xx message or a stack. */
export function toTesseraError(error: FastifyError & { validation?: AjvIssue[]; validationContext?: string }): TesseraError {
  if (error instanceof TesseraError) return error;
  if (error.validation) {
    const where = error.validationContext ?? "body";
    const seen = new Set<string>();
    const fields: FieldIssue[] = [];
    for (const issue of error.validation) {
      // A missing or an unknown key names itself (`scope: is not allowed`, not `body: is not allowed`);
      // an unknown key is the client's text, so it is cut short before being echoed.
      const named = issue.params.missingProperty ?? issue.params.additionalProperty;
      const field = fieldOf(issue.instancePath, typeof named === "string" ? named.slice(0, MAX_ECHOED_KEY) : undefined);
      if (seen.has(field)) continue;
      seen.add(field);
      const message =
        issue.keyword === "required"
          ? "is required"
          : issue.keyword === "additionalProperties"
            ? "is not allowed"
            : issue.keyword === "pattern" && (issue.params.pattern === NAME_PATTERN || issue.params.pattern === FREE_TEXT_PATTERN)
              ? NAME_CHARACTERS_MESSAGE
              : (issue.message ?? "is invalid");
      fields.push({ field: where === "body" ? field : `${where}.${field}`, message });
      if (fields.length >= MAX_FIELD_ISSUES) break;
    }
    return new TesseraError("validation_failed", fields.map((f) => `${f.field}: ${f.message}`).join("; "), { fields });
  }
  switch (error.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new TesseraError("payload_too_large", "The request body is too large");
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new TesseraError("unsupported_media_type", "Send JSON with Content-Type: application/json");
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return new TesseraError("validation_failed", "The JSON body is empty", {
        fields: [{ field: "body", message: "is required" }],
      });
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return new TesseraError("validation_failed", "The body is not valid JSON", {
        fields: [{ field: "body", message: "is not valid JSON" }],
      });
  }
  if (error.statusCode === 400 && (error.name === "SyntaxError" || /JSON/.test(error.message))) {
    return new TesseraError("validation_failed", "The body is not valid JSON", {
      fields: [{ field: "body", message: "is not valid JSON" }],
    });
  }
  if (error.statusCode === 413) return new TesseraError("payload_too_large", "The request body is too large");
  if (error.statusCode === 415)
    return new TesseraError("unsupported_media_type", "Send JSON with Content-Type: application/json");
  const code = (error as { code?: string }).code;
  if (code && UNSTORABLE_TEXT.has(code)) {
    return new TesseraError("validation_failed", "The request contains a character that cannot be stored (U+0000)", {
      fields: [{ field: "request", message: "contains the NUL character (U+0000), which cannot be stored" }],
    });
  }
  if ((code && STORAGE_DOWN.has(code)) || /connect|terminat|Connection/i.test(error.message ?? "")) {
    return new TesseraError("service_unavailable", "Storage is unreachable; try again shortly", { retryAfterSeconds: 5 });
  }
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
    return new TesseraError("validation_failed", "The request could not be understood", {
      fields: [{ field: "request", message: "is malformed" }],
    });
  }
  return new TesseraError("internal_error", "Something went wrong on our side; the trace id identifies it in our logs");
}
