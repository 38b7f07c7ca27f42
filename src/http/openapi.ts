import type { FastifyDynamicSwaggerOptions } from "@fastify/swagger";
import type { FastifyInstance } from "fastify";
import { type Static, type TSchema, Type } from "typebox";
import { CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE } from "./auth.js";
import { COMPONENT_SCHEMAS, ProblemSchema } from "./schemas.js";

/**
 * How the OpenAPI document (GET /v1/openapi.json, /docs/json) is made from the routes (docs/api.md, "The
 * OpenAPI document"). Routes say what is theirs: operationId, summary, description, tags, their success
 * answers ({@link ok}, {@link noContent}) and the refusals only they give ({@link problemResponses}:
 * 404, 409, a business 400). What follows from the route's shape is added here for every route, so a new
 * route cannot forget it: security (public routes: none), the 400/401/403/413/415/429/500/503 problems
 * any route of that shape can answer, response headers, the CSRF header, optional empty bodies.
 * Only the document changes: what the server sends is decided by the route schemas alone.
 */

const PROBLEM = "application/problem+json";

/** The sentence each problem status gets in the document. */
const PROBLEM_DESCRIPTIONS: Record<number, string> = {
  400: "validation_failed: the request is invalid; `errors` names the fields",
  401: "unauthorized: no valid credentials (WWW-Authenticate says why)",
  403: "forbidden (a role, scope or IP allowlist refuses it) or csrf_failed (cookie session without x-csrf-token)",
  404: "not_found: no such resource in this organisation (another organisation's resources are 404 too)",
  409: "invalid_state, conflict or quota_exceeded: the resource's state or a quota refuses the change",
  413: "payload_too_large: the body is larger than this route accepts",
  415: "unsupported_media_type: send JSON with Content-Type: application/json",
  426: "https_required: production instances answer only over HTTPS",
  429: "rate_limited: too many requests or failed authentications; wait Retry-After seconds",
  500: "internal_error: something went wrong on the server; traceId identifies it in the logs",
  503: "service_unavailable: overloaded or storage unreachable; retry after Retry-After seconds",
};

type ProblemResponse = { description: string; content: { [PROBLEM]: { schema: { $ref: string } } } };

/**
 * The problem answers a route gives beyond those its shape implies (see the module comment): typically
 * 404 and 409, and 400 for checks made after validation. Spread into `schema.response`.
 */
export function problemResponses(...statuses: number[]): Record<number, ProblemResponse> {
  return Object.fromEntries(statuses.map((status) => [status, problem(status)]));
}

function problem(status: number): ProblemResponse {
  const description = PROBLEM_DESCRIPTIONS[status] ?? "A problem: see its `code`";
  return { description, content: { [PROBLEM]: { schema: { $ref: "Problem#" } } } };
}

/** A response header as a route declares it (`headers` of {@link ok}): its schema, with a description. */
export interface HeaderDoc {
  description: string;
  type: string;
}

/** A JSON success answer with its description (and headers beyond those every answer has). */
export function ok<T extends TSchema>(description: string, schema: T, headers?: Record<string, HeaderDoc>) {
  return { description, ...(headers ? { headers } : {}), content: { "application/json": { schema } } };
}

/** An answer without a body (204, 202). */
export function noContent(description: string, headers?: Record<string, HeaderDoc>) {
  return Type.Unsafe<null>({ type: "null", description, ...(headers ? { headers } : {}) });
}

/** `Set-Cookie`: the session and CSRF cookies (sign-in) or their removal (sign-out). */
export const SET_SESSION_COOKIES: Record<string, HeaderDoc> = {
  "set-cookie": {
    description: `${SESSION_COOKIE} (HttpOnly) and ${CSRF_COOKIE} (readable: send it back as ${CSRF_HEADER})`,
    type: "string",
  },
};

/** Typed body of a component reference, for tests and helpers. */
export type ProblemBody = Static<typeof ProblemSchema>;

