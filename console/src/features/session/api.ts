import { type QueryClient, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { ApiError, http } from "../../api/client";
import type { Health, Me, Membership, Organization, User } from "../../api/types";

export const sessionKeys = {
  me: ["me"] as const,
  health: ["healthz"] as const,
};

/** The signed-in user, or `null` when there is no session (401). */
export function useMe() {
  return useQuery({
    queryKey: sessionKeys.me,
    queryFn: async (): Promise<Me | null> => {
      try {
        return await http.get<Me>("/v1/me");
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) return null;
        throw error;
      }
    },
    staleTime: 60_000,
    retry: false,
  });
}

/** `/healthz` tells the console whether the instance still needs its first-run setup. */
export function useHealth(enabled: boolean) {
  return useQuery({
    queryKey: sessionKeys.health,
    queryFn: () => http.get<Health>("/healthz"),
    enabled,
    retry: false,
  });
}

export interface LoginInput {
  email: string;
  password: string;
}

export function useLogin() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (input: LoginInput) =>
      http.post<{ user: User; memberships: Membership[] }>("/v1/auth/login", input),
    onSuccess: async () => {
      client.removeQueries({ predicate: (q) => !outlivesSession(q.queryKey) });
      await client.invalidateQueries({ queryKey: sessionKeys.me });
    },
  });
}

export interface SetupInput {
  name: string;
  email: string;
  password: string;
  organization: { name: string };
}

export function useSetup() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (input: SetupInput) =>
      http.post<{ user: User; organization: Organization }>("/v1/setup", input),
    onSuccess: async () => {
      client.setQueryData<Health>(sessionKeys.health, { status: "ok", setupRequired: false });
      await client.invalidateQueries({ queryKey: sessionKeys.me });
    },
  });
}

export function useLogout() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => http.post<void>("/v1/auth/logout"),
    onSettled: () => forgetSession(client),
  });
}

/** After this browser's session ended: the sign-in screen, and nothing of the old session in the cache. */
export function forgetSession(client: QueryClient): void {
  // Keep the mounted `me` query (its observer must see the change); drop everything else.
  client.setQueryData(sessionKeys.me, null);
  client.removeQueries({ predicate: (q) => !outlivesSession(q.queryKey) });
}

/**
 * Queries kept when the session changes: `me` (its observer must see the change) and the public
 * invitation preview, which belongs to the link, not to whoever is signed in (the accept page stays
 * mounted while its visitor signs in or out).
 */
export function outlivesSession(key: readonly unknown[]): boolean {
  return key[0] === sessionKeys.me[0] || key[0] === "invitation";
}

/** Always answers 202, whether or not the email has an account (no account enumeration). */
export function useRequestPasswordReset() {
  return useMutation({
    mutationFn: (input: { email: string }) => http.post<void>("/v1/auth/password-reset", input),
  });
}

/** Ends every session of the account, this browser's included if it was signed in as it. */
export function useConfirmPasswordReset() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (input: { token: string; password: string }) =>
      http.post<void>("/v1/auth/password-reset/confirm", input),
    onSuccess: () => client.invalidateQueries({ queryKey: sessionKeys.me }),
  });
}

/** Reads `token` from the URL fragment (`#token=…`): the fragment never reaches a server or a Referer. */
export function tokenFromFragment(hash: string): string {
  return new URLSearchParams(hash.replace(/^#/, "")).get("token") ?? "";
}

/** `GET /v1/auth/methods`: whether passwords are on, and the OpenID Connect provider's name when one is configured. */
export interface SignInMethods {
  password: boolean;
  oidc: { name: string } | null;
}

export function useSignInMethods() {
  return useQuery({
    queryKey: ["auth-methods"],
    queryFn: () => http.get<SignInMethods>("/v1/auth/methods"),
    staleTime: Number.POSITIVE_INFINITY,
    retry: false,
  });
}

/**
 * Starts an OpenID Connect sign-in and leaves for the provider; the server brings the browser back to
 * `returnTo` (a path here), signed in or with `?signin_error=<reason>`.
 */
export function useStartOidcSignIn() {
  return useMutation({
    mutationFn: (input: { returnTo: string }) =>
      http.post<{ authorizationUrl: string }>("/v1/auth/oidc/start", input),
    onSuccess: ({ authorizationUrl }) => window.location.assign(authorizationUrl),
  });
}

/** The query parameter the OpenID Connect callback adds to the page it sends a refused sign-in back to. */
export const SIGNIN_ERROR_PARAM = "signin_error";
