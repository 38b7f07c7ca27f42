import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap } from "../../api/client";
import type { AcceptInvitationInput } from "../../api/types";
import { outlivesSession, sessionKeys } from "../session/api";

export const invitationKeys = {
  preview: (token: string) => ["invitation", token] as const,
};

/** Public: what the invitation is for, or 404 when it is unknown, used, revoked or expired. */
export function useInvitationPreview(token: string) {
  return useQuery({
    queryKey: invitationKeys.preview(token),
    queryFn: () => unwrap(api.GET("/v1/invitations/{token}", { params: { path: { token } } })),
    enabled: token !== "",
    staleTime: 60_000,
  });
}

/** Joins as the signed-in account, or creates the account (and its session) from `name` + `password`. */
export function useAcceptInvitation() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (input: AcceptInvitationInput) => unwrap(api.POST("/v1/invitations/accept", { body: input })),
    onSuccess: async () => {
      // A new account may have just signed in: nothing cached belongs to it but `me`, refetched now.
      client.removeQueries({ predicate: (q) => !outlivesSession(q.queryKey) });
      await client.invalidateQueries({ queryKey: sessionKeys.me });
    },
  });
}
