import { Type } from "typebox";
import { TesseraError } from "../../core/errors.js";
import type { InvitationWithInviter } from "../../services/account-service.js";
import { authenticate, orgAccess, SESSION_COOKIE, setSessionCookies } from "../auth.js";
import type { FastifyRequest } from "../context.js";
import { metaOf } from "../context.js";
import {
  Email,
  InvitationList,
  InvitationParams,
  InvitationPreviewSchema,
  InvitationSchema,
  LinkSecret,
  MailLocaleSchema,
  Name,
  OrgParams,
  Password,
  Role,
  UserSchema,
} from "../schemas.js";
import { iso } from "../views.js";
import { noContent, ok, problemResponses, type Routes, SET_SESSION_COOKIES } from "./types.js";

export function invitationView(i: InvitationWithInviter) {
  return {
    id: i.id,
    orgId: i.orgId,
    email: i.email,
    role: i.role,
    status: i.status,
    invitedBy: { id: i.invitedById, name: i.invitedByName },
    createdAt: iso(i.createdAt)!,
    expiresAt: iso(i.expiresAt)!,
    acceptedAt: iso(i.acceptedAt),
  };
}

/**
 * The person behind a console session, or null when nobody is signed in (an invalid or expired cookie
 * counts as nobody). A signed-in accept is a mutating cookie request: the CSRF check applies. Tokens
 * cannot accept invitations: joining is a person's act.
 */
async function signedInUser(request: FastifyRequest) {
  if (request.headers.authorization !== undefined) {
    throw new TesseraError("forbidden", "Invitations are accepted by a person in the console, not with a token");
  }
  const cookie = request.cookies[SESSION_COOKIE];
  if (!cookie || !(await request.server.tessera.auth.resolveSession(cookie))) return null;
  const actor = await authenticate(request);
  return actor.type === "user" ? actor.user : null;
}

/** `POST /v1/orgs/{orgId}/invitations`'s body (also what `tessera invite` validates). */
export const InviteBody = Type.Object(
  { email: Email, role: Role, locale: Type.Optional(MailLocaleSchema) },
  { additionalProperties: false },
);

export const invitationRoutes: Routes = async (app) => {
  const { accounts } = app.tessera;

  app.post(
    "/v1/orgs/:orgId/invitations",
    {
      schema: {
        tags: ["members"],
        operationId: "createInvitation",
        summary: "Invite someone to the organisation",
        description:
          "Invites an email address to join with a role (never above your own). Mailed when SMTP is configured; otherwise `acceptUrl` carries the link, once. Expires after 7 days; single use.",
        params: OrgParams,
        body: InviteBody,
        response: {
          201: ok("Invited", Type.Object({ invitation: InvitationSchema, acceptUrl: Type.Union([Type.String(), Type.Null()]) })),
          ...problemResponses(404, 409),
        },
      },
    },
    async (request, reply) => {
      const access = await orgAccess(request, request.params.orgId);
      const { invitation, acceptUrl } = await accounts.invite(access, request.body, metaOf(request));
      return reply.code(201).send({ invitation: invitationView(invitation), acceptUrl });
    },
  );

  app.get(
    "/v1/orgs/:orgId/invitations",
    {
      schema: {
        tags: ["members"],
        operationId: "listInvitations",
        summary: "List invitations",
        description: "The organisation's invitations, pending first, newest first.",
        params: OrgParams,
        response: { 200: ok("The invitations", InvitationList), ...problemResponses(404) },
      },
    },
    async (request) => {
      const access = await orgAccess(request, request.params.orgId);
      return { items: (await accounts.invitations(access)).map(invitationView) };
    },
  );

  app.delete(
    "/v1/orgs/:orgId/invitations/:id",
    {
      schema: {
        tags: ["members"],
        operationId: "revokeInvitation",
        summary: "Revoke an invitation",
        description: "Revokes a pending invitation: its link stops working. 409 when it is no longer pending.",
        params: InvitationParams,
        response: { 204: noContent("Revoked"), ...problemResponses(404, 409) },
      },
    },
    async (request, reply) => {
      const access = await orgAccess(request, request.params.orgId);
      await accounts.revokeInvitation(access, request.params.id, metaOf(request));
      return reply.code(204).send(null);
    },
  );

  app.get(
    "/v1/invitations/:token",
    {
      config: { public: true },
      schema: {
        tags: ["members"],
        operationId: "getInvitation",
        summary: "What an invitation is for",
        description:
          "The organisation, email, role and inviter of a pending invitation. Public: the secret from the link is the credential.",
        security: [],
        params: Type.Object({ token: LinkSecret }),
        response: { 200: ok("The invitation", InvitationPreviewSchema), ...problemResponses(404) },
      },
    },
    async (request) => {
      const { invitation, organization } = await accounts.describeInvitation(request.params.token);
      return {
        organization: { id: organization.id, name: organization.name },
        email: invitation.email,
        role: invitation.role,
        invitedBy: { name: invitation.invitedByName },
        expiresAt: iso(invitation.expiresAt)!,
      };
    },
  );

  app.post(
    "/v1/invitations/accept",
    {
      config: { public: true },
      schema: {
        tags: ["members"],
        operationId: "acceptInvitation",
        summary: "Accept an invitation",
        description:
          "Joins the organisation: signed in as the invited email (a console session, with the CSRF header), or as a new account choosing its own name and password (then signed in). A bearer token is refused with 403.",
        // Anonymous (a new account) or a console session: never a bearer token.
        security: [{}, { session: [] }],
        body: Type.Object(
          { token: LinkSecret, name: Type.Optional(Name), password: Type.Optional(Password) },
          { additionalProperties: false },
        ),
        response: {
          200: ok(
            "Joined (a new account is signed in)",
            Type.Object({
              user: UserSchema,
              organization: Type.Object({ id: Type.String(), name: Type.String() }),
              role: Role,
            }),
            SET_SESSION_COOKIES,
          ),
          ...problemResponses(403, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const caller = await signedInUser(request);
      const { token, ...input } = request.body;
      const result = await accounts.accept(token, caller, input, metaOf(request));
      if (result.session) setSessionCookies(request, reply, result.session);
      return {
        user: { id: result.user.id, email: result.user.email, name: result.user.name },
        organization: { id: result.organization.id, name: result.organization.name },
        role: result.role,
      };
    },
  );
};
