import { Type } from "typebox";
import { TesseraError } from "../../core/errors.js";
import { OIDC_FLOW_TTL_MS, type OidcFlow, OidcSignInError, safeReturnTo } from "../../services/oidc-service.js";
import { isHttps, setSessionCookies } from "../auth.js";
import { type FastifyReply, type FastifyRequest, metaOf } from "../context.js";
import { problemResponses, type Routes } from "./types.js";

/** The browser's half of a sign-in in progress (see `OidcFlow`): sent back only to the callback. */
export const OIDC_FLOW_COOKIE = "tessera_oidc";
const CALLBACK_PATH = "/v1/auth/oidc/callback";
/** The console reads this query parameter on the page it lands on and explains the refusal. */
export const SIGNIN_ERROR_PARAM = "signin_error";

function encodeFlow(flow: OidcFlow): string {
  return Buffer.from(JSON.stringify([flow.state, flow.nonce, flow.verifier, flow.returnTo, flow.startedAt])).toString(
    "base64url",
  );
}

/** The flow cookie, or undefined for anything that is not one (absent, cut, tampered into another shape). */
function decodeFlow(value: string | undefined): OidcFlow | undefined {
  if (!value || value.length > 4096) return undefined;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(value, "base64url").toString("utf8"));
    if (!Array.isArray(parsed) || parsed.length !== 5) return undefined;
    const [state, nonce, verifier, returnTo, startedAt] = parsed as unknown[];
    if (typeof state !== "string" || typeof nonce !== "string" || typeof verifier !== "string") return undefined;
    if (typeof returnTo !== "string" || typeof startedAt !== "number") return undefined;
    return { state, nonce, verifier, returnTo, startedAt };
  } catch {
    return undefined;
  }
}

function clearFlow(request: FastifyRequest, reply: FastifyReply): void {
  reply.clearCookie(OIDC_FLOW_COOKIE, { path: CALLBACK_PATH, httpOnly: true, sameSite: "lax", secure: isHttps(request) });
}

const notConfigured = () => new TesseraError("not_found", "OpenID Connect sign-in is not configured on this instance");

const Redirect = (description: string) => ({
  description,
  type: "null",
  headers: { location: { type: "string", description: "Where the browser goes next" } },
});

export const oidcRoutes: Routes = async (app) => {
  const { tessera } = app;

  app.get(
    "/v1/auth/methods",
    {
      config: { public: true },
      schema: {
        tags: ["auth"],
        operationId: "getSignInMethods",
        summary: "How people sign in to the console: password, OpenID Connect, or both",
        description:
          "Public: the sign-in page asks it before anyone is signed in. `oidc` is null when no provider is configured; `password` is false under `TESSERA_OIDC_ONLY=true`.",
        security: [],
        response: {
          200: Type.Object({
            password: Type.Boolean(),
            oidc: Type.Union([
              Type.Object({ name: Type.String({ description: "Shown as “Sign in with <name>”" }) }),
              Type.Null(),
            ]),
          }),
        },
      },
    },
    async () => ({
      password: !tessera.config.oidc?.only,
      oidc: tessera.oidc ? { name: tessera.oidc.name } : null,
    }),
  );

  app.post(
    "/v1/auth/oidc/start",
    {
      config: { public: true },
      schema: {
        tags: ["auth"],
        operationId: "startOidcSignIn",
        summary: "Start signing in with the OpenID Connect provider",
        description:
          "Answers the provider's authorisation URL (authorisation code with PKCE, state and nonce) for the browser to open, and sets the HttpOnly `tessera_oidc` cookie that the callback checks them against. `returnTo` is a path on this server to land on afterwards (default `/`).",
        security: [],
        body: Type.Object(
          { returnTo: Type.Optional(Type.String({ minLength: 1, maxLength: 2048 })) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ authorizationUrl: Type.String() }),
          ...problemResponses(400, 404, 503),
        },
      },
    },
    async (request, reply) => {
      if (!tessera.oidc) throw notConfigured();
      const { authorizationUrl, flow } = await tessera.oidc.begin(request.body.returnTo);
      reply.setCookie(OIDC_FLOW_COOKIE, encodeFlow(flow), {
        path: CALLBACK_PATH,
        httpOnly: true,
        // Lax: the provider sends the browser back with a top-level GET, which Lax cookies accompany.
        sameSite: "lax",
        secure: isHttps(request),
        maxAge: OIDC_FLOW_TTL_MS / 1000,
      });
      return { authorizationUrl };
    },
  );

  app.get(
    CALLBACK_PATH,
    {
      config: { public: true },
      schema: {
        tags: ["auth"],
        operationId: "completeOidcSignIn",
        summary: "Where the OpenID Connect provider sends the browser back (register this URL at the provider)",
        description:
          "Checks state (against the `tessera_oidc` cookie), issuer, the code with its PKCE verifier, the ID token and its nonce; then signs the person in (session and CSRF cookies, as the password sign-in) and redirects to the `returnTo` path. A refusal redirects to that path with `?signin_error=<reason>` and is audited (`auth.login_failed`, `details.method: oidc`).",
        security: [],
        querystring: Type.Object(
          {
            code: Type.Optional(Type.String({ maxLength: 2048 })),
            state: Type.Optional(Type.String({ maxLength: 2048 })),
            iss: Type.Optional(Type.String({ maxLength: 2048 })),
            error: Type.Optional(Type.String({ maxLength: 2048 })),
            error_description: Type.Optional(Type.String({ maxLength: 2048 })),
          },
          { additionalProperties: true },
        ),
        response: {
          303: Redirect("Signed in (to `returnTo`) or refused (to `returnTo?signin_error=<reason>`)"),
          ...problemResponses(400, 404),
        },
      },
    },
    async (request, reply) => {
      if (!tessera.oidc) throw notConfigured();
      const flow = decodeFlow(request.cookies[OIDC_FLOW_COOKIE]);
      // Whatever happens next, this flow is spent: a second answer in this browser needs a new start.
      clearFlow(request, reply);
      const query = request.url.includes("?") ? request.url.slice(request.url.indexOf("?") + 1) : "";
      try {
        const { session, returnTo } = await tessera.oidc.complete(query, flow, metaOf(request));
        setSessionCookies(request, reply, session);
        return reply.redirect(returnTo, 303);
      } catch (error) {
        if (!(error instanceof OidcSignInError)) throw error;
        if (error.reason === "invalid_response" || error.reason === "code_rejected") {
          request.log.warn({ reason: error.reason, detail: error.message }, "OpenID Connect sign-in refused");
        }
        const back = new URL(safeReturnTo(flow?.returnTo ?? "/", tessera.config.publicUrl) ?? "/", tessera.config.publicUrl);
        back.searchParams.set(SIGNIN_ERROR_PARAM, error.reason);
        return reply.redirect(`${back.pathname}${back.search}${back.hash}`, 303);
      }
    },
  );
};
