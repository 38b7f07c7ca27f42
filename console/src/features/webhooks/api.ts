import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap } from "../../api/client";
import type { Answer, RequestBody } from "../../api/types";
import { WEBHOOK_EVENT_TYPES as ALL_EVENT_TYPES, isSubscribable } from "../../../../src/core/webhook-events";

/** An endpoint (SPEC §10), as `GET …/webhooks` answers it. */
export type Webhook = Answer<"listWebhooks", 200>["items"][number];

/** One event's delivery to one endpoint, with its last attempt. */
export type WebhookDelivery = Answer<"listWebhookDeliveries", 200>["items"][number];

export type WebhookInput = Required<RequestBody<"createWebhook">>;

export type WebhookEventType = WebhookInput["eventTypes"][number];

/** What an endpoint may subscribe to: the server's own list (every type but the test send's). */
export const WEBHOOK_EVENT_TYPES: readonly WebhookEventType[] = ALL_EVENT_TYPES.filter(isSubscribable);

export const isWebhookEventType: (value: string) => value is WebhookEventType = isSubscribable;

const inOrg = (orgId: string) => ({ params: { path: { orgId } } });
const oneWebhook = (orgId: string, id: string) => ({ params: { path: { orgId, id } } });

export const webhookKeys = {
  list: (orgId: string) => ["orgs", orgId, "webhooks"] as const,
  deliveries: (orgId: string, id: string) => ["orgs", orgId, "webhooks", id, "deliveries"] as const,
};

export function useWebhooks(orgId: string) {
  return useQuery({
    queryKey: webhookKeys.list(orgId),
    queryFn: async () => (await unwrap(api.GET("/v1/orgs/{orgId}/webhooks", inOrg(orgId)))).items,
  });
}

/** Refreshed every few seconds while open: deliveries change on their own. */
export function useDeliveries(orgId: string, id: string | null) {
  return useQuery({
    queryKey: webhookKeys.deliveries(orgId, id ?? ""),
    queryFn: async () =>
      (
        await unwrap(
          api.GET("/v1/orgs/{orgId}/webhooks/{id}/deliveries", {
            params: { path: { orgId, id: id ?? "" }, query: { limit: 50 } },
          }),
        )
      ).items,
    enabled: id !== null,
    refetchInterval: 3000,
  });
}

/** Not cached: the answer carries the signing secret, shown once. */
export function useCreateWebhook(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (input: WebhookInput) => unwrap(api.POST("/v1/orgs/{orgId}/webhooks", { ...inOrg(orgId), body: input })),
    onSuccess: () => client.invalidateQueries({ queryKey: webhookKeys.list(orgId) }),
  });
}

export function useUpdateWebhook(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ id, ...patch }: RequestBody<"updateWebhook"> & { id: string }) =>
      unwrap(api.PATCH("/v1/orgs/{orgId}/webhooks/{id}", { ...oneWebhook(orgId, id), body: patch })),
    onSuccess: () => client.invalidateQueries({ queryKey: webhookKeys.list(orgId) }),
  });
}

export function useDeleteWebhook(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => unwrap(api.DELETE("/v1/orgs/{orgId}/webhooks/{id}", oneWebhook(orgId, id))),
    onSuccess: () => client.invalidateQueries({ queryKey: webhookKeys.list(orgId) }),
  });
}

export function useTestWebhook(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => unwrap(api.POST("/v1/orgs/{orgId}/webhooks/{id}/test", oneWebhook(orgId, id))),
    onSuccess: (_, id) => client.invalidateQueries({ queryKey: webhookKeys.deliveries(orgId, id) }),
  });
}

export function useRetryDelivery(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (d: WebhookDelivery) =>
      unwrap(api.POST("/v1/orgs/{orgId}/webhooks/deliveries/{id}/retry", { params: { path: { orgId, id: d.id } } })),
    onSuccess: (d) => client.invalidateQueries({ queryKey: webhookKeys.deliveries(orgId, d.webhookId) }),
  });
}
