import { Type } from "typebox";
import { authenticate } from "../auth.js";
import { metaOf } from "../context.js";
import { RevokeBody, TokenViewSchema } from "../schemas.js";
import { tokenView } from "../views.js";
import { problemResponses, type Routes } from "./types.js";

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
        summary: "List root (instance) tokens, newest first (caller: a root token with instance:admin)",
        querystring: RootTokenListQuery,
        response: {
          200: Type.Object({ items: Type.Array(TokenViewSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }),
          ...problemResponses(400, 401, 403),
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
        summary: "Revoke a root token: immediate and irreversible (caller: a root token with instance:admin)",
        params: RootTokenParams,
        body: RevokeBody,
        response: { 200: TokenViewSchema, ...problemResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      const actor = await authenticate(request);
      return tokenView(await tokens.revokeRoot(actor, request.params.tokenId, request.body.reason, metaOf(request)));
    },
  );
};
