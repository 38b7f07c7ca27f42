import { Type } from "typebox";
import type { FastifyRequest } from "../context.js";
import { metaOf } from "../context.js";
import { component } from "../schemas.js";
import { parseJsonBody } from "../validation.js";
import { ok, problemResponses, type Routes } from "./types.js";

/** At most this many matches per alert request (GitHub batches matches; far more is no alert). */
const MAX_ALERTS = 1000;
/** The route's body limit: hundreds of matches (GitHub sends a few at a time); under the scope catalogue's, the largest. */
const ALERT_BODY_LIMIT = 256 * 1024;

/** GitHub's secret scanning partner alert: the matches it found in public (inline: a request body). */
const SecretAlertList = Type.Array(
  Type.Object({
    token: Type.String({ maxLength: 1000, description: "The string GitHub matched" }),
    type: Type.String({ maxLength: 200, description: "The secret type registered with GitHub" }),
    url: Type.String({ maxLength: 4000, description: "Where GitHub found it" }),
    source: Type.String({ maxLength: 200, description: "content, commit, issue, npm, …" }),
  }),
  { maxItems: MAX_ALERTS },
);

const SecretAlertFeedbackList = component(
  "GitHubSecretAlertFeedback",
  "Per reported match, in order: whether it is a live-or-dead Tessera token of this instance",
  Type.Array(
    Type.Object({
      token_raw: Type.String(),
      token_type: Type.String(),
      label: Type.Union([Type.Literal("true_positive"), Type.Literal("false_positive")]),
    }),
  ),
);

/** The exact bytes GitHub signed, kept beside the parsed body for the signature check. */
const rawBodies = new WeakMap<FastifyRequest, Buffer>();

/**
 * `POST /v1/secret-scanning/github` (SPEC §11), GitHub's secret scanning partner endpoint. Public: the
 * ECDSA signature over the raw body is the credential, checked before anything is looked up.
 */
export const secretScanningRoutes: Routes = async (app) => {
  const { leaks } = app.tessera;

  // This plugin's own JSON parser (encapsulated: other routes keep the app's): it keeps the raw bytes.
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "buffer", bodyLimit: ALERT_BODY_LIMIT }, (request, body, done) => {
    const raw = typeof body === "string" ? Buffer.from(body) : body;
    rawBodies.set(request, raw);
    try {
      done(null, parseJsonBody(raw.toString("utf8")));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  app.post(
    "/v1/secret-scanning/github",
    {
      config: { public: true },
      bodyLimit: ALERT_BODY_LIMIT,
      schema: {
        tags: ["leak response"],
        operationId: "githubSecretScanningAlert",
        summary: "Receive a GitHub secret scanning alert",
        description:
          "GitHub's secret scanning partner program endpoint. The body is signed with ECDSA P-256 / SHA-256 " +
          "(`Github-Public-Key-Signature`, base64 DER) by the key `Github-Public-Key-Identifier` names among those at " +
          "`TESSERA_GITHUB_KEYS_URL`; a missing or bad signature is 401 and nothing happens. Each token is looked up " +
          "by hash: one of this instance's is marked `leakedAt`, audited (`token.leaked`) and handled by its " +
          "organisation's `onLeak` (revoke, suspend or notify), and answered `true_positive`; anything else " +
          "`false_positive`. Reporting a token again changes nothing.",
        security: [],
        headers: Type.Object({
          "github-public-key-identifier": Type.Optional(Type.String({ maxLength: 200 })),
          "github-public-key-signature": Type.Optional(Type.String({ maxLength: 400 })),
        }),
        body: SecretAlertList,
        response: { 200: ok("One label per reported match", SecretAlertFeedbackList), ...problemResponses(401) },
      },
    },
    async (request) => {
      const raw = rawBodies.get(request) ?? Buffer.alloc(0);
      await leaks.authenticate(
        raw,
        request.headers["github-public-key-identifier"],
        request.headers["github-public-key-signature"],
      );
      return leaks.handle(request.body, metaOf(request));
    },
  );
};
