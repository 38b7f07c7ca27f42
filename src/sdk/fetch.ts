import type { VerifiedToken } from "../services/verification-view.js";
import { type GuardOptions, guard } from "./guard.js";

/**
 * For fetch-style servers (Hono, Bun, Deno, workers): resolves to the verified token, or to the
 * `Response` to answer with. `const r = await tesseraFetch(opts)(request, ip); if (r instanceof Response) return r;`
 */
export function tesseraFetch(options: GuardOptions) {
  const check = tesseraFetchWithHeaders(options);
  return async (request: Request, ip?: string | null): Promise<VerifiedToken | Response> => {
    const result = await check(request, ip);
    return result instanceof Response ? result : result.token;
  };
}

/**
 * {@link tesseraFetch}, also giving the `RateLimit-*` header fields to set on the response the handler
 * makes (refusals already carry them).
 */
export function tesseraFetchWithHeaders(options: GuardOptions) {
  return async (
    request: Request,
    ip?: string | null,
  ): Promise<{ token: VerifiedToken; headers: Record<string, string> } | Response> => {
    const result = await guard(options, request.headers.get("authorization") ?? undefined, ip);
    if (result.ok) return { token: result.token, headers: result.headers };
    return new Response(JSON.stringify(result.denial.body), { status: result.denial.status, headers: result.denial.headers });
  };
}

/** The parts of Hono's context the middleware uses. */
interface HonoLikeContext {
  req: { raw: Request };
  set(key: "tesseraToken", value: VerifiedToken): void;
  /** Sets a response header (Hono's `c.header`): used for the `RateLimit-*` fields. */
  header?(name: string, value: string): void;
  env?: unknown;
}

/**
 * Hono middleware: `app.get("/messages", tesseraHono({ verifier, scopes }), (c) => c.json(c.get("tesseraToken")))`.
 * `clientIp` extracts the caller's address (e.g. from `getConnInfo(c)`), for tokens with IP allowlists.
 */
export function tesseraHono(options: GuardOptions & { clientIp?: (c: HonoLikeContext) => string | null | undefined }) {
  const check = tesseraFetchWithHeaders(options);
  return async (c: HonoLikeContext, next: () => Promise<void>): Promise<Response | undefined> => {
    const result = await check(c.req.raw, options.clientIp?.(c));
    if (result instanceof Response) return result;
    for (const [name, value] of Object.entries(result.headers)) c.header?.(name, value);
    c.set("tesseraToken", result.token);
    await next();
    return undefined;
  };
}
