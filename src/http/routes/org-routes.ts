import { Type } from "typebox";
import { QUOTA_CEILING } from "../../core/quotas.js";
import { authenticate, orgAccess } from "../auth.js";
import { metaOf } from "../context.js";
import {
  MemberList,
  MemberParams,
  MemberSchema,
  Name,
  OrgList,
  OrgParams,
  OrgPatchBody,
  OrgSchema,
  Role,
  ScopeCatalogue,
} from "../schemas.js";
import { memberView, orgView } from "../views.js";
import { noContent, ok, problemResponses, type Routes } from "./types.js";

const SETTINGS_KEYS = [
  "tokenPrefix",
  "defaultExpiryDays",
  "maxExpiryDays",
  "requireExpiry",
  "membersCanCreateTokens",
  "revokeRequiresSuspension",
  "membersCanSeeTokens",
  "auditRetentionDays",
  "expiryNoticeDays",
  "staleAfterDays",
  "autoDeactivateUnusedDays",
  "onLeak",
  "rateLimits",
] as const;

/**
 * The scope catalogue's body at its schema's maxima: 500 entries of a 130-character ASCII name and a
 * 300-character description (3 bytes a character in UTF-8), with keys and punctuation (40): 520 KiB,
 * plus 8 KiB of whitespace. The one route whose body may exceed the default 64 KiB.
 */
export const CATALOGUE_BODY_LIMIT = Math.ceil((500 * (130 + 300 * 3 + 40)) / 1024) * 1024 + 8 * 1024;

/** `PUT /v1/orgs/{orgId}/scopes`'s body (also what `tessera scopes set|add` validates). */
export const CatalogueBody = Type.Array(
  Type.Object(
    { name: Type.String({ minLength: 1, maxLength: 130 }), description: Type.Optional(Type.String({ maxLength: 300 })) },
    { additionalProperties: false },
  ),
  // Above the largest configurable quota no setting could accept the body: refused before any work.
  { maxItems: QUOTA_CEILING.scopesPerCatalogue },
);

