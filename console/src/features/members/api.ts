import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap } from "../../api/client";
import type { CreateInvitationInput, Role } from "../../api/types";
import { sessionKeys } from "../session/api";

const member = (orgId: string, userId: string) => ({ params: { path: { orgId, userId } } });

export const memberKeys = {
  list: (orgId: string) => ["orgs", orgId, "members"] as const,
  invitations: (orgId: string) => ["orgs", orgId, "invitations"] as const,
};

export function useMembers(orgId: string, enabled = true) {
  return useQuery({
    queryKey: memberKeys.list(orgId),
    queryFn: async () => (await unwrap(api.GET("/v1/orgs/{orgId}/members", { params: { path: { orgId } } }))).items,
    enabled,
  });
}

export function useChangeRole(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (input: { userId: string; role: Role }) =>
      unwrap(
        api.PATCH("/v1/orgs/{orgId}/members/{userId}", { ...member(orgId, input.userId), body: { role: input.role } }),
      ),
    onSuccess: () => client.invalidateQueries({ queryKey: memberKeys.list(orgId) }),
  });
}

export function useRemoveMember(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (userId: string) => unwrap(api.DELETE("/v1/orgs/{orgId}/members/{userId}", member(orgId, userId))),
    onSuccess: () => client.invalidateQueries({ queryKey: memberKeys.list(orgId) }),
  });
}

/** Leaving is removing oneself; the server refuses the last owner (409 `invalid_state`). */
export function useLeaveOrg(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (ownUserId: string) =>
      unwrap(api.DELETE("/v1/orgs/{orgId}/members/{userId}", member(orgId, ownUserId))),
    onSuccess: () => client.invalidateQueries({ queryKey: sessionKeys.me }),
  });
}

export function useInvitations(orgId: string) {
  return useQuery({
    queryKey: memberKeys.invitations(orgId),
    queryFn: async () =>
      (await unwrap(api.GET("/v1/orgs/{orgId}/invitations", { params: { path: { orgId } } }))).items,
  });
}

/** Not cached: the answer may carry the accept link, which is shown once and then forgotten. */
export function useInvite(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (input: CreateInvitationInput) =>
      unwrap(api.POST("/v1/orgs/{orgId}/invitations", { params: { path: { orgId } }, body: input })),
    onSuccess: () => client.invalidateQueries({ queryKey: memberKeys.invitations(orgId) }),
  });
}

export function useRevokeInvitation(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (id: string) =>
      unwrap(api.DELETE("/v1/orgs/{orgId}/invitations/{id}", { params: { path: { orgId, id } } })),
    onSuccess: () => client.invalidateQueries({ queryKey: memberKeys.invitations(orgId) }),
  });
}
