/**
 * The closed list of error codes Tessera answers with (SPEC §4). `src/http/problem.ts` is the one place
 * that maps them to HTTP statuses; a test checks every code is mapped and documented in docs/api.md.
 */
export const ERROR_CODES = [
  "unauthorized",
  "forbidden",
  "csrf_failed",
  "passwords_disabled",
  "not_found",
  "method_not_allowed",
  "validation_failed",
  "invalid_state",
  "conflict",
  "payload_too_large",
  "unsupported_media_type",
  "rate_limited",
  "quota_exceeded",
  "https_required",
  "service_unavailable",
  "internal_error",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** The quota a `quota_exceeded` refusal names. */
export interface QuotaLimit {
  name: string;
  max: number;
}

export interface FieldIssue {
  field: string;
  message: string;
}

/**
 * A refusal a use case decided on (not a bug): carries the stable code, a human sentence safe to show,
 * and for `validation_failed` the fields at fault. Never carries a secret.
 */
export class TesseraError extends Error {
  readonly code: ErrorCode;
  readonly fields: FieldIssue[] | undefined;
  /** Extra headers' worth of information, e.g. seconds to wait for `rate_limited`. */
  readonly retryAfterSeconds: number | undefined;
  /** For `forbidden` on bearer requests: the scope that was missing. */
  readonly missingScope: string | undefined;
  /** For `quota_exceeded`: the quota's name (as in docs/api.md) and its configured maximum. */
  readonly limit: QuotaLimit | undefined;

  constructor(
    code: ErrorCode,
    detail: string,
    extra: { fields?: FieldIssue[]; retryAfterSeconds?: number; missingScope?: string; limit?: QuotaLimit } = {},
  ) {
    super(detail);
    this.name = "TesseraError";
    this.code = code;
    this.fields = extra.fields;
    this.retryAfterSeconds = extra.retryAfterSeconds;
    this.missingScope = extra.missingScope;
    this.limit = extra.limit;
  }
}

export function validationError(field: string, message: string): TesseraError {
  return new TesseraError("validation_failed", `${field}: ${message}`, { fields: [{ field, message }] });
}
