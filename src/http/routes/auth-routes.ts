import { Type } from "typebox";
import { TesseraError } from "../../core/errors.js";
import { authenticate, clearSessionCookies, SESSION_COOKIE, setSessionCookies } from "../auth.js";
import { metaOf } from "../context.js";
import { Email, MembershipSchema, MeSchema, Name, OrgSchema, Password, UserSchema } from "../schemas.js";
import { orgView } from "../views.js";
import { noContent, ok, problemResponses, type Routes, SET_SESSION_COOKIES } from "./types.js";

/** `POST /v1/setup`'s body (also what `tessera setup` validates). */
export const SetupBody = Type.Object(
  {
    email: Email,
    password: Password,
    name: Name,
    organization: Type.Object({ name: Name }, { additionalProperties: false }),
  },
  { additionalProperties: false },
);

const userView = (u: { id: string; email: string; name: string }) => ({ id: u.id, email: u.email, name: u.name });

export const authRoutes: Routes = async (app) => {
  app.post(
    "/v1/setup",
    {
      config: { public: true },
      schema: {
        tags: ["auth"],
        operationId: "setup",
        summary: "First run: create the first user and organisation",
        description:
          "Creates the first user (owner) and organisation and signs them in. Only while no user exists: 409 afterwards.",
        body: SetupBody,
        response: {
          201: ok("Set up; signed in", Type.Object({ user: UserSchema, organization: OrgSchema }), SET_SESSION_COOKIES),
          ...problemResponses(409),
        },
      },
    },
    async (request, reply) => {
      // Once set up, answer before the service hashes the password: this route takes no credentials and
      // has no failure limit, so a 1 KiB password per request must not buy an attacker ~100 ms of scrypt.
      // (The service checks again inside its transaction, for two concurrent first runs.)
      if (!(await app.tessera.auth.isSetupRequired())) {
        throw new TesseraError("invalid_state", "Tessera is already set up; sign in instead");
      }
      const { user, organization, session } = await app.tessera.auth.setup(request.body, metaOf(request));
      setSessionCookies(request, reply, session);
      return reply.code(201).send({ user: userView(user), organization: orgView(organization, "owner") });
    },
  );

  app.post(
    "/v1/auth/login",
    {
      config: { public: true },
      schema: {
        tags: ["auth"],
        operationId: "login",
        summary: "Sign in to the console",
        description:
          "Checks the email and password and sets the session cookie and the readable CSRF cookie. Repeated failures per address and per account are refused with 429.",
        body: Type.Object({ email: Type.String({ maxLength: 320 }), password: Password }, { additionalProperties: false }),
        response: {
          200: ok("Signed in", Type.Object({ user: UserSchema, memberships: Type.Array(MembershipSchema) }), SET_SESSION_COOKIES),
          ...problemResponses(401, 429),
        },
      },
    },
    async (request, reply) => {
      const { user, memberships, session } = await app.tessera.auth.login(
        request.body.email,
        request.body.password,
        metaOf(request),
      );
      setSessionCookies(request, reply, session);
      return { user: userView(user), memberships };
    },
  );

  app.post(
    "/v1/auth/logout",
    {
      schema: {
        tags: ["auth"],
        operationId: "logout",
        summary: "Sign out",
        description: "Ends the current console session and clears its cookies (a bearer token is refused with 403).",
        response: { 204: noContent("Signed out", SET_SESSION_COOKIES) },
      },
    },
    async (request, reply) => {
      const actor = await authenticate(request);
      if (actor.type !== "user") throw new TesseraError("forbidden", "Only a console session can sign out");
      await app.tessera.auth.logout(request.cookies[SESSION_COOKIE]!);
      clearSessionCookies(request, reply);
      return reply.code(204).send(null);
    },
  );

  app.get(
    "/v1/me",
    {
      schema: {
        tags: ["auth"],
        operationId: "getMe",
        summary: "Who am I",
        description:
          "The signed-in person (or the bearer token's owner, null for a service or root token) and their memberships; for a bearer token, the token too.",
        response: {
          200: ok("The caller", MeSchema),
        },
      },
    },
    async (request) => {
      const actor = await authenticate(request);
      if (actor.type === "user") {
        return { user: userView(actor.user), memberships: await app.tessera.auth.memberships(actor.user.id) };
      }
      if (actor.type !== "token") throw new TesseraError("unauthorized", "Not signed in");
      const { token, owner } = actor;
      const memberships =
        owner && token.orgId ? (await app.tessera.auth.memberships(owner.id)).filter((m) => m.orgId === token.orgId) : [];
      return {
        user: owner ? userView(owner) : null,
        memberships,
        token: { id: token.id, name: token.name, kind: token.kind, orgId: token.orgId, scopes: token.scopes },
      };
    },
  );
};
