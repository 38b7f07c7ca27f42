import type { ChangeBus } from "../core/changes.js";
import { decideManageRootTokens, decideTransition } from "../core/policy.js";
import { applyTransition, type Transition } from "../core/status.js";
import { insertEvents } from "../store/audit-repository.js";
import type { RecordedTokenChange } from "../store/backup.js";
import type { Store } from "../store/database.js";
import { findTokenById, findTokenForUpdate, updateToken } from "../store/tokens-repository.js";
import { type Actor, instanceCaller, policyActor } from "./actor.js";
import { auditEvent } from "./audit.js";
import { enforce } from "./authority.js";
import type { OrgService } from "./org-service.js";
import type { RequestMeta } from "./request-meta.js";
import { revocationPatch, targetOf } from "./token-service.js";

/** One audit event as replay needs it: what happened to which token, and when. */
export type RecordedTokenEvent = RecordedTokenChange;

/** Per token, what the replay did. */
export interface ReplayOutcome {
  tokenId: string;
  /** `revoked`/`suspended`: applied now; `already`: the token was already in that state (or past it); `missing`: no such token here. */
  result: "revoked" | "suspended" | "already" | "missing";
  /** The recorded event that asked for it. */
  eventId: string | null;
}

/** Audit actions replay re-applies (the ones that take authority away), and the ones that undo a suspension. */
const REPLAYED = new Set(["token.revoked", "token.suspended", "token.resumed"]);

/**
 * Re-applies revocations and suspensions recorded after a point in time, e.g. after a restore brought
 * back tokens revoked since the backup. Only ever takes authority away: a revocation is re-applied; a
 * suspension is re-applied when it was the token's last recorded word (not followed by a resume); nothing
 * is ever resumed, activated or un-revoked. Runs as the system actor (the operator on the server, like
 * every CLI command), asks the policy like any use case, one transaction per token, each audited as
 * `token.revoked`/`token.suspended` with `replayOf` naming the recorded event; caches everywhere hear of it.
 */
export async function replayRevocations(
  deps: { store: Store; bus: ChangeBus; orgs: OrgService },
  events: readonly RecordedTokenEvent[],
  meta: RequestMeta,
): Promise<ReplayOutcome[]> {
  const actor: Actor = { type: "system" };
  const wanted = new Map<string, { transition: Transition; eventId: string | null }>();
  for (const e of [...events].filter((e) => REPLAYED.has(e.action)).sort((a, b) => a.at - b.at)) {
    const current = wanted.get(e.tokenId);
    if (current?.transition === "revoke") continue;
    if (e.action === "token.revoked") wanted.set(e.tokenId, { transition: "revoke", eventId: e.id });
    else if (e.action === "token.suspended") wanted.set(e.tokenId, { transition: "suspend", eventId: e.id });
    else wanted.delete(e.tokenId);
  }
  const outcomes: ReplayOutcome[] = [];
  for (const [tokenId, { transition, eventId }] of wanted) {
    let result = "missing" as ReplayOutcome["result"];
    const found = await findTokenById(deps.store.db, tokenId);
    // Read before the transaction: on SQLite the transaction holds the only connection.
    const access = found?.orgId ? await deps.orgs.access(actor, found.orgId) : undefined;
    await deps.store.db.transaction().execute(async (trx) => {
      const token = await findTokenForUpdate(trx, tokenId, deps.store.dialect);
      if (!token) return;
      if (access && token.orgId === access.org.id) enforce(decideTransition(policyActor(access), token, transition));
      else enforce(decideManageRootTokens(instanceCaller(actor)));
      const now = Date.now();
      // Revocation needs no prior suspension here: the recorded revocation already met the organisation's rule.
      const applied = applyTransition(token, transition, now, { revokeRequiresSuspension: false });
      if (!applied.ok) {
        result = "already";
        return;
      }
      const reason = `re-applied from the audit log${eventId ? ` (event ${eventId})` : ""}`;
      const patch: Record<string, unknown> =
        transition === "revoke" ? revocationPatch(actor, reason, now) : { updated_at: now, suspended_at: now };
      await updateToken(trx, token.id, patch);
      const details = { reason, replayOf: eventId };
      const action = transition === "revoke" ? "token.revoked" : "token.suspended";
      await insertEvents(trx, [auditEvent(meta, actor, token.orgId, action, targetOf(token), details, now)]);
      result = transition === "revoke" ? "revoked" : "suspended";
    });
    if (result === "revoked" || result === "suspended") deps.bus.publish({ type: "token", tokenId });
    outcomes.push({ tokenId, result, eventId });
  }
  return outcomes;
}
