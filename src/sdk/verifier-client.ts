import { type VerificationResponse, verificationResponse } from "../services/verification-view.js";
import type { Verifier } from "../services/verifier.js";
import type { Tessera } from "../tessera.js";

export interface VerifyInput {
  token: string;
  /** Every one of these scopes must be granted. */
  scopes?: readonly string[];
  /** The client's address, for tokens with an IP allowlist. */
  ip?: string | null;
}

/** Verifies tokens, in-process or against a Tessera server; both answer the `/v1/verify` wire form. */
export interface TokenVerifier {
  verify(input: VerifyInput): Promise<VerificationResponse>;
}

/**
 * In-process: the host runs Tessera (or shares its database) and verifies with no network hop,
 * with the same cache, invalidation and usage counting as the server.
 */
export function inProcessVerifier(source: Tessera | Verifier): TokenVerifier {
  const verifier = "verifier" in source ? source.verifier : source;
  return {
    async verify(input) {
      return verificationResponse(await verifier.verify({ token: input.token, scopes: input.scopes, ip: input.ip ?? null }));
    },
  };
}

export interface RemoteVerifierOptions {
  /** Tessera's base URL, e.g. `https://tokens.internal.example`. */
  url: string;
  /** A root token, or a service token holding `tokens:verify` (verifies its own organisation's tokens). */
  token: string;
  /** Per request, default 2000 ms. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/** Remote: calls `POST /v1/verify` with the caller's credential. Failures to reach Tessera throw. */
export function remoteVerifier(options: RemoteVerifierOptions): TokenVerifier {
  const endpoint = new URL("/v1/verify", options.url).toString();
  const doFetch = options.fetch ?? fetch;
  return {
    async verify(input) {
      const res = await doFetch(endpoint, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${options.token}` },
        body: JSON.stringify({ token: input.token, scopes: input.scopes, ip: input.ip ?? undefined }),
        signal: AbortSignal.timeout(options.timeoutMs ?? 2000),
      });
      if (res.status !== 200) {
        // Never echo the token: only the status and the problem's code.
        let code = "";
        try {
          code = ((await res.json()) as { code?: string }).code ?? "";
        } catch {}
        throw new Error(`Tessera verification failed: HTTP ${res.status} ${code}`.trim());
      }
      return (await res.json()) as VerificationResponse;
    },
  };
}
