import { Type } from "typebox";
import { ok, type Routes } from "./types.js";

export const healthRoutes: Routes = async (app) => {
  app.get(
    "/healthz",
    {
      schema: {
        tags: ["operations"],
        operationId: "getHealth",
        summary: "Liveness",
        description:
          "Answers 200 while the process runs, even under pressure; `setupRequired` says whether first-run setup is still needed (absent when storage does not answer).",
        response: {
          200: ok("Alive", Type.Object({ status: Type.String(), setupRequired: Type.Optional(Type.Boolean()) })),
        },
      },
    },
    async () => {
      try {
        return { status: "ok", setupRequired: await app.tessera.auth.isSetupRequired() };
      } catch {
        return { status: "ok" };
      }
    },
  );

  app.get(
    "/readyz",
    {
      schema: {
        tags: ["operations"],
        operationId: "getReadiness",
        summary: "Readiness",
        description:
          "200 when storage answers; 503 when it does not, or when the server is under pressure (then a problem), so that a load balancer sends traffic elsewhere. `status: degraded` (still 200: every instance shares the same Redis, so sending traffic elsewhere would not help) when Redis, configured for limits, does not answer; `degraded` says what that means per TESSERA_LIMITS_ON_REDIS_DOWN.",
        response: {
          200: ok(
            "Ready (or degraded)",
            Type.Object({
              status: Type.String({ description: "`ready` or `degraded`" }),
              degraded: Type.Optional(Type.Array(Type.String(), { description: "What is degraded, and how" })),
            }),
          ),
          503: ok("Storage unreachable", Type.Object({ status: Type.String() })),
        },
      },
    },
    async (_request, reply) => {
      try {
        await app.tessera.store.ping();
        const degraded = app.tessera.limits.health.degraded;
        return degraded ? { status: "degraded", degraded: [degraded] } : { status: "ready" };
      } catch {
        return reply.code(503).send({ status: "storage unreachable" });
      }
    },
  );

  app.get(
    "/metrics",
    {
      schema: {
        tags: ["operations"],
        operationId: "getMetrics",
        summary: "Prometheus metrics",
        description: "Metrics in the Prometheus text format; answers even under pressure.",
        response: {
          200: {
            description: "Prometheus text exposition format",
            content: { "text/plain": { schema: Type.String() } },
          },
        },
      },
    },
    async (_request, reply) => {
      const { registry } = app.tessera.metrics;
      return reply.type(registry.contentType).send(await registry.metrics());
    },
  );
};