/** The named components every route may reference (`$ref: "<Name>#"`). */
export function addComponents(app: FastifyInstance): void {
  app.addSchema(ProblemSchema);
  for (const schema of COMPONENT_SCHEMAS) app.addSchema(schema);
}

const TAGS = [
  { name: "verification", description: "Verify tokens from your backend (SPEC §5)" },
  { name: "tokens", description: "Create, list, edit, rotate and revoke an organisation's tokens" },
  { name: "audit", description: "The append-only audit log" },
  { name: "organisations", description: "Organisations and their token policy" },
  { name: "members", description: "Members, roles and invitations" },
  { name: "scopes", description: "The scope catalogue tokens draw from" },
  { name: "auth", description: "Console sign-in, sessions and passwords" },
  { name: "root tokens", description: "Instance tokens (created with the CLI)" },
  { name: "webhooks", description: "Signed event deliveries to the organisation's endpoints (SPEC §10)" },
  { name: "operations", description: "Health, readiness and metrics for the operator" },
  { name: "leak response", description: "Secret scanning alerts: leaked tokens are marked and handled (SPEC §11)" },
];

interface RouteShape {
  schema?: Record<string, unknown>;
  url: string;
  route: { method: string | string[]; config?: { public?: boolean } };
}

/** Whether the route takes no credentials: not under /v1/, or `config: { public: true }`. */
const isPublic = (url: string, route: RouteShape["route"]) => !url.startsWith("/v1/") || route.config?.public === true;

/** The problems any route of this shape can answer, whatever its handler does. */
function impliedProblems(url: string, route: RouteShape["route"], schema: Record<string, unknown>): number[] {
  const method = Array.isArray(route.method) ? route.method[0]! : route.method;
  const statuses: number[] = [];
  // Health and metrics answer under pressure; readiness refuses (src/http/app.ts).
  const alwaysAnswers = url === "/healthz" || url === "/metrics";
  if (!alwaysAnswers) statuses.push(503);
  // Production over plain HTTP: everything but the health checks (src/http/app.ts).
  if (url !== "/healthz" && url !== "/readyz") statuses.push(426);
  if (!url.startsWith("/v1/")) return statuses;
  statuses.push(500);
  if (!isPublic(url, route)) statuses.push(401, 403, 429);
  const readsBody = method !== "GET" && method !== "HEAD";
  if (readsBody) statuses.push(400, 413, 415);
  if (schema.params || schema.querystring) statuses.push(400);
  return statuses;
}

/** Per route: security, implied problems; /metrics' text. Runs on a copy: the route itself is untouched. */
function transform({ schema, url, route }: RouteShape) {
  if (!schema || schema.hide) return { schema, url };
  const out: Record<string, unknown> = { ...schema };
  if (isPublic(url, route) && out.security === undefined) out.security = [];
  const response: Record<string, unknown> = { ...(schema.response as Record<string, unknown> | undefined) };
  for (const status of impliedProblems(url, route, schema)) {
    const declared = response[status] as { content?: Record<string, unknown> } | undefined;
    if (!declared) response[status] = problem(status);
    else if (declared.content && !declared.content[PROBLEM]) {
      // /readyz's 503 is JSON from the handler, problem+json when refused under pressure: both.
      response[status] = { ...declared, content: { ...declared.content, [PROBLEM]: { schema: { $ref: "Problem#" } } } };
    }
  }
  out.response = response;
  return { schema: out, url };
}

const ref = (kind: string, name: string) => ({ $ref: `#/components/${kind}/${name}` });

interface Operation {
  security?: Record<string, string[]>[];
  parameters?: unknown[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: { type?: unknown; required?: unknown[] } }> };
  responses?: Record<string, { headers?: Record<string, unknown>; content?: Record<string, unknown>; $ref?: string }>;
}

