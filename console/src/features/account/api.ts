import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap } from "../../api/client";
import type { RequestBody } from "../../api/types";
import { forgetSession } from "../session/api";

export const accountKeys = {
  sessions: ["account", "sessions"] as const,
};

export function useSessions() {
  return useQuery({
    queryKey: accountKeys.sessions,
    queryFn: async () => (await unwrap(api.GET("/v1/me/sessions"))).items,
  });
}

/** The server ends the other sessions; this one stays. */
export function useChangePassword() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (input: RequestBody<"changePassword">) => unwrap(api.POST("/v1/me/password", { body: input })),
    onSuccess: () => client.invalidateQueries({ queryKey: accountKeys.sessions }),
  });
}

export function useEndSession() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => unwrap(api.DELETE("/v1/me/sessions/{id}", { params: { path: { id } } })),
    onSuccess: () => client.invalidateQueries({ queryKey: accountKeys.sessions }),
  });
}

/** Every session, this one included: back to the sign-in screen. */
export function useEndAllSessions() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => unwrap(api.DELETE("/v1/me/sessions")),
    onSuccess: () => forgetSession(client),
  });
}
