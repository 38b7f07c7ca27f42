import { TesseraError } from "./errors.js";

/**
 * Instance-wide quotas (issue 16): no caller gets more than its share of storage. Pure definitions;
 * the counting lives in `store/quotas-repository.ts`, the checks in `services/quotas.ts`.
 */
export const QUOTA_NAMES = [
  "organizationsPerUser",
  "membersPerOrganization",
  "tokensPerOrganization",
  "tokensPerMember",
  "scopesPerCatalogue",
  "webhooksPerOrganization",
] as const;

export type QuotaName = (typeof QUOTA_NAMES)[number];
export type Quotas = Record<QuotaName, number>;

/** Generous for real use; each is a ceiling against abuse, not a pricing tier. */
export const DEFAULT_QUOTAS: Quotas = {
  organizationsPerUser: 100,
  membersPerOrganization: 1_000,
  tokensPerOrganization: 10_000,
  tokensPerMember: 100,
  scopesPerCatalogue: 500,
  webhooksPerOrganization: 20,
};

/**
 * The largest value a setting may take. The catalogue's bound is also the PUT body's `maxItems`: above it
 * the body itself is refused (400) before any work, since no configuration could accept it.
 */
export const QUOTA_CEILING: Quotas = {
  organizationsPerUser: 1_000_000,
  membersPerOrganization: 1_000_000,
  tokensPerOrganization: 10_000_000,
  tokensPerMember: 1_000_000,
  scopesPerCatalogue: 5_000,
  webhooksPerOrganization: 10_000,
};

/** The environment variable that sets each quota. */
export const QUOTA_ENV: Record<QuotaName, string> = {
  organizationsPerUser: "TESSERA_MAX_ORGS_PER_USER",
  membersPerOrganization: "TESSERA_MAX_MEMBERS_PER_ORG",
  tokensPerOrganization: "TESSERA_MAX_TOKENS_PER_ORG",
  tokensPerMember: "TESSERA_MAX_TOKENS_PER_MEMBER",
  scopesPerCatalogue: "TESSERA_MAX_CATALOGUE_SCOPES",
  webhooksPerOrganization: "TESSERA_MAX_WEBHOOKS_PER_ORG",
};

/** What is counted, as the sentence of the refusal says it ("This organisation already has 10000 tokens"). */
const SUBJECT: Record<QuotaName, { owner: string; things: string }> = {
  organizationsPerUser: { owner: "You already own", things: "organisations" },
  membersPerOrganization: { owner: "This organisation already has", things: "members" },
  tokensPerOrganization: { owner: "This organisation already has", things: "tokens that are not revoked" },
  tokensPerMember: { owner: "This person already has", things: "personal tokens in this organisation that are not revoked" },
  scopesPerCatalogue: { owner: "A catalogue holds at most", things: "product scopes" },
  webhooksPerOrganization: { owner: "This organisation already has", things: "webhooks" },
};

/**
 * The refusal when `current + adding` would exceed `max`, or null when it fits. For the catalogue,
 * `current` is the size asked for and `adding` 0 (a PUT replaces the whole catalogue).
 */
export function quotaRefusal(name: QuotaName, max: number, current: number, adding = 1): TesseraError | null {
  if (current + adding <= max) return null;
  const { owner, things } = SUBJECT[name];
  const detail =
    name === "scopesPerCatalogue"
      ? `${owner} ${max} ${things}; ${current} were sent (${name})`
      : `${owner} ${current} ${things}, the most allowed is ${max} (${name})`;
  return new TesseraError("quota_exceeded", detail, { limit: { name, max } });
}
