/**
 * The console's only door to the server: the public `/v1` API through openapi-fetch, typed by the
 * `paths` openapi-typescript generates from the server's OpenAPI document (src/client/schema.ts,
 * `npm run generate:client`, the same types `tessera/client` ships). A path, parameter, body or answer
 * the document does not describe does not compile.
 *
 * What the server expects of a browser is one middleware: the session cookie (credentials
 * same-origin) and, on mutating requests, the double-submit CSRF header read from the `tessera_csrf`
 * cookie at call time (it changes on every sign-in) — or, on the embedded page, the in-memory bearer.
 * {@link unwrap} turns an answer into its data or throws an {@link ApiError}.
 */
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "../../../src/client/schema";

/** One failing field of a `validation_failed` problem, shown next to the field it names. */
export type ProblemFieldError = NonNullable<components["schemas"]["Problem"]["errors"]>[number];

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

export function readCookie(name: string): string | undefined {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return undefined;
}

type Query = Record<string, unknown>;

/** `?a=1&b=x` from the set values only: `undefined`, `null` and `""` mean "no filter" and are left out. */
export function queryString(query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    params.set(key, String(value));
  }
  return params.toString();
}

/** A link to a `GET` answer the browser downloads itself (the audit export). */
export function withQuery(path: string, query?: Query): string {
  const qs = queryString(query);
  return qs ? `${path}?${qs}` : path;
}

/** Which answers a middleware hook is about: the request as it was sent, and the bearer of that moment. */
const sentWith = new WeakMap<Request, EmbedBearer | null>();

/**
 * Credentials on the way out; on the way back, the embedded session's 401 (its end) and the token it
 * created (announced to the host page).
 */
const session: Middleware = {
  onRequest({ request }) {
    const bearer = embedBearer;
    if (bearer) {
      // No cookie at all: a console session in the same browser must not ride along.
      const bearerRequest = new Request(request, { credentials: "omit" });
      bearerRequest.headers.set("authorization", `Bearer ${bearer.token}`);
      sentWith.set(bearerRequest, bearer);
      return bearerRequest;
    }
    if (MUTATING.has(request.method)) {
      const csrf = readCookie("tessera_csrf");
      if (csrf) request.headers.set("x-csrf-token", csrf);
    }
    sentWith.set(request, null);
    return request;
  },
  async onResponse({ request, response, schemaPath }) {
    const bearer = sentWith.get(request);
    if (!bearer) return undefined;
    if (response.status === 401) bearer.onExpired();
    else if (request.method === "POST" && response.status === 201 && schemaPath === "/v1/orgs/{orgId}/tokens") {
      const created = (await response.clone().json()) as { token?: { id?: unknown } } | undefined;
      if (typeof created?.token?.id === "string") bearer.onTokenCreated(created.token.id);
    }
    return undefined;
  },
  onError({ error }) {
    return new ApiError({
      status: 0,
      code: "network_error",
      title: "Network error",
      detail: error instanceof Error ? error.message : String(error),
    });
  },
};

/** The typed client: `api.GET("/v1/orgs/{orgId}", { params: { path: { orgId } } })`. */
export const api = createClient<paths>({
  credentials: "same-origin",
  headers: { accept: "application/json, application/problem+json" },
  querySerializer: queryString,
});
api.use(session);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A refused answer as the console's error: the problem's code, title, detail and field errors. */
export function toApiError(response: Response, body: unknown): ApiError {
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

/**
 * The data of a successful answer (typed by the document: `undefined` for 202 and 204), or the
 * {@link ApiError} of a refused one, thrown — what TanStack Query expects of a query or mutation.
 */
export async function unwrap<Data>(
  pending: Promise<{ data?: Data; error?: unknown; response: Response }>,
): Promise<Data> {
  const { data, error, response } = await pending;
  if (!response.ok) throw toApiError(response, error);
  return data as Data;
}
