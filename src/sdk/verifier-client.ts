import { type VerificationResponse, verificationResponse } from "../services/verification-view.js";
import type { Verifier } from "../services/verifier.js";
import type { Tessera } from "../tessera.js";

export interface VerifyInput {
  token: string;
  /** Every one of these scopes must be granted. */
  scopes?: readonly string[];
  /** The client's address, for tokens with an IP allowlist. */
  ip?: string | null;
  /** Units taken from the token's limits and credits (integer ≥ 0, default 1). */
  cost?: number;
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
      return verificationResponse(
        await verifier.verify({ token: input.token, scopes: input.scopes, ip: input.ip ?? null, cost: input.cost }),
      );
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

/**
 * Remote: calls `POST /v1/verify` with the caller's credential. Throws at once, here, without a URL or a
 * credential (a server that started without one answered 503 to every request, forever, and said
 * nothing); each verification that cannot reach Tessera, or whose credential Tessera refuses, throws
 * with the reason (the middleware logs it and answers 503).
 */
export function remoteVerifier(options: RemoteVerifierOptions): TokenVerifier {
  if (typeof options.token !== "string" || options.token.trim() === "") {
    throw new Error(
      "remoteVerifier: no credential. Pass `token`: a root token, or a service token holding tokens:verify " +
        "(e.g. `tessera token create --org <orgId> --name backend --scopes tokens:verify`), usually from TESSERA_VERIFY_TOKEN",
    );
  }
  if (/\s/.test(options.token))
    throw new Error("remoteVerifier: `token` contains whitespace (a stray newline from a file or variable?)");
  let endpoint: string;
  try {
    const base = new URL(options.url);
    if (base.protocol !== "http:" && base.protocol !== "https:") throw new Error();
    endpoint = new URL("/v1/verify", base).toString();
  } catch {
    throw new Error(
      `remoteVerifier: \`url\` must be Tessera's http:// or https:// base URL, e.g. http://127.0.0.1:7070 (got ${JSON.stringify(options.url)})`,
    );
  }
  const doFetch = options.fetch ?? fetch;
  return {
    async verify(input) {
      const res = await doFetch(endpoint, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${options.token}` },
        body: JSON.stringify({ token: input.token, scopes: input.scopes, ip: input.ip ?? undefined, cost: input.cost }),
        signal: AbortSignal.timeout(options.timeoutMs ?? 2000),
      });
      if (res.status !== 200) {
        // Never echo the token: only the status and the problem's code.
        let code = "";
        try {
          code = ((await res.json()) as { code?: string }).code ?? "";
        } catch {}
        const why =
          res.status === 401 || res.status === 403
            ? ": Tessera refused this server's credential (the `token` option, e.g. TESSERA_VERIFY_TOKEN): it must be a live root token or a service token holding tokens:verify"
            : "";
        throw new Error(`Tessera verification failed: HTTP ${res.status} ${code}${why}`.trim());
      }
      return (await res.json()) as VerificationResponse;
    },
  };
}