export const orgRoutes: Routes = async (app) => {
  const { orgs } = app.tessera;

  app.get(
    "/v1/orgs",
    {
      schema: {
        tags: ["organisations"],
        operationId: "listOrganizations",
        summary: "List your organisations",
        description:
          "Organisations you belong to (a token: its own), oldest first, a page at a time; pass `nextCursor` as `cursor` for the next page.",
        querystring: Type.Object({
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 })),
          cursor: Type.Optional(
            Type.String({ pattern: "^org_[0-9A-Za-z]{22}$", description: "nextCursor of the previous page" }),
          ),
        }),
        response: {
          200: ok("A page of organisations", OrgList),
        },
      },
    },
    async (request) => {
      const actor = await authenticate(request);
      const page = await orgs.list(actor, request.query);
      return { items: page.items.map((o) => orgView(o, o.role)), nextCursor: page.nextCursor };
    },
  );

  app.post(
    "/v1/orgs",
    {
      schema: {
        tags: ["organisations"],
        operationId: "createOrganization",
        summary: "Create an organisation",
        description: "Creates an organisation; you become its owner. 409 when the instance's organisation quota is reached.",
        body: Type.Object({ name: Name }, { additionalProperties: false }),
        response: { 201: ok("Created", OrgSchema), ...problemResponses(409) },
      },
    },
    async (request, reply) => {
      const actor = await authenticate(request);
      const org = await orgs.create(actor, request.body.name, metaOf(request));
      return reply.code(201).send(orgView(org, "owner"));
    },
  );

  app.get(
    "/v1/orgs/:orgId",
    {
      schema: {
        tags: ["organisations"],
        operationId: "getOrganization",
        summary: "Get an organisation",
        description: "An organisation, your role in it and its settings.",
        params: OrgParams,
        response: { 200: ok("The organisation", OrgSchema), ...problemResponses(404) },
      },
    },
    async (request) => {
      const access = await orgAccess(request, request.params.orgId);
      return orgView(await orgs.get(access), access.role);
    },
  );

  app.patch(
    "/v1/orgs/:orgId",
    {
      schema: {
        tags: ["organisations"],
        operationId: "updateOrganization",
        summary: "Rename an organisation or change its policy",
        description:
          "Renames the organisation or changes its token policy; settings may be sent nested (`settings`) or at the top level. Each change is audited.",
        params: OrgParams,
        body: OrgPatchBody,
        response: { 200: ok("Updated", OrgSchema), ...problemResponses(404) },
      },
    },
    async (request) => {
      const access = await orgAccess(request, request.params.orgId);
      const body = request.body;
      const settings: Record<string, unknown> = { ...body.settings };
      for (const key of SETTINGS_KEYS) if (body[key] !== undefined) settings[key] = body[key];
      const org = await orgs.update(access, { name: body.name, settings }, metaOf(request));
      return orgView(org, access.role);
    },
  );

  app.get(
    "/v1/orgs/:orgId/members",
    {
      schema: {
        tags: ["members"],
        operationId: "listMembers",
        summary: "List members",
        description: "The organisation's members and their roles.",
        params: OrgParams,
        response: { 200: ok("The members", MemberList), ...problemResponses(404) },
      },
    },
    async (request) => {
      const access = await orgAccess(request, request.params.orgId);
      return { items: (await orgs.members(access)).map(memberView) };
    },
  );

  app.patch(
    "/v1/orgs/:orgId/members/:userId",
    {
      schema: {
        tags: ["members"],
        operationId: "updateMemberRole",
        summary: "Change a member's role",
        description: "Changes a member's role, never above your own; 409 when it would leave the organisation without an owner.",
        params: MemberParams,
        body: Type.Object({ role: Role }, { additionalProperties: false }),
        response: { 200: ok("Updated", MemberSchema), ...problemResponses(404, 409) },
      },
    },
    async (request) => {
      const access = await orgAccess(request, request.params.orgId);
      return memberView(await orgs.changeRole(access, request.params.userId, request.body.role, metaOf(request)));
    },
  );

  app.delete(
    "/v1/orgs/:orgId/members/:userId",
    {
      schema: {
        tags: ["members"],
        operationId: "removeMember",
        summary: "Remove a member, or leave",
        description:
          "Removes a member, or leaves when the id is your own; their personal tokens in this organisation are revoked. 409 for the last owner.",
        params: MemberParams,
        response: { 204: noContent("Removed"), ...problemResponses(404, 409) },
      },
    },
    async (request, reply) => {
      const access = await orgAccess(request, request.params.orgId);
      await orgs.removeMember(access, request.params.userId, metaOf(request));
      return reply.code(204).send(null);
    },
  );

  app.get(
    "/v1/orgs/:orgId/scopes",
    {
      schema: {
        tags: ["scopes"],
        operationId: "getScopes",
        summary: "Get the scope catalogue",
        description: "The scopes this organisation's tokens may hold: Tessera's management scopes and the product's own.",
        params: OrgParams,
        response: { 200: ok("The catalogue", ScopeCatalogue), ...problemResponses(404) },
      },
    },
    async (request) => {
      const access = await orgAccess(request, request.params.orgId);
      return orgs.catalogue(access);
    },
  );

  app.put(
    "/v1/orgs/:orgId/scopes",
    {
      bodyLimit: CATALOGUE_BODY_LIMIT,
      schema: {
        tags: ["scopes"],
        operationId: "replaceScopes",
        summary: "Replace the product scopes",
        description:
          "Replaces the product's scopes (management scopes in the body are ignored); answers the whole catalogue. 409 when a quota is reached.",
        params: OrgParams,
        body: CatalogueBody,
        response: { 200: ok("The new catalogue", ScopeCatalogue), ...problemResponses(404, 409) },
      },
    },
    async (request) => {
      const access = await orgAccess(request, request.params.orgId);
      return orgs.replaceCatalogue(access, request.body, metaOf(request));
    },
  );
};
