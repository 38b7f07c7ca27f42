import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { http } from "../../api/client";
import type {
  CreateTokenInput,
  Page,
  TokenKind,
  TokenStatus,
  TokenTransition,
  TokenView,
  TokenWithSecret,
  UsageBucket,
} from "../../api/types";

const base = (orgId: string) => `/v1/orgs/${encodeURIComponent(orgId)}/tokens`;
const one = (orgId: string, tokenId: string) => `${base(orgId)}/${encodeURIComponent(tokenId)}`;

export type TokenSort = "createdAt" | "lastUsedAt" | "expiresAt" | "name";
export const TOKEN_SORTS: readonly TokenSort[] = ["createdAt", "lastUsedAt", "expiresAt", "name"];

/** `GET …/tokens` query (SPEC §4): anything else is refused with 400, so only these are sent. */
export interface TokenFilters {
  /** Name contains (case-insensitive) or display prefix starts with. */
  q?: string;
  status?: TokenStatus;
  kind?: TokenKind;
  /** The creator (`usr_…`). */
  createdById?: string;
  /** Never used, or not used for this many days. */
  unusedForDays?: number;
  sort?: TokenSort;
  order?: "asc" | "desc";
}

/** `PATCH …/tokens/{id}`: only the fields that changed are sent. */
export interface TokenUpdate {
  name?: string;
  description?: string | null;
  scopes?: string[];
  allowedIps?: string[];
  rateLimit?: { limit: number; windowSeconds: number } | null;
  metadata?: Record<string, unknown>;
  /** `null` = never expires. */
  expiresAt?: string | null;
}

export type BatchAction = TokenTransition;

export interface BatchProblem {
  code: string;
  title?: string;
  detail?: string;
}

export interface BatchResult {
  id: string;
  ok: boolean;
  status?: TokenStatus;
  problem?: BatchProblem;
}

/** One verification of a token (`GET …/tokens/{id}/requests`), newest first. */
export interface TokenRequest {
  at: string;
  code: string;
  ip: string | null;
  userAgent: string | null;
  scopes: string[];
}

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
    queryFn: () => http.get<Page<TokenView>>(base(orgId), { ...filters, limit: TOKENS_PAGE_SIZE, cursor }),
    placeholderData: keepPreviousData,
  });
}

export function useToken(orgId: string, tokenId: string) {
  return useQuery({
    queryKey: tokenKeys.detail(orgId, tokenId),
    queryFn: () => http.get<TokenView>(one(orgId, tokenId)),
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
    queryFn: () => http.get<UsageBucket[]>(`${one(orgId, tokenId)}/usage`, { ...usageRange(interval), interval }),
  });
}

/**
 * Secrets returned by these mutations are kept only in the calling component's state:
 * `gcTime: 0` drops the mutation (and the secret) from TanStack's cache as soon as it settles.
 */
export function useCreateToken(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (input: CreateTokenInput) => http.post<TokenWithSecret>(base(orgId), input),
    gcTime: 0,
    onSuccess: () => client.invalidateQueries({ queryKey: tokenKeys.all(orgId) }),
  });
}

export interface RegenerateInput {
  graceSeconds?: number;
  expiresAt?: string;
}

export function useRegenerateToken(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ tokenId, ...input }: RegenerateInput & { tokenId: string }) =>
      http.post<TokenWithSecret>(`${one(orgId, tokenId)}/regenerate`, input),
    gcTime: 0,
    onSuccess: () => client.invalidateQueries({ queryKey: tokenKeys.all(orgId) }),
  });
}

export function useTokenTransition(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ tokenId, action, reason }: { tokenId: string; action: TokenTransition; reason?: string }) =>
      http.post<TokenView>(`${one(orgId, tokenId)}/${action}`, action === "revoke" && reason ? { reason } : {}),
    onSuccess: (token) => {
      client.setQueryData(tokenKeys.detail(orgId, token.id), token);
      return client.invalidateQueries({ queryKey: tokenKeys.all(orgId) });
    },
  });
}

export function useUpdateToken(orgId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ tokenId, ...update }: TokenUpdate & { tokenId: string }) => http.patch<TokenView>(one(orgId, tokenId), update),
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
    mutationFn: (input: { action: BatchAction; ids: string[]; reason?: string }) =>
      http.post<{ results: BatchResult[] }>(`${base(orgId)}/batch`, input),
    onSettled: () => client.invalidateQueries({ queryKey: tokenKeys.all(orgId) }),
  });
}

export const REQUESTS_PAGE_SIZE = 25;

export function useTokenRequests(orgId: string, tokenId: string, cursor: string | null) {
  return useQuery({
    queryKey: tokenKeys.requests(orgId, tokenId, cursor),
    queryFn: () =>
      http.get<Page<TokenRequest>>(`${one(orgId, tokenId)}/requests`, { limit: REQUESTS_PAGE_SIZE, cursor }),
    placeholderData: keepPreviousData,
  });
}
