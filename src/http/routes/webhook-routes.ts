import type { WebhookDeliveryRecord, WebhookEndpointRecord } from "../../store/webhooks-repository.js";
import { orgAccess } from "../auth.js";
import { metaOf } from "../context.js";
import {
  CreateWebhookBody,
  DeliveryList,
  DeliveryParams,
  DeliveryQuery,
  DeliverySchema,
  OrgParams,
  UpdateWebhookBody,
  WebhookList,
  WebhookParams,
  WebhookSchema,
  WebhookWithSecret,
} from "../schemas.js";
import { iso } from "../views.js";
import { noContent, ok, problemResponses, type Routes } from "./types.js";

export function webhookView(e: WebhookEndpointRecord) {
  return {
    id: e.id,
    orgId: e.orgId,
    url: e.url,
    description: e.description,
    eventTypes: e.eventTypes,
    enabled: e.enabled,
    status: e.status,
    failingSince: iso(e.failingSince),
    createdAt: iso(e.createdAt)!,
    updatedAt: iso(e.updatedAt)!,
  };
}

export function deliveryView(d: WebhookDeliveryRecord) {
  return {
    id: d.id,
    webhookId: d.endpointId,
    eventId: d.eventId,
    type: d.type,
    state: d.state,
    attempts: d.attempts,
    lastAttemptAt: iso(d.lastAttemptAt),
    lastStatus: d.lastStatus,
    lastDurationMs: d.lastDurationMs,
    lastError: d.lastError,
    nextAttemptAt: d.state === "pending" ? iso(d.nextAttemptAt) : null,
    createdAt: iso(d.createdAt)!,
    deliveredAt: iso(d.deliveredAt),
  };
}

/** SPEC §10: webhook endpoints, their delivery log, manual retry and test send. */
export const webhookRoutes: Routes = async (app) => {
  const { webhooks } = app.tessera;

  app.get(
    "/v1/orgs/:orgId/webhooks",
    {
      schema: {
        tags: ["webhooks"],
        operationId: "listWebhooks",
        summary: "List webhook endpoints",
        description: "The organisation's endpoints, oldest first. Owners and admins (webhooks:read); secrets are never listed.",
        params: OrgParams,
        response: { 200: ok("The endpoints", WebhookList), ...problemResponses(404) },
      },
    },
    async (request) => {
      const access = await orgAccess(request, request.params.orgId);
      return { items: (await webhooks.list(access)).map(webhookView) };
    },
  );

  app.post(
    "/v1/orgs/:orgId/webhooks",
    {
      schema: {
        tags: ["webhooks"],
        operationId: "createWebhook",
        summary: "Create a webhook endpoint",
        description:
          "Adds an endpoint that receives the organisation's events (all types, or those in `eventTypes`), signed per Standard Webhooks with the `whsec_…` secret returned here once. Loopback and private addresses are refused (400) unless the instance allows them. 409 quota_exceeded past webhooksPerOrganization.",
        params: OrgParams,
        body: CreateWebhookBody,
        response: { 201: ok("Created, with its secret", WebhookWithSecret), ...problemResponses(404, 409) },
      },
    },
    async (request, reply) => {
      const access = await orgAccess(request, request.params.orgId);
      const { endpoint, secret } = await webhooks.create(access, request.body, metaOf(request));
      return reply.code(201).send({ webhook: webhookView(endpoint), secret });
    },
  );

  app.patch(
    "/v1/orgs/:orgId/webhooks/:id",
    {
      schema: {
        tags: ["webhooks"],
        operationId: "updateWebhook",
        summary: "Change a webhook endpoint",
        description:
          "Changes the URL, description, event types, or enables/disables it. A disabled endpoint is sent nothing and queues nothing new; its pending deliveries wait until it is enabled again.",
        params: WebhookParams,
        body: UpdateWebhookBody,
        response: { 200: ok("The endpoint", WebhookSchema), ...problemResponses(404) },
      },
    },
    async (request) => {
      const access = await orgAccess(request, request.params.orgId);
      return webhookView(await webhooks.update(access, request.params.id, request.body, metaOf(request)));
    },
  );

  app.delete(
    "/v1/orgs/:orgId/webhooks/:id",
    {
      schema: {
        tags: ["webhooks"],
        operationId: "deleteWebhook",
        summary: "Delete a webhook endpoint",
        description: "Deletes the endpoint and its delivery log; events not yet delivered to it are dropped.",
        params: WebhookParams,
        response: { 204: noContent("Deleted"), ...problemResponses(404) },
      },
    },
    async (request, reply) => {
      const access = await orgAccess(request, request.params.orgId);
      await webhooks.remove(access, request.params.id, metaOf(request));
      return reply.code(204).send(null);
    },
  );

  app.get(
    "/v1/orgs/:orgId/webhooks/:id/deliveries",
    {
      schema: {
        tags: ["webhooks"],
        operationId: "listWebhookDeliveries",
        summary: "An endpoint's delivery log",
        description:
          "Its deliveries, newest first, with the last attempt's HTTP status, duration and error, the number of attempts and when the next one is due. Paged by `cursor` (the previous page's nextCursor); filter by `state`.",
        params: WebhookParams,
        querystring: DeliveryQuery,
        response: { 200: ok("The deliveries", DeliveryList), ...problemResponses(404) },
      },
    },
    async (request) => {
      const access = await orgAccess(request, request.params.orgId);
      const { cursor, limit, state } = request.query;
      const page = await webhooks.deliveries(access, request.params.id, { before: cursor, limit, state });
      return { items: page.items.map(deliveryView), nextCursor: page.nextCursor };
    },
  );

  app.post(
    "/v1/orgs/:orgId/webhooks/deliveries/:id/retry",
    {
      schema: {
        tags: ["webhooks"],
        operationId: "retryWebhookDelivery",
        summary: "Send a delivery again",
        description:
          "Queues the delivery to be sent at once, with a fresh retry schedule, whatever its state (a replay of a delivered event too). It leaves its target's order: newer events are not held back behind it. 409 while it is being sent.",
        params: DeliveryParams,
        response: { 202: ok("Queued", DeliverySchema), ...problemResponses(404, 409) },
      },
    },
    async (request, reply) => {
      const access = await orgAccess(request, request.params.orgId);
      return reply.code(202).send(deliveryView(await webhooks.retry(access, request.params.id)));
    },
  );

  app.post(
    "/v1/orgs/:orgId/webhooks/:id/test",
    {
      schema: {
        tags: ["webhooks"],
        operationId: "testWebhook",
        summary: "Send a test event",
        description:
          "Queues a `webhook.test` event to this endpoint only (whatever its event types), signed like any other. Follow it in the delivery log.",
        params: WebhookParams,
        response: { 202: ok("Queued", DeliverySchema), ...problemResponses(404) },
      },
    },
    async (request, reply) => {
      const access = await orgAccess(request, request.params.orgId);
      return reply.code(202).send(deliveryView(await webhooks.test(access, request.params.id)));
    },
  );
};
