import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { api, unwrap } from "../../api/client";
import type { QueryOf } from "../../api/types";

/** The filters of `GET …/audit` (its query without the paging). */
export type AuditFilters = Omit<QueryOf<"listAuditEvents">, "limit" | "cursor">;

export const auditKeys = {
  org: (orgId: string, filters: AuditFilters, cursor: string | null) => ["orgs", orgId, "audit", filters, cursor] as const,
  token: (orgId: string, tokenId: string) => ["orgs", orgId, "tokens", tokenId, "audit"] as const,
};

export const AUDIT_PAGE_SIZE = 25;

export function useOrgAudit(orgId: string, filters: AuditFilters, cursor: string | null) {
  return useQuery({
    queryKey: auditKeys.org(orgId, filters, cursor),
    queryFn: () =>
      unwrap(
        api.GET("/v1/orgs/{orgId}/audit", {
          params: { path: { orgId }, query: { ...filters, limit: AUDIT_PAGE_SIZE, cursor: cursor ?? undefined } },
        }),
      ),
    placeholderData: keepPreviousData,
  });
}

export function useTokenAudit(orgId: string, tokenId: string) {
  return useQuery({
    queryKey: auditKeys.token(orgId, tokenId),
    queryFn: () =>
      unwrap(
        api.GET("/v1/orgs/{orgId}/tokens/{tokenId}/audit", { params: { path: { orgId, tokenId }, query: { limit: 50 } } }),
      ),
  });
}
