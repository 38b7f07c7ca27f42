import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import http from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import { isPublicAddress, literalHost } from "../core/webhook-target.js";

/** What one delivery attempt came to. `status` null when no HTTP answer arrived. */
export interface SendResult {
  ok: boolean;
  status: number | null;
  durationMs: number;
  /** A short reason, never the endpoint's body (it is the receiver's text, not ours to store). */
  error: string | null;
}

export class BlockedAddressError extends Error {
  constructor(address: string) {
    super(`refused: ${address} is a loopback, private, link-local or metadata address`);
    this.name = "BlockedAddressError";
  }
}

/**
 * A DNS lookup that refuses the whole answer when any address is not public: the address the socket
 * connects to is the one checked, so a name re-pointed after creation (DNS rebinding) is caught here.
 */
export function guardedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, "", 0);
      const list = addresses as LookupAddress[];
      const blocked = allowPrivate ? undefined : list.find((a) => !isPublicAddress(a.address));
      if (blocked) return callback(new BlockedAddressError(blocked.address), "", 0);
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
      const first = list[0];
      if (!first) return callback(new Error(`${hostname} has no address`), "", 0);
      callback(null, first.address, first.family);
    });
  };
}

/** Every address `hostname` resolves to (literal hosts are themselves), for the check at creation. */
export async function resolveAll(hostname: string, timeoutMs = 3000): Promise<string[]> {
  const literal = literalHost(hostname);
  if (literal !== null) return [literal];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("lookup timed out")), timeoutMs);
    dnsLookup(hostname, { all: true }, (error, addresses) => {
      clearTimeout(timer);
      if (error) reject(error);
      else resolve(addresses.map((a) => a.address));
    });
  });
}

export interface SenderOptions {
  allowPrivate: boolean;
  /** Longest one request may take, connection included. */
  timeoutMs: number;
  /** Most sockets kept per host (bounded concurrency is the dispatcher's; this only keeps them reused). */
  maxSockets: number;
}

/**
 * POSTs signed payloads. Redirects are not followed (a 3xx is a failure: following one would let an
 * endpoint send Tessera anywhere); answers are read and dropped, up to the first 64 KiB.
 */
export class WebhookSender {
  readonly #options: SenderOptions;
  readonly #httpAgent: http.Agent;
  readonly #httpsAgent: https.Agent;
  readonly #lookup: LookupFunction;

  constructor(options: SenderOptions) {
    this.#options = options;
    this.#lookup = guardedLookup(options.allowPrivate);
    this.#httpAgent = new http.Agent({ keepAlive: true, maxSockets: options.maxSockets });
    this.#httpsAgent = new https.Agent({ keepAlive: true, maxSockets: options.maxSockets });
  }

  send(rawUrl: string, headers: Record<string, string>, body: string, signal?: AbortSignal): Promise<SendResult> {
    const started = performance.now();
    const done = (status: number | null, error: string | null): SendResult => ({
      ok: error === null && status !== null && status >= 200 && status < 300,
      status,
      durationMs: Math.round(performance.now() - started),
      error,
    });
    let url: URL;
    try {
      url = new URL(rawUrl);
    } catch {
      return Promise.resolve(done(null, "invalid URL"));
    }
    const literal = literalHost(url.hostname);
    if (literal !== null && !this.#options.allowPrivate && !isPublicAddress(literal)) {
      return Promise.resolve(done(null, new BlockedAddressError(literal).message));
    }
    const secure = url.protocol === "https:";
    return new Promise<SendResult>((resolve) => {
      let settled = false;
      const finish = (status: number | null, error: string | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(done(status, error));
      };
      const request = (secure ? https : http).request(
        url,
        {
          method: "POST",
          agent: secure ? this.#httpsAgent : this.#httpAgent,
          lookup: this.#lookup,
          headers: {
            ...headers,
            "content-type": "application/json",
            "content-length": String(Buffer.byteLength(body)),
            "user-agent": "Tessera-Webhooks/1",
          },
          ...(signal ? { signal } : {}),
        },
        (response) => {
          const status = response.statusCode ?? null;
          let read = 0;
          response.on("data", (chunk: Buffer) => {
            read += chunk.length;
            if (read > 65_536) response.destroy();
          });
          response.on("error", () => finish(status, null));
          response.on("close", () => {
            const error =
              status !== null && status >= 300 && status < 400
                ? `redirect (${status}) not followed`
                : status !== null && (status < 200 || status >= 300)
                  ? `HTTP ${status}`
                  : null;
            finish(status, error);
          });
        },
      );
      const timer = setTimeout(() => {
        request.destroy(new Error(`no answer within ${this.#options.timeoutMs} ms`));
      }, this.#options.timeoutMs);
      request.on("error", (error) => finish(null, shortError(error)));
      request.end(body);
    });
  }

  close(): void {
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
  }
}

function shortError(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  const message = error.message.slice(0, 200);
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}
