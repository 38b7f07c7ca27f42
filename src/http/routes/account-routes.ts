import { Type } from "typebox";
import { TesseraError } from "../../core/errors.js";
import type { UserRecord } from "../../store/users-repository.js";
import { authenticate, clearSessionCookies, SESSION_COOKIE } from "../auth.js";
import { type FastifyRequest, metaOf } from "../context.js";
import { Email, Id, LinkSecret, MailLocaleSchema, Password, SessionList } from "../schemas.js";
import { iso } from "../views.js";
import { noContent, ok, problemResponses, type Routes, SET_SESSION_COOKIES } from "./types.js";

/** Password change and sessions are a person's own, from the console: a bearer token is refused. */
async function sessionUser(request: FastifyRequest): Promise<{ user: UserRecord; cookie: string }> {
  const actor = await authenticate(request);
  if (actor.type !== "user") throw new TesseraError("forbidden", "Only a signed-in person (console session) can do this");
  return { user: actor.user, cookie: request.cookies[SESSION_COOKIE]! };
}

export const accountRoutes: Routes = async (app) => {
  const { accounts } = app.tessera;

  app.post(
    "/v1/auth/password-reset",
    {
      config: { public: true },
      schema: {
        tags: ["auth"],
        operationId: "requestPasswordReset",
        summary: "Ask for a password reset link",
        description:
          "Mails a single-use reset link when the address belongs to an account. Always answers 202, whether or not the account exists, so that it cannot be used to find accounts.",
        security: [],
        body: Type.Object({ email: Email }, { additionalProperties: false }),
        response: { 202: noContent("Accepted: a link is mailed if the account exists") },
      },
    },
    async (request, reply) => {
      await accounts.requestPasswordReset(request.body.email, metaOf(request));
      // No body at all (the typed reply insists on the schema's null, which would serialise as "null").
      return reply.code(202).send(undefined as never);
    },
  );

  app.post(
    "/v1/auth/password-reset/confirm",
    {
      config: { public: true },
      schema: {
        tags: ["auth"],
        operationId: "confirmPasswordReset",
        summary: "Set a new password with a reset link",
        description:
          "Sets the account's password with the secret from a reset link (single use). Every session of the account ends.",
        security: [],
        body: Type.Object({ token: LinkSecret, password: Password }, { additionalProperties: false }),
        response: { 204: noContent("Password changed"), ...problemResponses(404) },
      },
    },
    async (request, reply) => {
      await accounts.confirmPasswordReset(request.body.token, request.body.password, metaOf(request));
      return reply.code(204).send(null);
    },
  );

  app.post(
    "/v1/me/password",
    {
      schema: {
        tags: ["auth"],
        operationId: "changePassword",
        summary: "Change your password",
        description:
          "Changes the signed-in person's password, given the current one (console session only; a bearer token is refused with 403). The person's other sessions end; this one stays.",
        body: Type.Object({ currentPassword: Password, newPassword: Password }, { additionalProperties: false }),
        response: { 204: noContent("Password changed") },
      },
    },
    async (request, reply) => {
      const { user, cookie } = await sessionUser(request);
      await accounts.changePassword(user, cookie, request.body.currentPassword, request.body.newPassword, metaOf(request));
      return reply.code(204).send(null);
    },
  );

  app.put(
    "/v1/me/locale",
    {
      schema: {
        tags: ["auth"],
        operationId: "setMyLocale",
        summary: "Set the language of your mail",
        description:
          "The language (`en` or `it`) of the notices Tessera mails you: expiring, expired, stale, deactivated and leaked tokens. The console sets it when you switch language (console session only; a bearer token is refused with 403).",
        body: Type.Object({ locale: MailLocaleSchema }, { additionalProperties: false }),
        response: { 204: noContent("Saved") },
      },
    },
    async (request, reply) => {
      const { user } = await sessionUser(request);
      await accounts.setLocale(user, request.body.locale);
      return reply.code(204).send(null);
    },
  );

  app.get(
    "/v1/me/sessions",
    {
      schema: {
        tags: ["auth"],
        operationId: "listSessions",
        summary: "List your console sessions",
        description:
          "Your open console sessions, newest first; `current` marks the one making this request (console session only).",
        response: { 200: ok("Your sessions", SessionList) },
      },
    },
    async (request) => {
      const { user, cookie } = await sessionUser(request);
      const items = await accounts.sessions(user.id, cookie);
      return {
        items: items.map((s) => ({
          ...s,
          createdAt: iso(s.createdAt)!,
          expiresAt: iso(s.expiresAt)!,
          lastSeenAt: iso(s.lastSeenAt),
        })),
      };
    },
  );

  app.delete(
    "/v1/me/sessions",
    {
      schema: {
        tags: ["auth"],
        operationId: "endAllSessions",
        summary: "Sign out everywhere",
        description: "Ends every session of your account, this one included, and clears the session cookies.",
        response: { 204: noContent("Every session ended", SET_SESSION_COOKIES) },
      },
    },
    async (request, reply) => {
      const { user } = await sessionUser(request);
      await accounts.endAllSessions(user, metaOf(request));
      clearSessionCookies(request, reply);
      return reply.code(204).send(null);
    },
  );

  app.delete(
    "/v1/me/sessions/:id",
    {
      schema: {
        tags: ["auth"],
        operationId: "endSession",
        summary: "End one of your sessions",
        description: "Ends one of your sessions by id; ending the current one also clears its cookies.",
        params: Type.Object({ id: Id }),
        response: { 204: noContent("Session ended", SET_SESSION_COOKIES), ...problemResponses(404) },
      },
    },
    async (request, reply) => {
      const { user, cookie } = await sessionUser(request);
      await accounts.endSession(user, request.params.id, metaOf(request));
      const current = (await accounts.sessions(user.id, cookie)).some((s) => s.current);
      if (!current) clearSessionCookies(request, reply);
      return reply.code(204).send(null);
    },
  );
};
