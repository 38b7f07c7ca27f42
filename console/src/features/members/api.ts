import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { http } from "../../api/client";
import type { CreatedInvitation, CreateInvitationInput, Invitation, Member, Role } from "../../api/types";
import { sessionKeys } from "../session/api";

const base = (orgId: string) => `/v1/orgs/${encodeURIComponent(orgId)}/members`;

const invitationsBase = (orgId: string) => `/v1/orgs/${encodeURIComponent(orgId)}/invitations`;

export const memberKeys = {
  list: (orgId: string) => ["orgs", orgId, "members"] as const,
  invitations: (orgId: string) => ["orgs", orgId, "invitations"] as const,
};

export function useMembers(orgId: string, enabled = true) {
  return useQuery({
    queryKey: memberKeys.list(orgId),
    queryFn: async () => (await http.get<{ items: Member[] }>(base(orgId))).items,
    enabled,
  });
}

export function useChangeRole(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (input: { userId: string; role: Role }) =>
      http.patch<Member>(`${base(orgId)}/${encodeURIComponent(input.userId)}`, { role: input.role }),
    onSuccess: () => client.invalidateQueries({ queryKey: memberKeys.list(orgId) }),
  });
}

export function useRemoveMember(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (userId: string) => http.delete<void>(`${base(orgId)}/${encodeURIComponent(userId)}`),
    onSuccess: () => client.invalidateQueries({ queryKey: memberKeys.list(orgId) }),
  });
}

/** Leaving is removing oneself; the server refuses the last owner (409 `invalid_state`). */
export function useLeaveOrg(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (ownUserId: string) => http.delete<void>(`${base(orgId)}/${encodeURIComponent(ownUserId)}`),
    onSuccess: () => client.invalidateQueries({ queryKey: sessionKeys.me }),
  });
}

export function useInvitations(orgId: string) {
  return useQuery({
    queryKey: memberKeys.invitations(orgId),
    queryFn: async () => (await http.get<{ items: Invitation[] }>(invitationsBase(orgId))).items,
  });
}

/** Not cached: the answer may carry the accept link, which is shown once and then forgotten. */
export function useInvite(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (input: CreateInvitationInput) => http.post<CreatedInvitation>(invitationsBase(orgId), input),
    onSuccess: () => client.invalidateQueries({ queryKey: memberKeys.invitations(orgId) }),
  });
}

export function useRevokeInvitation(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => http.delete<void>(`${invitationsBase(orgId)}/${encodeURIComponent(id)}`),
    onSuccess: () => client.invalidateQueries({ queryKey: memberKeys.invitations(orgId) }),
  });
}
