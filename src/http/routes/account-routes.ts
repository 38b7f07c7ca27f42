import { Type } from "typebox";
import { TesseraError } from "../../core/errors.js";
import type { UserRecord } from "../../store/users-repository.js";
import { authenticate, clearSessionCookies, SESSION_COOKIE } from "../auth.js";
import { type FastifyRequest, metaOf } from "../context.js";
import { Email, Id, LinkSecret, Password, SessionSchema } from "../schemas.js";
import { iso } from "../views.js";
import { problemResponses, type Routes } from "./types.js";

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
      schema: {
        tags: ["auth"],
        summary: "Ask for a password reset link by mail (always 202: says nothing about whether the account exists)",
        security: [],
        body: Type.Object({ email: Email }, { additionalProperties: false }),
        response: { 202: Type.Null(), ...problemResponses(400, 429) },
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
      schema: {
        tags: ["auth"],
        summary: "Set a new password with a reset link (single use); every session of the account ends",
        security: [],
        body: Type.Object({ token: LinkSecret, password: Password }, { additionalProperties: false }),
        response: { 204: Type.Null(), ...problemResponses(400, 404) },
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
        summary: "Change your password with the current one; your other sessions end",
        body: Type.Object({ currentPassword: Password, newPassword: Password }, { additionalProperties: false }),
        response: { 204: Type.Null(), ...problemResponses(400, 401, 403, 429) },
      },
    },
    async (request, reply) => {
      const { user, cookie } = await sessionUser(request);
      await accounts.changePassword(user, cookie, request.body.currentPassword, request.body.newPassword, metaOf(request));
      return reply.code(204).send(null);
    },
  );

  app.get(
    "/v1/me/sessions",
    {
      schema: {
        tags: ["auth"],
        summary: "Your open console sessions, newest first",
        response: { 200: Type.Object({ items: Type.Array(SessionSchema) }), ...problemResponses(401, 403) },
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
        summary: "Sign out everywhere: ends every session of your account, this one included",
        response: { 204: Type.Null(), ...problemResponses(401, 403) },
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
        summary: "End one of your sessions",
        params: Type.Object({ id: Id }),
        response: { 204: Type.Null(), ...problemResponses(401, 403, 404) },
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
