import type { VerifiedToken } from "../services/verification-view.js";
import { type GuardOptions, guard } from "./guard.js";

/** The parts of Express's request/response the middleware uses (no dependency on express itself). */
interface ExpressLikeRequest {
  headers: Record<string, string | string[] | undefined>;
  ip?: string | undefined;
  tesseraToken?: VerifiedToken;
}
interface ExpressLikeResponse {
  status(code: number): ExpressLikeResponse;
  set(headers: Record<string, string>): ExpressLikeResponse;
  send(body: unknown): unknown;
  locals: Record<string, unknown>;
}

/**
 * Express middleware: `app.get("/messages", tesseraExpress({ verifier, scopes: ["messages:read"] }), handler)`;
 * the handler reads `req.tesseraToken` (also `res.locals.tesseraToken`).
 */
export function tesseraExpress(options: GuardOptions) {
  return (req: ExpressLikeRequest, res: ExpressLikeResponse, next: (error?: unknown) => void): void => {
    const header = req.headers.authorization;
    guard(options, typeof header === "string" ? header : undefined, req.ip).then((result) => {
      if (!result.ok) {
        res.status(result.denial.status).set(result.denial.headers).send(JSON.stringify(result.denial.body));
        return;
      }
      if (Object.keys(result.headers).length > 0) res.set(result.headers);
      req.tesseraToken = result.token;
      res.locals.tesseraToken = result.token;
      next();
    }, next);
  };
}
