import type {} from "@fastify/cookie";
import type {} from "@fastify/swagger";
import type { FastifyReply, FastifyRequest } from "fastify";
import { isPlainIp } from "../core/ip.js";
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
