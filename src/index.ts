/**
 * Tessera as a library: run it in-process, verify tokens, protect routes.
 *
 * ```ts
 * import { createTessera, loadConfig, inProcessVerifier, requireToken } from "tessera";
 * ```
 */
// First: keeps Node's nextTick records on their fast path (see the module).
import "./runtime/keep-tick-shape.js";

export { type Config, loadConfig } from "./config.js";
export { generateToken, hashToken, parseToken } from "./core/token-format.js";
export type { VerifyCode } from "./core/verification.js";
export { VERIFY_CODES } from "./core/verification.js";
export { buildApp } from "./http/app.js";
export {
  type CreateEmbedSessionOptions,
  createEmbedSession,
  type EmbedSession,
  EmbedSessionError,
} from "./sdk/embed-session.js";
export { tesseraExpress } from "./sdk/express.js";
export { requireToken } from "./sdk/fastify.js";
export { tesseraFetch, tesseraFetchWithHeaders, tesseraHono } from "./sdk/fetch.js";
export { type GuardOptions, type GuardResult, guard } from "./sdk/guard.js";
export { inProcessVerifier, remoteVerifier, type TokenVerifier, type VerifyInput } from "./sdk/verifier-client.js";
export { startServer } from "./server.js";
export type { VerificationResponse, VerifiedToken } from "./services/verification-view.js";
export { Verifier, type VerifyRequest, type VerifyResult } from "./services/verifier.js";
export { createTessera, type Tessera } from "./tessera.js";
