import { readFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";
import { Type } from "typebox";
import { TesseraError } from "../../core/errors.js";
import { authenticate } from "../auth.js";
import { metaOf } from "../context.js";
import { Email, Name, Role } from "../schemas.js";
import { problemResponses, type Routes } from "./types.js";

const ExternalId = Type.String({
  minLength: 1,
  maxLength: 200,
  pattern: "^[^\\u0000-\\u001f\\u007f]*$",
  description: "The host's own id for this user or organisation (unique)",
});
const Accent = Type.String({ pattern: "^#[0-9A-Fa-f]{6}$", description: "Accent colour, #rrggbb" });
const ThemeMode = Type.Union([Type.Literal("light"), Type.Literal("dark")]);

export const EmbedSessionBody = Type.Object(
  {
    user: Type.Object({ externalId: ExternalId, email: Email, name: Name }, { additionalProperties: false }),
    organization: Type.Object({ externalId: ExternalId, name: Name }, { additionalProperties: false }),
    role: Role,
    locale: Type.Optional(Type.Union([Type.Literal("en"), Type.Literal("it")])),
    theme: Type.Optional(
      Type.Union([
        ThemeMode,
        Type.Object({ mode: Type.Optional(ThemeMode), accent: Type.Optional(Accent) }, { additionalProperties: false }),
      ]),
    ),
  },
  { additionalProperties: false },
);

const EmbedSessionCreated = Type.Object({
  url: Type.String({ description: "The embedded page, with the single-use handoff in its fragment" }),
  expiresAt: Type.String({ format: "date-time", description: "When the handoff stops working (60 s)" }),
});

const ExchangeBody = Type.Object(
  { handoff: Type.String({ maxLength: 100, description: "The `handoff` from the URL's fragment" }) },
  { additionalProperties: false },
);

const EmbedGrantSchema = Type.Object({
  accessToken: Type.String({ description: "Bearer for the tokens screen's API calls; keep it in memory only" }),
  expiresAt: Type.String({ format: "date-time" }),
  user: Type.Object({ id: Type.String(), email: Type.String(), name: Type.String() }),
  organization: Type.Object({ id: Type.String(), name: Type.String() }),
  role: Role,
  locale: Type.Union([Type.Literal("en"), Type.Literal("it")]),
  theme: Type.Object({ mode: ThemeMode, accent: Type.Union([Type.String(), Type.Null()]) }),
});

/**
 * SPEC §9: the host's backend mints an embed session; the embedded page exchanges its handoff for a
 * bearer. The exchange is public (the handoff is the credential) and reads no cookie; minting takes a
 * root token (orgs:provision) or a service token (members:write) — a console session is refused.
 */
export const embedRoutes: Routes = async (app) => {
  const { embed } = app.tessera;

  app.post(
    "/v1/embed/sessions",
    {
      schema: {
        tags: ["embed"],
        operationId: "createEmbedSession",
        summary: "Mint an embed session for a host user, upserting the user, organisation and membership",
        description:
          "Called by the host's backend with a root token holding orgs:provision (any organisation) or a service token " +
          "holding members:write (its own organisation). Users and organisations are matched by externalId and created " +
          "or updated; the membership takes the given role (never more than the caller could grant). Returns the " +
          "embedded page's URL, whose fragment carries a single-use handoff valid for 60 seconds.",
        security: [{ bearer: [] }],
        body: EmbedSessionBody,
        response: { 201: EmbedSessionCreated, ...problemResponses(400, 401, 403, 409, 429) },
      },
    },
    async (request, reply) => {
      const actor = await authenticate(request);
      const { theme, ...rest } = request.body;
      const created = await embed.createSession(
        actor,
        { ...rest, theme: typeof theme === "string" ? { mode: theme } : theme },
        metaOf(request),
      );
      return reply.code(201).send({ url: created.url, expiresAt: new Date(created.expiresAt).toISOString() });
    },
  );

  app.post(
    "/v1/embed/exchange",
    {
      config: { public: true },
      schema: {
        tags: ["embed"],
        operationId: "exchangeEmbedHandoff",
        summary: "Exchange an embed handoff for the embedded page's short-lived bearer",
        description:
          "Single use: a handoff that was already exchanged, has expired (60 s) or never existed is refused alike (401). " +
          "The bearer is confined to the organisation's tokens screen and lasts TESSERA_EMBED_SESSION_MINUTES.",
        security: [],
        body: ExchangeBody,
        response: { 200: EmbedGrantSchema, ...problemResponses(400, 401, 429) },
      },
    },
    async (request) => {
      if (request.headers.authorization !== undefined) {
        throw new TesseraError("validation_failed", "The handoff is the credential: send no Authorization header", {
          fields: [{ field: "authorization", message: "must not be sent" }],
        });
      }
      const grant = await embed.exchange(request.body.handoff);
      return {
        accessToken: grant.accessToken,
        expiresAt: new Date(grant.expiresAt).toISOString(),
        user: { id: grant.user.id, email: grant.user.email, name: grant.user.name },
        organization: { id: grant.organization.id, name: grant.organization.name },
        role: grant.role,
        locale: grant.locale,
        theme: grant.theme,
      };
    },
  );
};

/** The `tessera-embed` browser script (embed/tessera-embed.js at the package root), read once. */
function loadEmbedScript(): string {
  return readFileSync(new URL("../../../embed/tessera-embed.js", import.meta.url), "utf8");
}

/**
 * The embedded page (`/embed`, the console's single page, served with the framing headers set in app.ts)
 * and the `tessera-embed` script (`/embed.js`), which host pages load from another origin.
 */
export function embedScriptRoute(hasConsole: boolean) {
  return async (app: FastifyInstance) => {
    const script = loadEmbedScript();
    app.get("/embed.js", { schema: { hide: true }, config: { public: true } }, async (_request, reply) =>
      reply
        .type("text/javascript; charset=utf-8")
        .header("cache-control", "public, max-age=300")
        .header("cross-origin-resource-policy", "cross-origin")
        .send(script),
    );
    app.get("/embed", { schema: { hide: true }, config: { public: true } }, async (_request, reply) =>
      hasConsole
        ? reply.type("text/html").header("cache-control", "no-store").sendFile("index.html")
        : reply
            .type("text/html")
            .send("<!doctype html><title>Tessera</title><p>The console is not built: run <code>npm run build</code>.</p>"),
    );
  };
}
