import { Type } from "typebox";
import type { Routes } from "./types.js";

export const healthRoutes: Routes = async (app) => {
  app.get(
    "/healthz",
    {
      schema: {
        tags: ["operations"],
        summary: "Liveness; also says whether first-run setup is still needed",
        response: { 200: Type.Object({ status: Type.String(), setupRequired: Type.Optional(Type.Boolean()) }) },
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
        summary: "Readiness: 200 when storage answers, 503 when it does not",
        response: { 200: Type.Object({ status: Type.String() }), 503: Type.Object({ status: Type.String() }) },
      },
    },
    async (_request, reply) => {
      try {
        await app.tessera.store.ping();
        return { status: "ready" };
      } catch {
        return reply.code(503).send({ status: "storage unreachable" });
      }
    },
  );

  app.get("/metrics", { schema: { tags: ["operations"], summary: "Prometheus metrics" } }, async (_request, reply) => {
    const { registry } = app.tessera.metrics;
    return reply.type(registry.contentType).send(await registry.metrics());
  });
};
