import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";

/** A route module: a Fastify plugin typed by its TypeBox schemas. */
export type Routes = FastifyPluginAsyncTypebox;

export const problemResponses = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, { $ref: "Problem#" }])) as Record<number, { $ref: string }>;
