import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap } from "../../api/client";
import type { RequestBody } from "../../api/types";
import { sessionKeys } from "../session/api";

export const orgKeys = {
  all: ["orgs"] as const,
  detail: (orgId: string) => ["orgs", orgId] as const,
  scopes: (orgId: string) => ["orgs", orgId, "scopes"] as const,
};

export function useOrg(orgId: string) {
  return useQuery({
    queryKey: orgKeys.detail(orgId),
    queryFn: () => unwrap(api.GET("/v1/orgs/{orgId}", { params: { path: { orgId } } })),
  });
}

export function useScopes(orgId: string, enabled = true) {
  return useQuery({
    queryKey: orgKeys.scopes(orgId),
    queryFn: () => unwrap(api.GET("/v1/orgs/{orgId}/scopes", { params: { path: { orgId } } })),
    enabled,
  });
}

export function useCreateOrg() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (input: RequestBody<"createOrganization">) => unwrap(api.POST("/v1/orgs", { body: input })),
    onSuccess: async () => {
      await client.invalidateQueries({ queryKey: sessionKeys.me });
      await client.invalidateQueries({ queryKey: orgKeys.all });
    },
  });
}

export type UpdateOrgInput = RequestBody<"updateOrganization">;

export function useUpdateOrg(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (input: UpdateOrgInput) =>
      unwrap(api.PATCH("/v1/orgs/{orgId}", { params: { path: { orgId } }, body: input })),
    onSuccess: async (org) => {
      client.setQueryData(orgKeys.detail(orgId), org);
      await client.invalidateQueries({ queryKey: sessionKeys.me });
    },
  });
}

export function useReplaceProductScopes(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (scopes: RequestBody<"replaceScopes">) =>
      unwrap(api.PUT("/v1/orgs/{orgId}/scopes", { params: { path: { orgId } }, body: scopes })),
    onSuccess: (scopes) => {
      client.setQueryData(orgKeys.scopes(orgId), scopes);
    },
  });
}
