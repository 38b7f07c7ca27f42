import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { http } from "../../api/client";
import type { Organization, OrgSettings, Scope } from "../../api/types";
import { sessionKeys } from "../session/api";

export const orgKeys = {
  all: ["orgs"] as const,
  detail: (orgId: string) => ["orgs", orgId] as const,
  scopes: (orgId: string) => ["orgs", orgId, "scopes"] as const,
};

export function useOrg(orgId: string) {
  return useQuery({
    queryKey: orgKeys.detail(orgId),
    queryFn: () => http.get<Organization>(`/v1/orgs/${encodeURIComponent(orgId)}`),
  });
}

export function useScopes(orgId: string, enabled = true) {
  return useQuery({
    queryKey: orgKeys.scopes(orgId),
    queryFn: () => http.get<Scope[]>(`/v1/orgs/${encodeURIComponent(orgId)}/scopes`),
    enabled,
  });
}

export function useCreateOrg() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (input: { name: string }) => http.post<Organization>("/v1/orgs", input),
    onSuccess: async () => {
      await client.invalidateQueries({ queryKey: sessionKeys.me });
      await client.invalidateQueries({ queryKey: orgKeys.all });
    },
  });
}

export interface UpdateOrgInput {
  name?: string;
  settings?: Partial<OrgSettings>;
}

export function useUpdateOrg(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (input: UpdateOrgInput) => http.patch<Organization>(`/v1/orgs/${encodeURIComponent(orgId)}`, input),
    onSuccess: async (org) => {
      client.setQueryData(orgKeys.detail(orgId), org);
      await client.invalidateQueries({ queryKey: sessionKeys.me });
    },
  });
}

export function useReplaceProductScopes(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (scopes: { name: string; description: string }[]) =>
      http.put<Scope[]>(`/v1/orgs/${encodeURIComponent(orgId)}/scopes`, scopes),
    onSuccess: (scopes) => {
      client.setQueryData(orgKeys.scopes(orgId), scopes);
    },
  });
}
