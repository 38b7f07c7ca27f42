/**
 * The console's only door to the server: the public `/v1` API with the session cookie.
 * Mutating requests carry the double-submit CSRF header, read from the `tessera_csrf`
 * cookie at call time (it changes on every sign-in).
 */

export interface ProblemFieldError {
  field: string;
  message: string;
}

/** An RFC 9457 problem answered by the server (or synthesised for network failures). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly title: string;
  readonly detail: string;
  readonly fieldErrors: ProblemFieldError[];

  constructor(init: {
    status: number;
    code: string;
    title: string;
    detail: string;
    fieldErrors?: ProblemFieldError[];
  }) {
    super(init.detail || init.title);
    this.name = "ApiError";
    this.status = init.status;
    this.code = init.code;
    this.title = init.title;
    this.detail = init.detail;
    this.fieldErrors = init.fieldErrors ?? [];
  }
}

const MUTATING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * The embedded page's bearer (SPEC §9, features/embed): held in memory only, never in a cookie or in
 * storage. While set, every call carries it instead of the session cookie (so no CSRF header), a 401
 * ends the embedded session, and a created token is announced to the host page.
 */
export interface EmbedBearer {
  token: string;
  onExpired(): void;
  onTokenCreated(id: string): void;
}

let embedBearer: EmbedBearer | null = null;

export function setEmbedBearer(bearer: EmbedBearer | null): void {
  embedBearer = bearer;
}

const CREATE_TOKEN_PATH = /^\/v1\/orgs\/[^/]+\/tokens$/;

export function readCookie(name: string): string | undefined {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return undefined;
}

type Query = Record<string, string | number | boolean | null | undefined>;

export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    params.set(key, String(value));
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

async function toApiError(response: Response): Promise<ApiError> {
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (isRecord(body)) {
    const fieldErrors = Array.isArray(body.errors)
      ? body.errors.filter(isRecord).map((e) => ({ field: String(e.field ?? ""), message: String(e.message ?? "") }))
      : [];
    return new ApiError({
      status: response.status,
      code: typeof body.code === "string" ? body.code : "error",
      title: typeof body.title === "string" ? body.title : response.statusText,
      detail: typeof body.detail === "string" ? body.detail : typeof body.message === "string" ? body.message : "",
      fieldErrors,
    });
  }
  return new ApiError({ status: response.status, code: "error", title: response.statusText, detail: "" });
}

export async function api<T>(method: string, path: string, body?: unknown, query?: Query): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json, application/problem+json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  const bearer = embedBearer;
  if (bearer) {
    headers.authorization = `Bearer ${bearer.token}`;
  } else if (MUTATING.has(method)) {
    const csrf = readCookie("tessera_csrf");
    if (csrf) headers["x-csrf-token"] = csrf;
  }
  let response: Response;
  try {
    response = await fetch(withQuery(path, query), {
      method,
      headers,
      credentials: bearer ? "omit" : "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (cause) {
    throw new ApiError({
      status: 0,
      code: "network_error",
      title: "Network error",
      detail: cause instanceof Error ? cause.message : String(cause),
    });
  }
  if (!response.ok) {
    if (bearer && response.status === 401) bearer.onExpired();
    throw await toApiError(response);
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  const parsed = (text ? JSON.parse(text) : undefined) as T;
  if (bearer && method === "POST" && response.status === 201 && CREATE_TOKEN_PATH.test(path)) {
    const id = (parsed as { token?: { id?: unknown } } | undefined)?.token?.id;
    if (typeof id === "string") bearer.onTokenCreated(id);
  }
  return parsed;
}

export const http = {
  get: <T>(path: string, query?: Query) => api<T>("GET", path, undefined, query),
  post: <T>(path: string, body?: unknown) => api<T>("POST", path, body ?? {}),
  put: <T>(path: string, body: unknown) => api<T>("PUT", path, body),
  patch: <T>(path: string, body: unknown) => api<T>("PATCH", path, body),
  delete: <T>(path: string) => api<T>("DELETE", path),
};
