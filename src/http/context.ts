import type {} from "@fastify/cookie";
import type {} from "@fastify/swagger";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Actor } from "../services/actor.js";
import type { RequestMeta } from "../services/request-meta.js";
import type { Tessera } from "../tessera.js";

declare module "fastify" {
  interface FastifyInstance {
    tessera: Tessera;
  }
  interface FastifyRequest {
    /** From the W3C `traceparent` header, or new; echoed as `x-trace-id` and stored on audit events. */
    traceId: string;
    /**
     * Who is calling, once the onRequest authentication step (src/http/app.ts) has decided it; null
     * before, and on public routes. `authenticate()` returns it instead of deciding again.
     */
    actor: Actor | null;
  }
  interface FastifyContextConfig {
    /**
     * A route anyone may call (setup, login, password reset, invitation lookup/accept…). Every other
     * `/v1/` route authenticates its caller in onRequest, before its body is read or validated; a
     * public route's handler may still call `authenticate()` when a session is optional.
     */
    public?: boolean;
  }
}

export function metaOf(request: FastifyRequest): RequestMeta {
  const ua = request.headers["user-agent"];
  return { ip: request.ip ?? null, userAgent: ua ? ua.slice(0, 512) : null, traceId: request.traceId };
}

export type { FastifyReply, FastifyRequest };
