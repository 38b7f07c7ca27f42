import { Type } from "typebox";
import { TesseraError } from "../../core/errors.js";
import { TRANSITIONS } from "../../core/status.js";
import { orgAccess } from "../auth.js";
import { metaOf } from "../context.js";
import {
  AuditPage,
  AuditQuerySchema,
  CreateTokenBody,
  OrgParams,
  RegenerateBody,
  RevokeBody,
  TokenListQuery,
  TokenParams,
  TokenViewSchema,
  TokenWithSecret,
  UpdateTokenBody,
  UsageBucket,
  UsageQuery,
} from "../schemas.js";
import { eventView, iso, tokenView } from "../views.js";
import { problemResponses, type Routes } from "./types.js";

const HOUR = 3600_000;
const DAY = 24 * HOUR;
/** At most this many buckets per usage request (92 days hourly, 10 years daily). */
const MAX_BUCKETS = { hour: 92 * 24, day: 3660 };

export const tokenRoutes: Routes = async (app) => {
  const { tokens } = app.tessera;
  const base = "/v1/orgs/:orgId/tokens";

  app.post(
    base,
    {
      schema: {
        tags: ["tokens"],
        summary: "Create a token; the secret is in this response only",
        params: OrgParams,
        body: CreateTokenBody,
        response: { 201: TokenWithSecret, ...problemResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const access = await orgAccess(request, request.params.orgId);
      const { token, secret } = await tokens.create(access, request.body, metaOf(request));
      return reply
        .code(201)
        .header("cache-control", "no-store")
        .send({ token: tokenView(token), secret });
    },
  );

  app.get(
    base,
    {
      schema: {
        tags: ["tokens"],
        summary: "List tokens, newest first (members see only their own)",
        params: OrgParams,
        querystring: TokenListQuery,
        response: {
          200: Type.Object({ items: Type.Array(TokenViewSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }),
          ...problemResponses(400, 401, 403, 404),
        },
      },
    },
    async (request) => {
      const access = await orgAccess(request, request.params.orgId);
      const page = await tokens.list(access, request.query);
      const now = Date.now();
      return { items: page.items.map((t) => tokenView(t, now)), nextCursor: page.nextCursor };
    },
  );

  app.get(
    `${base}/:tokenId`,
    {
      schema: {
        tags: ["tokens"],
        summary: "A token (never its secret)",
        params: TokenParams,
        response: { 200: TokenViewSchema, ...problemResponses(401, 403, 404) },
      },
    },
    async (request) => {
      const access = await orgAccess(request, request.params.orgId);
      return tokenView(await tokens.get(access, request.params.tokenId));
    },
  );

  app.patch(
    `${base}/:tokenId`,
    {
      schema: {
        tags: ["tokens"],
        summary: "Edit name, description, scopes, allowed IPs, rate limit, metadata or expiry",
        params: TokenParams,
        body: UpdateTokenBody,
        response: { 200: TokenViewSchema, ...problemResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      const access = await orgAccess(request, request.params.orgId);
      return tokenView(await tokens.update(access, request.params.tokenId, request.body, metaOf(request)));
    },
  );

  for (const transition of TRANSITIONS) {
    app.post(
      `${base}/:tokenId/${transition}`,
      {
        schema: {
          tags: ["tokens"],
          summary:
            transition === "revoke"
              ? "Revoke the token: immediate and irreversible"
              : `${transition[0]!.toUpperCase()}${transition.slice(1)} the token`,
          params: TokenParams,
          ...(transition === "revoke" ? { body: RevokeBody } : {}),
          response: { 200: TokenViewSchema, ...problemResponses(401, 403, 404, 409) },
        },
      },
      async (request) => {
        const access = await orgAccess(request, request.params.orgId);
        const reason = transition === "revoke" ? (request.body as { reason?: string }).reason : undefined;
        return tokenView(await tokens.transition(access, request.params.tokenId, transition, reason, metaOf(request)));
      },
    );
  }

  app.delete(
    `${base}/:tokenId`,
    {
      schema: {
        tags: ["tokens"],
        summary: "Same as revoke: the row stays for the audit trail",
        params: TokenParams,
        response: { 200: TokenViewSchema, ...problemResponses(401, 403, 404, 409) },
      },
    },
    async (request) => {
      const access = await orgAccess(request, request.params.orgId);
      return tokenView(await tokens.transition(access, request.params.tokenId, "revoke", undefined, metaOf(request)));
    },
  );

  app.post(
    `${base}/:tokenId/regenerate`,
    {
      schema: {
        tags: ["tokens"],
        summary: "New secret; the old one dies now or after graceSeconds (≤ 7 days)",
        params: TokenParams,
        body: RegenerateBody,
        response: { 200: TokenWithSecret, ...problemResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const access = await orgAccess(request, request.params.orgId);
      const { token, secret } = await tokens.regenerate(access, request.params.tokenId, request.body, metaOf(request));
      return reply.header("cache-control", "no-store").send({ token: tokenView(token), secret });
    },
  );

  app.get(
    `${base}/:tokenId/usage`,
    {
      schema: {
        tags: ["tokens"],
        summary: "Successful and refused verifications per hour or day (zero-filled)",
        params: TokenParams,
        querystring: UsageQuery,
        response: { 200: Type.Array(UsageBucket), ...problemResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const access = await orgAccess(request, request.params.orgId);
      const interval = request.query.interval ?? "hour";
      const step = interval === "hour" ? HOUR : DAY;
      const to = request.query.to ? Date.parse(request.query.to) : Date.now();
      const from = request.query.from ? Date.parse(request.query.from) : to - (interval === "hour" ? 24 * HOUR : 30 * DAY);
      if (from >= to)
        throw new TesseraError("validation_failed", "from must be before to", {
          fields: [{ field: "query.from", message: "must be before to" }],
        });
      if ((to - from) / step > MAX_BUCKETS[interval]) {
        const message = `covers more than ${MAX_BUCKETS[interval]} ${interval}s`;
        throw new TesseraError("validation_failed", `from..to ${message}`, { fields: [{ field: "query.from", message }] });
      }
      const buckets = await tokens.usage(access, request.params.tokenId, from, to, interval);
      return buckets.map((b) => ({ start: iso(b.start)!, ok: b.ok, denied: b.denied }));
    },
  );

  app.get(
    `${base}/:tokenId/audit`,
    {
      schema: {
        tags: ["audit"],
        summary: "The token's audit history, newest first",
        params: TokenParams,
        querystring: AuditQuerySchema,
        response: { 200: AuditPage, ...problemResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const access = await orgAccess(request, request.params.orgId);
      const page = await tokens.tokenAudit(access, request.params.tokenId, request.query);
      return { items: page.items.map(eventView), nextCursor: page.nextCursor };
    },
  );

  app.get(
    "/v1/orgs/:orgId/audit",
    {
      schema: {
        tags: ["audit"],
        summary: "The organisation's audit log, newest first",
        params: OrgParams,
        querystring: AuditQuerySchema,
        response: { 200: AuditPage, ...problemResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const access = await orgAccess(request, request.params.orgId);
      const page = await tokens.orgAudit(access, request.query);
      return { items: page.items.map(eventView), nextCursor: page.nextCursor };
    },
  );
};
