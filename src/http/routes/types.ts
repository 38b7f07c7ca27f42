import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";

/** A route module: a Fastify plugin typed by its TypeBox schemas. */
export type Routes = FastifyPluginAsyncTypebox;

/** Route schema helpers (src/http/openapi.ts), re-exported where route modules already import from. */
export { noContent, ok, problemResponses, SET_SESSION_COOKIES } from "../openapi.js";
