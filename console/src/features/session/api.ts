import { type QueryClient, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { ApiError, api, unwrap } from "../../api/client";
import type { Answer, Health, Me, RequestBody } from "../../api/types";

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
        const me = await unwrap(api.GET("/v1/me"));
        // A service or root token has no user: not a console session. (openapi-fetch's answer type leaves
        // out a property whose type is exactly `null`, openapi-ts/openapi-typescript#2717: the token
        // caller's `user: null` is checked at run time, not by its type.)
        return !("user" in me) || me.user === null ? null : me;
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
    queryFn: () => unwrap(api.GET("/healthz")),
    enabled,
    retry: false,
  });
}

export type LoginInput = RequestBody<"login">;

export function useLogin() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (input: LoginInput) => unwrap(api.POST("/v1/auth/login", { body: input })),
    onSuccess: async () => {
      client.removeQueries({ predicate: (q) => !outlivesSession(q.queryKey) });
      await client.invalidateQueries({ queryKey: sessionKeys.me });
    },
  });
}

export type SetupInput = RequestBody<"setup">;

export function useSetup() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (input: SetupInput) => unwrap(api.POST("/v1/setup", { body: input })),
    onSuccess: async () => {
      client.setQueryData<Health>(sessionKeys.health, { status: "ok", setupRequired: false });
      await client.invalidateQueries({ queryKey: sessionKeys.me });
    },
  });
}

export function useLogout() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => unwrap(api.POST("/v1/auth/logout")),
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
    mutationFn: (input: RequestBody<"requestPasswordReset">) =>
      unwrap(api.POST("/v1/auth/password-reset", { body: input })),
  });
}

/** Ends every session of the account, this browser's included if it was signed in as it. */
export function useConfirmPasswordReset() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (input: RequestBody<"confirmPasswordReset">) =>
      unwrap(api.POST("/v1/auth/password-reset/confirm", { body: input })),
    onSuccess: () => client.invalidateQueries({ queryKey: sessionKeys.me }),
  });
}

/** Reads `token` from the URL fragment (`#token=…`): the fragment never reaches a server or a Referer. */
export function tokenFromFragment(hash: string): string {
  return new URLSearchParams(hash.replace(/^#/, "")).get("token") ?? "";
}

/** `GET /v1/auth/methods`: whether passwords are on, and the OpenID Connect provider's name when one is configured. */
export type SignInMethods = Answer<"getSignInMethods", 200>;

export function useSignInMethods() {
  return useQuery({
    queryKey: ["auth-methods"],
    queryFn: () => unwrap(api.GET("/v1/auth/methods")),
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
    mutationFn: (input: RequestBody<"startOidcSignIn">) => unwrap(api.POST("/v1/auth/oidc/start", { body: input })),
    onSuccess: ({ authorizationUrl }) => window.location.assign(authorizationUrl),
  });
}

/** The query parameter the OpenID Connect callback adds to the page it sends a refused sign-in back to. */
export const SIGNIN_ERROR_PARAM = "signin_error";
