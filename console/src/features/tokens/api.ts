import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap } from "../../api/client";
import type { Answer, CreateTokenInput, QueryOf, RequestBody, TokenTransition } from "../../api/types";

const inOrg = (orgId: string) => ({ params: { path: { orgId } } });
const oneToken = (orgId: string, tokenId: string) => ({ params: { path: { orgId, tokenId } } });

/** `GET …/tokens` query (SPEC §4) without the paging: anything else is refused with 400, so only these are sent. */
export type TokenFilters = Omit<QueryOf<"listTokens">, "limit" | "cursor">;

export type TokenSort = NonNullable<TokenFilters["sort"]>;
export const TOKEN_SORTS = ["createdAt", "lastUsedAt", "expiresAt", "name"] as const satisfies readonly TokenSort[];

/** `PATCH …/tokens/{id}`: only the fields that changed are sent (`expiresAt: null` = never expires). */
export type TokenUpdate = RequestBody<"updateToken">;

export type BatchAction = TokenTransition;

/** What happened to one id of a batch. */
export type BatchResult = Answer<"batchTokens", 200>["results"][number];
export type BatchProblem = NonNullable<BatchResult["problem"]>;

/** One verification of a token (`GET …/tokens/{id}/requests`), newest first. */
export type TokenRequest = Answer<"listTokenRequests", 200>["items"][number];

export const TOKENS_PAGE_SIZE = 20;

export const tokenKeys = {
  all: (orgId: string) => ["orgs", orgId, "tokens"] as const,
  list: (orgId: string, filters: TokenFilters, cursor: string | null) =>
    ["orgs", orgId, "tokens", "list", filters, cursor] as const,
  detail: (orgId: string, tokenId: string) => ["orgs", orgId, "tokens", tokenId] as const,
  requests: (orgId: string, tokenId: string, cursor: string | null) =>
    ["orgs", orgId, "tokens", tokenId, "requests", cursor] as const,
  usage: (orgId: string, tokenId: string, interval: "hour" | "day") =>
    ["orgs", orgId, "tokens", tokenId, "usage", interval] as const,
};

export function useTokens(orgId: string, filters: TokenFilters, cursor: string | null) {
  return useQuery({
    queryKey: tokenKeys.list(orgId, filters, cursor),
    queryFn: () =>
      unwrap(
        api.GET("/v1/orgs/{orgId}/tokens", {
          params: { path: { orgId }, query: { ...filters, limit: TOKENS_PAGE_SIZE, cursor: cursor ?? undefined } },
        }),
      ),
    placeholderData: keepPreviousData,
  });
}

export function useToken(orgId: string, tokenId: string) {
  return useQuery({
    queryKey: tokenKeys.detail(orgId, tokenId),
    queryFn: () => unwrap(api.GET("/v1/orgs/{orgId}/tokens/{tokenId}", oneToken(orgId, tokenId))),
  });
}

/** Hourly buckets for the last 48 hours, daily buckets for the last 30 days. */
export function usageRange(interval: "hour" | "day", now = new Date()): { from: string; to: string } {
  const to = new Date(now);
  const from = new Date(now);
  if (interval === "hour") {
    to.setMinutes(0, 0, 0);
    to.setHours(to.getHours() + 1);
    from.setTime(to.getTime() - 48 * 3600_000);
  } else {
    to.setUTCHours(0, 0, 0, 0);
    to.setUTCDate(to.getUTCDate() + 1);
    from.setTime(to.getTime() - 30 * 86_400_000);
  }
  return { from: from.toISOString(), to: to.toISOString() };
}

export function useTokenUsage(orgId: string, tokenId: string, interval: "hour" | "day") {
  return useQuery({
    queryKey: tokenKeys.usage(orgId, tokenId, interval),
    queryFn: () =>
      unwrap(
        api.GET("/v1/orgs/{orgId}/tokens/{tokenId}/usage", {
          params: { path: { orgId, tokenId }, query: { ...usageRange(interval), interval } },
        }),
      ),
  });
}

/**
 * Secrets returned by these mutations are kept only in the calling component's state:
 * `gcTime: 0` drops the mutation (and the secret) from TanStack's cache as soon as it settles.
 */
export function useCreateToken(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (input: CreateTokenInput) => unwrap(api.POST("/v1/orgs/{orgId}/tokens", { ...inOrg(orgId), body: input })),
    gcTime: 0,
    onSuccess: () => client.invalidateQueries({ queryKey: tokenKeys.all(orgId) }),
  });
}

export type RegenerateInput = NonNullable<RequestBody<"regenerateToken">>;

export function useRegenerateToken(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ tokenId, ...input }: RegenerateInput & { tokenId: string }) =>
      unwrap(api.POST("/v1/orgs/{orgId}/tokens/{tokenId}/regenerate", { ...oneToken(orgId, tokenId), body: input })),
    gcTime: 0,
    onSuccess: () => client.invalidateQueries({ queryKey: tokenKeys.all(orgId) }),
  });
}

export function useTokenTransition(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ tokenId, action, reason }: { tokenId: string; action: TokenTransition; reason?: string }) =>
      unwrap(
        action === "revoke"
          ? api.POST("/v1/orgs/{orgId}/tokens/{tokenId}/revoke", {
              ...oneToken(orgId, tokenId),
              body: reason ? { reason } : {},
            })
          : api.POST(`/v1/orgs/{orgId}/tokens/{tokenId}/${action}`, oneToken(orgId, tokenId)),
      ),
    onSuccess: (token) => {
      client.setQueryData(tokenKeys.detail(orgId, token.id), token);
      return client.invalidateQueries({ queryKey: tokenKeys.all(orgId) });
    },
  });
}

export function useUpdateToken(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ tokenId, ...update }: TokenUpdate & { tokenId: string }) =>
      unwrap(api.PATCH("/v1/orgs/{orgId}/tokens/{tokenId}", { ...oneToken(orgId, tokenId), body: update })),
    onSuccess: (token) => {
      client.setQueryData(tokenKeys.detail(orgId, token.id), token);
      return client.invalidateQueries({ queryKey: tokenKeys.all(orgId) });
    },
  });
}

/** `POST …/tokens/batch`: every id is checked as if alone; the answer says what happened to each. */
export function useBatchTokens(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (input: RequestBody<"batchTokens">) =>
      unwrap(api.POST("/v1/orgs/{orgId}/tokens/batch", { ...inOrg(orgId), body: input })),
    onSettled: () => client.invalidateQueries({ queryKey: tokenKeys.all(orgId) }),
  });
}

export const REQUESTS_PAGE_SIZE = 25;

export function useTokenRequests(orgId: string, tokenId: string, cursor: string | null) {
  return useQuery({
    queryKey: tokenKeys.requests(orgId, tokenId, cursor),
    queryFn: () =>
      unwrap(
        api.GET("/v1/orgs/{orgId}/tokens/{tokenId}/requests", {
          params: { path: { orgId, tokenId }, query: { limit: REQUESTS_PAGE_SIZE, cursor: cursor ?? undefined } },
        }),
      ),
    placeholderData: keepPreviousData,
  });
}
