import type { NamedRateLimit, TokenCredits } from "./limits.js";
import type { Environment } from "./token-format.js";

export const TOKEN_KINDS = ["personal", "service", "root"] as const;
export type TokenKind = (typeof TOKEN_KINDS)[number];

/** A per-token rate limit: at most `limit` successful verifications per `windowSeconds`. */
export interface RateLimit {
  limit: number;
  windowSeconds: number;
}

export const MAX_METADATA_BYTES = 4096;
export const MAX_NAME_LENGTH = 100;
export const MAX_DESCRIPTION_LENGTH = 1000;

/** A token as the services see it: everything but the secret, which is never stored. Times: epoch ms. */
export interface TokenRecord {
  id: string;
  orgId: string | null;
  kind: TokenKind;
  name: string;
  description: string | null;
  issuedFor: string | null;
  ownerId: string | null;
  createdById: string | null;
  createdByName: string | null;
  /** Filled by joins when read for display. */
  createdByEmail?: string | null;
  prefix: string;
  last4: string;
  environment: Environment;
  scopes: string[];
  expiresAt: number | null;
  deactivatedAt: number | null;
  suspendedAt: number | null;
  revokedAt: number | null;
  revokedById: string | null;
  revokedByName: string | null;
  revokeReason: string | null;
  allowedIps: string[];
  /** Named limits (the legacy single `rateLimit` is the one named `default`); empty: none. */
  rateLimits: NamedRateLimit[];
  /** Null: unlimited uses. */
  credits: TokenCredits | null;
  metadata: Record<string, unknown>;
  regeneratedAt: number | null;
  previousSecretExpiresAt: number | null;
  /** When a secret scanner reported the token's secret as public (SPEC §11); null = never. */
  leakedAt: number | null;
  /** Where it was found (the alert's `url`), when `leakedAt` is set. */
  leakUrl: string | null;
  lastUsedAt: number | null;
  lastUsedIp: string | null;
  usageCount: number;
  createdAt: number;
  updatedAt: number;
}

/** A token with every field at its empty or default value, to be filled in (times: `now`). */
export function blankToken(now: number): TokenRecord {
  return {
    id: "",
    orgId: null,
    kind: "service",
    name: "",
    description: null,
    issuedFor: null,
    ownerId: null,
    createdById: null,
    createdByName: null,
    prefix: "",
    last4: "",
    environment: "live",
    scopes: [],
    expiresAt: null,
    deactivatedAt: null,
    suspendedAt: null,
    revokedAt: null,
    revokedById: null,
    revokedByName: null,
    revokeReason: null,
    allowedIps: [],
    rateLimits: [],
    credits: null,
    metadata: {},
    regeneratedAt: null,
    previousSecretExpiresAt: null,
    leakedAt: null,
    leakUrl: null,
    lastUsedAt: null,
    lastUsedIp: null,
    usageCount: 0,
    createdAt: now,
    updatedAt: now,
  };
}
