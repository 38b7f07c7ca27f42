import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { http } from "../../api/client";
import type { AuditEvent, Page } from "../../api/types";

export interface AuditFilters {
  action?: string;
  actorId?: string;
  targetId?: string;
  from?: string;
  to?: string;
}

export const auditKeys = {
  org: (orgId: string, filters: AuditFilters, cursor: string | null) => ["orgs", orgId, "audit", filters, cursor] as const,
  token: (orgId: string, tokenId: string) => ["orgs", orgId, "tokens", tokenId, "audit"] as const,
};

export const AUDIT_PAGE_SIZE = 25;

export function useOrgAudit(orgId: string, filters: AuditFilters, cursor: string | null) {
  return useQuery({
    queryKey: auditKeys.org(orgId, filters, cursor),
    queryFn: () =>
      http.get<Page<AuditEvent>>(`/v1/orgs/${encodeURIComponent(orgId)}/audit`, {
        ...filters,
        limit: AUDIT_PAGE_SIZE,
        cursor,
      }),
    placeholderData: keepPreviousData,
  });
}

export function useTokenAudit(orgId: string, tokenId: string) {
  return useQuery({
    queryKey: auditKeys.token(orgId, tokenId),
    queryFn: () =>
      http.get<Page<AuditEvent>>(
        `/v1/orgs/${encodeURIComponent(orgId)}/tokens/${encodeURIComponent(tokenId)}/audit`,
        { limit: 50 },
      ),
  });
}
