import { Type } from "typebox";
import { authenticate } from "../auth.js";
import { metaOf } from "../context.js";
import { RevokeBody, TokenList, TokenViewSchema } from "../schemas.js";
import { tokenView } from "../views.js";
import { ok, problemResponses, type Routes } from "./types.js";

const RootTokenParams = Type.Object({ tokenId: Type.String({ pattern: "^tok_[0-9A-Za-z]{1,60}$" }) });
const RootTokenListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    cursor: Type.Optional(Type.String({ pattern: "^tok_[0-9A-Za-z]{22}$", description: "nextCursor of the previous page" })),
  },
  { additionalProperties: false },
);

/**
 * Instance (root) tokens (SPEC §2, §4): listed and revoked like any other token, by a root token holding
 * `instance:admin` (the rule is `decideManageRootTokens` in core/policy.ts). Created by the CLI only.
 */
export const rootTokenRoutes: Routes = async (app) => {
  const { tokens } = app.tessera;

  app.get(
    "/v1/root-tokens",
    {
      schema: {
        tags: ["root tokens"],
        operationId: "listRootTokens",
        summary: "List root tokens",
        description: "Root (instance) tokens, newest first, a page at a time. Caller: a root token holding instance:admin.",
        querystring: RootTokenListQuery,
        response: {
          200: ok("A page of root tokens", TokenList),
        },
      },
    },
    async (request) => {
      const page = await tokens.listRoot(await authenticate(request), request.query);
      const now = Date.now();
      return { items: page.items.map((t) => tokenView(t, now)), nextCursor: page.nextCursor };
    },
  );

  app.post(
    "/v1/root-tokens/:tokenId/revoke",
    {
      schema: {
        tags: ["root tokens"],
        operationId: "revokeRootToken",
        summary: "Revoke a root token",
        description:
          "Revokes a root token: immediate and irreversible; the body (an optional reason) may be left out. Caller: a root token holding instance:admin.",
        params: RootTokenParams,
        body: RevokeBody,
        response: { 200: ok("Revoked", TokenViewSchema), ...problemResponses(404, 409) },
      },
    },
    async (request) => {
      const actor = await authenticate(request);
      return tokenView(await tokens.revokeRoot(actor, request.params.tokenId, request.body.reason, metaOf(request)));
    },
  );
};
