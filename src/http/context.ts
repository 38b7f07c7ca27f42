import type {} from "@fastify/cookie";
import type {} from "@fastify/swagger";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { RequestMeta } from "../services/request-meta.js";
import type { Tessera } from "../tessera.js";

declare module "fastify" {
  interface FastifyInstance {
    tessera: Tessera;
  }
  interface FastifyRequest {
    /** From the W3C `traceparent` header, or new; echoed as `x-trace-id` and stored on audit events. */
    traceId: string;
  }
}

export function metaOf(request: FastifyRequest): RequestMeta {
  const ua = request.headers["user-agent"];
  return { ip: request.ip ?? null, userAgent: ua ? ua.slice(0, 512) : null, traceId: request.traceId };
}

export type { FastifyReply, FastifyRequest };
