import type {} from "@fastify/cookie";
import type {} from "@fastify/swagger";
import type { FastifyReply, FastifyRequest } from "fastify";
import { isPlainIp } from "../core/ip.js";
import type { Actor } from "../services/actor.js";
import type { RequestMeta } from "../services/request-meta.js";
import type { Tessera } from "../tessera.js";
import { addressOf } from "./trust-proxy.js";

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

/**
 * Who asked, from where. The address is Fastify's reading of the proxy chain (src/http/trust-proxy.ts),
 * except that text a proxy passed on that is not an IP address is never taken as one (see `addressOf`).
 */
export function metaOf(request: FastifyRequest): RequestMeta {
  const ua = request.headers["user-agent"];
  const ip = isPlainIp(request.ip) ? request.ip : addressOf(request.ips ?? []);
  return { ip, userAgent: ua ? ua.slice(0, 512) : null, traceId: request.traceId };
}

export type { FastifyReply, FastifyRequest };
