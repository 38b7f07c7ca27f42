import { type QuotaName, type Quotas, quotaRefusal } from "../core/quotas.js";
import type { Db, Dialect } from "../store/database.js";
import {
  countLivePersonalTokens,
  countLiveTokens,
  countMembers,
  countOwnedOrgs,
  lockOrgForQuota,
  lockUserForQuota,
} from "../store/quotas-repository.js";

/** The quotas counted here (the catalogue is a size; webhooks are counted by their own use case, `refusal`). */
export type CountedQuota = Exclude<QuotaName, "scopesPerCatalogue" | "webhooksPerOrganization">;

/** What a quota is counted for: the organisation, the person, or a person within an organisation. */
export interface QuotaSubject {
  orgId?: string | undefined;
  userId?: string | undefined;
}

/**
 * Asks the configured quotas inside a use case's transaction. Call `assert` before inserting, with the
 * transaction the insert runs in: on PostgreSQL it locks the organisation (or, for organisations per user,
 * the person) so concurrent creations count one after the other; SQLite serialises write transactions.
 * Throws `quota_exceeded` (409) naming the quota.
 */
export class QuotaGuard {
  readonly limits: Quotas;
  readonly #dialect: Dialect;

  constructor(limits: Quotas, dialect: Dialect) {
    this.limits = limits;
    this.#dialect = dialect;
  }

  /**
   * - `organizationsPerUser` `{userId}`: before a person creates (and so owns) one more organisation.
   * - `membersPerOrganization` `{orgId}`: before adding one member (invitation acceptance, direct add).
   * - `tokensPerOrganization` `{orgId}`: before creating a token in the organisation.
   * - `tokensPerMember` `{orgId, userId}`: before creating a personal token for that person.
   * `scopesPerCatalogue` is a size, not a count: use `assertSize`. `webhooksPerOrganization` is counted by
   * the webhook service after it locks the organisation (`refusal`).
   */
  async assert(trx: Db, name: CountedQuota, subject: QuotaSubject, adding = 1): Promise<void> {
    const max = this.limits[name];
    const current = await this.#count(trx, name, subject);
    const refusal = quotaRefusal(name, max, current, adding);
    if (refusal) throw refusal;
  }

  /**
   * Before creating a token: the organisation's quota, and for a personal token (`ownerId` set) also its
   * owner's. Service tokens count towards the organisation only.
   */
  async assertNewToken(trx: Db, orgId: string, ownerId: string | null): Promise<void> {
    await this.assert(trx, "tokensPerOrganization", { orgId });
    if (ownerId !== null) await this.assert(trx, "tokensPerMember", { orgId, userId: ownerId });
  }

  /**
   * The refusal for a quota counted by its own use case (webhooks: counted by the webhooks repository
   * after the organisation is locked), or null when one more fits.
   */
  refusal(name: "webhooksPerOrganization", current: number): ReturnType<typeof quotaRefusal> {
    return quotaRefusal(name, this.limits[name], current);
  }

  /** For quotas on the size of something replaced whole (the scope catalogue). */
  assertSize(name: "scopesPerCatalogue", size: number): void {
    const refusal = quotaRefusal(name, this.limits[name], size, 0);
    if (refusal) throw refusal;
  }

  async #count(trx: Db, name: CountedQuota, s: QuotaSubject): Promise<number> {
    switch (name) {
      case "organizationsPerUser":
        await lockUserForQuota(trx, this.#dialect, need(s.userId, name));
        return countOwnedOrgs(trx, need(s.userId, name));
      case "membersPerOrganization":
        await lockOrgForQuota(trx, this.#dialect, need(s.orgId, name));
        return countMembers(trx, need(s.orgId, name));
      case "tokensPerOrganization":
        await lockOrgForQuota(trx, this.#dialect, need(s.orgId, name));
        return countLiveTokens(trx, need(s.orgId, name));
      case "tokensPerMember":
        await lockOrgForQuota(trx, this.#dialect, need(s.orgId, name));
        return countLivePersonalTokens(trx, need(s.orgId, name), need(s.userId, name));
    }
  }
}

function need(id: string | undefined, name: QuotaName): string {
  if (!id) throw new Error(`quota ${name} needs its subject id`);
  return id;
}
