import type { IncomingMessage } from "node:http";
import proxyAddr from "proxy-addr";
import type { TrustProxy } from "../config.js";
import { isPlainIp } from "../core/ip.js";

/** Whether the address at `hop` (0: the socket's peer, 1: the right-most X-Forwarded-For entry…) is a trusted proxy. */
export type Trust = (address: string, hop: number) => boolean;

/**
 * `TESSERA_TRUST_PROXY` as the trust function that both Fastify (its `trustProxy` option) and the verify
 * fast lane use, so that they agree on the client's address and scheme. Undefined: no proxy.
 *
 * We hand Fastify a function rather than the setting itself on purpose: Fastify 5 reads a bare number
 * as "trust nobody" (it cannot check the peer) and `true` as "trust every hop", which makes the
 * left-most, client-written X-Forwarded-For entry the address (issue 9 finding 8). With this function:
 * - a hop count n trusts the socket's peer and the n−1 entries it appended to, so the address is the
 *   n-th entry from the right: what the outermost proxy saw;
 * - a list trusts exactly the listed addresses/CIDRs, hop after hop from the right, and the address is
 *   the first entry not in the list.
 * Either way, whatever a client writes to the left of what the proxies appended is never believed.
 */
export function trustFunction(setting: TrustProxy): Trust | undefined {
  if (setting === false || setting === 0) return undefined;
  if (typeof setting === "number") return (_address, hop) => hop < setting;
  return proxyAddr.compile([...setting]);
}

/**
 * The address to record and check for a request whose proxy chain `proxyAddr.all` returned (the socket's
 * peer first, the client last). When what a trusted proxy reported is not an IP address (a client
 * writing text into X-Forwarded-For behind a misconfigured hop count, a `host:port`), it is never used
 * as an address: the request is taken to come from the nearest proxy that is one. Null only when none is.
 */
export function addressOf(chain: readonly string[]): string | null {
  for (let i = chain.length - 1; i >= 0; i--) if (isPlainIp(chain[i])) return chain[i]!;
  return null;
}

/** The client's address of a raw request, as {@link addressOf} reads it (the fast lane, without Fastify). */
export function clientAddress(req: IncomingMessage, trust: Trust | undefined): string | null {
  if (!trust) return req.socket.remoteAddress ?? null;
  return addressOf(proxyAddr.all(req, trust));
}

/** Whether the request reached us over HTTPS: TLS on the socket, or a trusted proxy's X-Forwarded-Proto (its last entry). */
export function isHttpsRequest(req: IncomingMessage, trust: Trust | undefined): boolean {
  if ((req.socket as { encrypted?: boolean }).encrypted) return true;
  if (!trust) return false;
  const forwarded = req.headers["x-forwarded-proto"];
  if (typeof forwarded !== "string" || !trust(req.socket.remoteAddress ?? "", 0)) return false;
  return forwarded.slice(forwarded.lastIndexOf(",") + 1).trim() === "https";
}
