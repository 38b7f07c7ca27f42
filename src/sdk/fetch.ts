import type { VerifiedToken } from "../services/verification-view.js";
import { type GuardOptions, guard } from "./guard.js";

/**
 * For fetch-style servers (Hono, Bun, Deno, workers): resolves to the verified token, or to the
 * `Response` to answer with. `const r = await tesseraFetch(opts)(request, ip); if (r instanceof Response) return r;`
 */
export function tesseraFetch(options: GuardOptions) {
  return async (request: Request, ip?: string | null): Promise<VerifiedToken | Response> => {
    const result = await guard(options, request.headers.get("authorization") ?? undefined, ip);
    if (result.ok) return result.token;
    return new Response(JSON.stringify(result.denial.body), { status: result.denial.status, headers: result.denial.headers });
  };
}

/** The parts of Hono's context the middleware uses. */
interface HonoLikeContext {
  req: { raw: Request };
  set(key: "tesseraToken", value: VerifiedToken): void;
  env?: unknown;
}

/**
 * Hono middleware: `app.get("/messages", tesseraHono({ verifier, scopes }), (c) => c.json(c.get("tesseraToken")))`.
 * `clientIp` extracts the caller's address (e.g. from `getConnInfo(c)`), for tokens with IP allowlists.
 */
export function tesseraHono(options: GuardOptions & { clientIp?: (c: HonoLikeContext) => string | null | undefined }) {
  const check = tesseraFetch(options);
  return async (c: HonoLikeContext, next: () => Promise<void>): Promise<Response | undefined> => {
    const result = await check(c.req.raw, options.clientIp?.(c));
    if (result instanceof Response) return result;
    c.set("tesseraToken", result);
    await next();
    return undefined;
  };
}
