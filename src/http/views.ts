import type { Static } from "typebox";
import type { AuditAction } from "../core/audit-actions.js";
import { DEFAULT_LIMIT_NAME } from "../core/limits.js";
import type { Role } from "../core/roles.js";
import { deriveStatus } from "../core/status.js";
import { maskToken } from "../core/token-format.js";
import type { TokenRecord } from "../core/tokens.js";
import { iso, verificationResponse } from "../services/verification-view.js";
import type { VerifyResult } from "../services/verifier.js";
import type { ChainedAuditEvent } from "../store/audit-repository.js";
import type { MemberRecord } from "../store/memberships-repository.js";
import type { OrgRecord } from "../store/orgs-repository.js";
import type { VerifyResponse } from "./schemas.js";

export function tokenView(t: TokenRecord, now = Date.now()) {
  return {
    id: t.id,
    orgId: t.orgId,
    name: t.name,
    description: t.description,
    kind: t.kind,
    issuedFor: t.issuedFor,
    ownerId: t.ownerId,
    createdBy:
      t.createdById || t.createdByName ? { id: t.createdById, name: t.createdByName, email: t.createdByEmail ?? null } : null,
    createdAt: iso(t.createdAt)!,
    updatedAt: iso(t.updatedAt)!,
    prefix: t.prefix,
    maskedToken: maskToken(t.prefix, t.last4),
    scopes: t.scopes,
    environment: t.environment,
    status: deriveStatus(t, now),
    expiresAt: iso(t.expiresAt),
    lastUsedAt: iso(t.lastUsedAt),
    lastUsedIp: t.lastUsedIp,
    usageCount: t.usageCount,
    suspendedAt: iso(t.suspendedAt),
    deactivatedAt: iso(t.deactivatedAt),
    revokedAt: iso(t.revokedAt),
    revokedBy: t.revokedAt !== null ? { id: t.revokedById, name: t.revokedByName } : null,
    revokeReason: t.revokeReason,
    allowedIps: t.allowedIps,
    rateLimit: legacyRateLimit(t),
    rateLimits: t.rateLimits,
    credits: t.credits
      ? { remaining: t.credits.remaining, refill: t.credits.refill, refilledAt: iso(t.credits.refilledAt) }
      : null,
    metadata: t.metadata,
    regeneratedAt: iso(t.regeneratedAt),
    previousSecretExpiresAt: iso(t.previousSecretExpiresAt),
    leakedAt: iso(t.leakedAt),
    leakUrl: t.leakUrl,
  };
}

/** `rateLimit` for older clients: the limit named `default` (the legacy single limit), if any. */
function legacyRateLimit(t: TokenRecord): { limit: number; windowSeconds: number } | null {
  const legacy = t.rateLimits.find((l) => l.name === DEFAULT_LIMIT_NAME);
  return legacy ? { limit: legacy.limit, windowSeconds: legacy.windowSeconds } : null;
}

export function orgView(org: OrgRecord, role: Role | null = null) {
  return {
    id: org.id,
    name: org.name,
    createdAt: iso(org.createdAt)!,
    updatedAt: iso(org.updatedAt)!,
    role,
    settings: org.settings,
    // The settings are also flattened, so `org.requireExpiry` and `org.settings.requireExpiry` both read.
    ...org.settings,
  };
}

export function memberView(m: MemberRecord) {
  return { id: m.userId, userId: m.userId, email: m.email, name: m.name, role: m.role, createdAt: iso(m.createdAt)! };
}

export function eventView(e: ChainedAuditEvent) {
  // Stored events were written by auditEvent(), which takes only AUDIT_ACTIONS.
  return { ...e, at: iso(e.at)!, action: e.action as AuditAction };
}

/** `POST /v1/verify`'s body: the same wire form the SDK's middleware exposes. */
export function verifyView(r: VerifyResult): Static<typeof VerifyResponse> {
  return verificationResponse(r);
}

export { iso };
