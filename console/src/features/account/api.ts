import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { http } from "../../api/client";
import type { SessionView } from "../../api/types";
import { forgetSession } from "../session/api";

export const accountKeys = {
  sessions: ["account", "sessions"] as const,
};

export function useSessions() {
  return useQuery({
    queryKey: accountKeys.sessions,
    queryFn: async () => (await http.get<{ items: SessionView[] }>("/v1/me/sessions")).items,
  });
}

/** The server ends the other sessions; this one stays. */
export function useChangePassword() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (input: { currentPassword: string; newPassword: string }) => http.post<void>("/v1/me/password", input),
    onSuccess: () => client.invalidateQueries({ queryKey: accountKeys.sessions }),
  });
}

export function useEndSession() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => http.delete<void>(`/v1/me/sessions/${encodeURIComponent(id)}`),
    onSuccess: () => client.invalidateQueries({ queryKey: accountKeys.sessions }),
  });
}

/** Every session, this one included: back to the sign-in screen. */
export function useEndAllSessions() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => http.delete<void>("/v1/me/sessions"),
    onSuccess: () => forgetSession(client),
  });
}
