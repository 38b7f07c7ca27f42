import type { Static } from "typebox";
import { TesseraError } from "../../core/errors.js";
import { decideVerifyCaller } from "../../core/policy.js";
import { type Actor, instanceCaller } from "../../services/actor.js";
import type { VerifyResult } from "../../services/verifier.js";
import type { Tessera } from "../../tessera.js";
import { authenticate } from "../auth.js";
import { VerifyBody, VerifyResponse } from "../schemas.js";
import { verifyView } from "../views.js";
import { ok, type Routes } from "./types.js";

const schemaMax = (schema: unknown, key: "maxLength" | "maxItems") => (schema as Record<string, number>)[key]!;
const TOKEN_CHARS = schemaMax(VerifyBody.properties.token, "maxLength");
const SCOPES = schemaMax(VerifyBody.properties.scopes, "maxItems");
const SCOPE_CHARS = schemaMax((VerifyBody.properties.scopes as unknown as { items: unknown }).items, "maxLength");

/**
 * The largest body a valid verification needs, from the schema's maxima: a token of 4,096 characters,
 * 100 scopes of 130 (both ASCII: nothing else is well-formed) with their quotes and commas, an IPv6
 * address (45), a cost (16) and the keys (72), rounded up to a KiB, plus 1 KiB of whitespace: 19 KiB. A larger body
 * cannot be a valid call and is refused with 413 before it is read.
 */
export const VERIFY_BODY_LIMIT = Math.ceil((TOKEN_CHARS + SCOPES * (SCOPE_CHARS + 3) + 45 + 16 + 72) / 1024) * 1024 + 1024;

export const verifyRoutes: Routes = async (app) => {
  app.post(
    "/v1/verify",
    {
      bodyLimit: VERIFY_BODY_LIMIT,
      // The hot path: per-request access logs only when the operator asks for debug logging.
      logLevel:
        app.tessera.config.logLevel === "debug" || app.tessera.config.logLevel === "trace" ? app.tessera.config.logLevel : "warn",
      schema: {
        tags: ["verification"],
        operationId: "verifyToken",
        summary: "Verify a token",
        description:
          "Says whether a token may be used now, for these scopes, from this address (SPEC \u00a75). A refused token is a 200 with `valid: false` and its `code`; problems are for the caller's own request. Caller: a root token, or a service token holding tokens:verify (its own organisation's tokens only).",
        body: VerifyBody,
        response: { 200: ok("The verdict", VerifyResponse) },
      },
    },
    async (request) => verifyView(await verifyAs(app.tessera, await authenticate(request), request.body)),
  );
};

/**
 * `POST /v1/verify` once the caller is known (also used by the fast lane): root tokens holding
 * `tokens:verify` verify any organisation's tokens, service tokens holding `tokens:verify` their own
 * organisation's; nobody else (the rule is `decideVerifyCaller` in core/policy.ts).
 * Answers at once for a warm token (see `Verifier.check`), with a promise otherwise.
 */
export function verifyAs(tessera: Tessera, actor: Actor, body: Static<typeof VerifyBody>): VerifyResult | Promise<VerifyResult> {
  const decision = decideVerifyCaller(instanceCaller(actor));
  if (!decision.allowed) throw new TesseraError("forbidden", decision.reason, { missingScope: "tokens:verify" });
  // Root tokens verify any organisation's tokens; service tokens only their own organisation's.
  const orgId = actor.type === "token" && actor.token.kind === "service" ? actor.token.orgId! : undefined;
  return tessera.verifier.check({
    token: body.token,
    scopes: body.scopes,
    ip: body.ip ?? null,
    userAgent: body.userAgent ?? null,
    cost: body.cost,
    orgId,
  });
}
