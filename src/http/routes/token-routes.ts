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
  TokenList,
  TokenListQuery,
  TokenParams,
  TokenViewSchema,
  TokenWithSecret,
  UpdateTokenBody,
  UsageBucket,
  UsageQuery,
} from "../schemas.js";
import { eventView, iso, tokenView } from "../views.js";
import { ok, problemResponses, type Routes } from "./types.js";

const HOUR = 3600_000;
const DAY = 24 * HOUR;
/** At most this many buckets per usage request (92 days hourly, 10 years daily). */
const MAX_BUCKETS = { hour: 92 * 24, day: 3660 };

const TRANSITION_DESCRIPTIONS: Record<(typeof TRANSITIONS)[number], string> = {
  deactivate: "Turns the token off until it is activated again (verification answers INACTIVE). No body.",
  activate: "Turns a deactivated token back on. No body.",
  suspend: "Suspends the token, typically while a suspected leak is looked into (verification answers SUSPENDED). No body.",
  resume: "Lifts a suspension. No body.",
  revoke:
    "Revokes the token: immediate and irreversible (verification answers REVOKED). The body, an optional reason, may be left out.",
};

export const tokenRoutes: Routes = async (app) => {
  const { tokens } = app.tessera;
  const base = "/v1/orgs/:orgId/tokens";

  app.post(
    base,
    {
      schema: {
        tags: ["tokens"],
        operationId: "createToken",
        summary: "Create a token",
        description:
          "Creates a token; its secret is in this answer only (Cache-Control: no-store). Scopes default to your own permissions within the catalogue and can never exceed them. 409 when a quota is reached.",
        params: OrgParams,
        body: CreateTokenBody,
        response: { 201: ok("Created: the token and its secret", TokenWithSecret), ...problemResponses(404, 409) },
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
        operationId: "listTokens",
        summary: "List tokens",
        description:
          "The organisation's tokens, newest first, a page at a time (members see only their own); pass `nextCursor` as `cursor` for the next page.",
        params: OrgParams,
        querystring: TokenListQuery,
        response: {
          200: ok("A page of tokens", TokenList),
          ...problemResponses(404),
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
        operationId: "getToken",
        summary: "Get a token",
        description: "A token's details; never its secret.",
        params: TokenParams,
        response: { 200: ok("The token", TokenViewSchema), ...problemResponses(404) },
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
        operationId: "updateToken",
        summary: "Edit a token",
        description:
          "Edits the name, description, scopes (never beyond your own), allowed IPs, rate limit, metadata or expiry (shortened freely, extended within the organisation's policy); each change is audited with before and after.",
        params: TokenParams,
        body: UpdateTokenBody,
        response: { 200: ok("Updated", TokenViewSchema), ...problemResponses(404, 409) },
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
          operationId: `${transition}Token`,
          summary: `${transition[0]!.toUpperCase()}${transition.slice(1)} a token`,
          description: TRANSITION_DESCRIPTIONS[transition],
          params: TokenParams,
          ...(transition === "revoke" ? { body: RevokeBody } : {}),
          response: { 200: ok("The token in its new state", TokenViewSchema), ...problemResponses(404, 409) },
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
        operationId: "deleteToken",
        summary: "Delete (revoke) a token",
        description: "Same as revoke, without a reason: immediate and irreversible; the row stays for the audit trail.",
        params: TokenParams,
        response: { 200: ok("Revoked", TokenViewSchema), ...problemResponses(404, 409) },
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
        operationId: "regenerateToken",
        summary: "Regenerate a token's secret",
        description:
          "Issues a new secret (in this answer only); the old one stops working now or after `graceSeconds` (at most 7 days). The body may be left out.",
        params: TokenParams,
        body: RegenerateBody,
        response: { 200: ok("The token and its new secret", TokenWithSecret), ...problemResponses(404, 409) },
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
        operationId: "getTokenUsage",
        summary: "Get a token's usage",
        description:
          "Successful and refused verifications per hour or day between `from` and `to` (default: the last 24 hours hourly, 30 days daily), zero-filled.",
        params: TokenParams,
        querystring: UsageQuery,
        response: { 200: ok("Usage buckets, oldest first", Type.Array(UsageBucket)), ...problemResponses(404) },
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
        operationId: "listTokenAudit",
        summary: "A token's audit history",
        description: "Audit events about this token, newest first, filtered like the organisation's audit log.",
        params: TokenParams,
        querystring: AuditQuerySchema,
        response: { 200: ok("A page of events", AuditPage), ...problemResponses(404) },
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
        operationId: "listAuditEvents",
        summary: "The organisation's audit log",
        description:
          "Audit events, newest first, filtered by `action` (exact, or a prefix such as `token.*`), `actorId`, `targetId`, `from` and `to`.",
        params: OrgParams,
        querystring: AuditQuerySchema,
        response: { 200: ok("A page of events", AuditPage), ...problemResponses(404) },
      },
    },
    async (request) => {
      const access = await orgAccess(request, request.params.orgId);
      const page = await tokens.orgAudit(access, request.query);
      return { items: page.items.map(eventView), nextCursor: page.nextCursor };
    },
  );
};
