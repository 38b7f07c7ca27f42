import type { FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from "fastify";
import type { VerifiedToken } from "../services/verification-view.js";
import { type GuardOptions, guard } from "./guard.js";

declare module "fastify" {
  interface FastifyRequest {
    /** Set by `requireToken` for the rest of the request. */
    tesseraToken?: VerifiedToken;
  }
}

/**
 * A Fastify preHandler protecting a route: `app.get("/messages", { preHandler: requireToken({ verifier,
 * scopes: ["messages:read"] }) }, handler)`; the handler reads `request.tesseraToken`.
 */
export function requireToken(options: GuardOptions): preHandlerAsyncHookHandler {
  return async function tesseraGuard(request: FastifyRequest, reply: FastifyReply) {
    const result = await guard(options, request.headers.authorization, request.ip);
    if (!result.ok) {
      return reply.code(result.denial.status).headers(result.denial.headers).send(result.denial.body);
    }
    if (Object.keys(result.headers).length > 0) reply.headers(result.headers);
    request.tesseraToken = result.token;
  };
}