/** Per operation of the finished document: headers, the CSRF parameter, bodies that may be left out. */
function transformObject({ openapiObject }: { openapiObject: Record<string, unknown> }) {
  const doc = openapiObject as {
    paths?: Record<string, Record<string, Operation>>;
    security?: Record<string, string[]>[];
    components: { responses?: Record<string, unknown> };
  };
  const responses: Record<string, unknown> = {};
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const [method, op] of Object.entries(item)) {
      const security = op.security ?? doc.security ?? [];
      const session = security.some((requirement) => "session" in requirement);
      if (session && method !== "get" && method !== "head") {
        op.parameters = [...(op.parameters ?? []), ref("parameters", "CsrfToken")];
      }
      // A POST without a body validates as {} (src/http/app.ts): an object body with nothing required may be left out.
      const body = op.requestBody?.content?.["application/json"]?.schema;
      if (op.requestBody && body?.type === "object" && !(Array.isArray(body.required) && body.required.length > 0)) {
        op.requestBody.required = false;
      }
      for (const [status, response] of Object.entries(op.responses ?? {})) {
        response.headers = { ...headersFor(path, status), ...response.headers };
        // The same problem answer in forty operations is one named response.
        const media = Object.keys(response.content ?? {});
        if (media.length === 1 && media[0] === PROBLEM && path.startsWith("/v1/")) {
          const name = `Problem${status}`;
          responses[name] ??= response;
          op.responses![status] = ref("responses", name);
        }
      }
    }
  }
  doc.components.responses = Object.fromEntries(Object.entries(responses).sort(([a], [b]) => a.localeCompare(b)));
  return openapiObject;
}

/** The headers an answer carries: x-trace-id always; on /v1/ no-store; the challenge and the wait on refusals. */
function headersFor(path: string, status: string): Record<string, unknown> {
  const headers: Record<string, unknown> = { "x-trace-id": ref("headers", "TraceId") };
  if (path.startsWith("/v1/")) headers["cache-control"] = ref("headers", "CacheControl");
  if (status === "401" || status === "403") headers["www-authenticate"] = ref("headers", "WwwAuthenticate");
  if (status === "429" || status === "503") headers["retry-after"] = ref("headers", "RetryAfter");
  return headers;
}

/** The @fastify/swagger options: document metadata and the transforms above. */
export const swaggerOptions: FastifyDynamicSwaggerOptions = {
  openapi: {
    openapi: "3.1.0",
    info: {
      title: "Tessera API",
      version: "1",
      description:
        "Issue, verify and govern API tokens. Errors are RFC 9457 `application/problem+json` with a stable `code` " +
        '(docs/api.md, "Errors"). Every answer carries `x-trace-id`; production instances answer only over HTTPS ' +
        "(426 otherwise).",
      license: { name: "Apache-2.0", identifier: "Apache-2.0" },
    },
    servers: [{ url: "/", description: "This Tessera instance" }],
    tags: TAGS,
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "A Tessera token whose scopes allow the call" },
        session: {
          type: "apiKey",
          in: "cookie",
          name: SESSION_COOKIE,
          description: `Console session; mutating requests also need the ${CSRF_HEADER} header`,
        },
      },
      parameters: {
        CsrfToken: {
          name: CSRF_HEADER,
          in: "header",
          required: false,
          description: `With a cookie session (not a bearer token): the value of the ${CSRF_COOKIE} cookie; without it the request is refused with 403 csrf_failed`,
          schema: { type: "string" },
        },
      },
      headers: {
        TraceId: {
          description: "This request's trace id (from traceparent, or new); also in problems and the audit log",
          schema: { type: "string" },
        },
        CacheControl: { description: "API answers are never cached", schema: { type: "string", enum: ["no-store"] } },
        WwwAuthenticate: {
          description: 'Bearer requests: `Bearer error="invalid_token"` (401) or `Bearer error="insufficient_scope"` (403)',
          schema: { type: "string" },
        },
        RetryAfter: { description: "Seconds to wait before trying again", schema: { type: "integer", minimum: 1 } },
      },
    },
    security: [{ bearer: [] }, { session: [] }],
  },
  refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === "string" ? json.$id : `def-${i}`) },
  transform: transform as unknown as FastifyDynamicSwaggerOptions["transform"],
  transformObject: transformObject as unknown as FastifyDynamicSwaggerOptions["transformObject"],
};
