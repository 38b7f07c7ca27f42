import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { http } from "../../api/client";
import type { Member, Role } from "../../api/types";

const base = (orgId: string) => `/v1/orgs/${encodeURIComponent(orgId)}/members`;

export const memberKeys = {
  list: (orgId: string) => ["orgs", orgId, "members"] as const,
};

export function useMembers(orgId: string, enabled = true) {
  return useQuery({
    queryKey: memberKeys.list(orgId),
    queryFn: async () => (await http.get<{ items: Member[] }>(base(orgId))).items,
    enabled,
  });
}

export interface AddMemberInput {
  email: string;
  name: string;
  role: Role;
  password: string;
}

export function useAddMember(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (input: AddMemberInput) => http.post<Member>(base(orgId), input),
    onSuccess: () => client.invalidateQueries({ queryKey: memberKeys.list(orgId) }),
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
