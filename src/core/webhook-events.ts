import type { AuditAction } from "./audit-actions.js";

/** The event types an endpoint may receive (SPEC §10); `webhook.test` only from a test send. */
export const WEBHOOK_EVENT_TYPES = [
  "token.created",
  "token.updated",
  "token.regenerated",
  "token.activated",
  "token.deactivated",
  "token.suspended",
  "token.resumed",
  "token.revoked",
  "token.expiring",
  "token.expired",
  "token.stale",
  "token.leaked",
  "member.added",
  "member.removed",
  "member.role_changed",
  "webhook.test",
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** The types an endpoint may subscribe to: every type but the test send's. */
export type SubscribableEventType = Exclude<WebhookEventType, "webhook.test">;

export function isSubscribable(type: string): type is SubscribableEventType {
  return type !== "webhook.test" && (WEBHOOK_EVENT_TYPES as readonly string[]).includes(type);
}

/**
 * Which audit actions become webhook events, and as what. The audit log is the event source: every
 * audited change of an organisation whose action is here is queued in the same transaction. Several
 * audit actions may share a type (a scope edit is an update of the token; a member leaving is a removal).
 * Actions absent here (sign-ins, settings, webhooks' own changes) are not sent.
 */
const WEBHOOK_TYPE_OF: Partial<Record<AuditAction, WebhookEventType>> = {
  "token.created": "token.created",
  "token.updated": "token.updated",
  "token.scopes_changed": "token.updated",
  "token.regenerated": "token.regenerated",
  "token.activated": "token.activated",
  "token.deactivated": "token.deactivated",
  "token.suspended": "token.suspended",
  "token.resumed": "token.resumed",
  "token.revoked": "token.revoked",
  "token.expiring": "token.expiring",
  "token.expired": "token.expired",
  "token.stale": "token.stale",
  "token.leaked": "token.leaked",
  "member.added": "member.added",
  "member.removed": "member.removed",
  "member.left": "member.removed",
  "member.role_changed": "member.role_changed",
};

/** The webhook type of an audit action, or null when the action is not sent. */
export function webhookTypeOf(action: string): WebhookEventType | null {
  return WEBHOOK_TYPE_OF[action as AuditAction] ?? null;
}

/** Whether an endpoint subscribed to `filter` (empty = every type) receives `type`. */
export function endpointWants(filter: readonly string[], type: WebhookEventType): boolean {
  return type === "webhook.test" || filter.length === 0 || filter.includes(type);
}

/** What an audit event looks like to a webhook payload builder (never a secret: audit details hold none). */
export interface WebhookSource {
  id: string;
  at: number;
  orgId: string;
  actor: { type: string; id: string | null; name: string | null };
  target: { type: string; id: string; name: string | null } | null;
  details: Record<string, unknown>;
}

/** The Standard Webhooks payload: `{type, timestamp, data}`. `data.id` is the audit event's id. */
export interface WebhookPayload {
  type: WebhookEventType;
  timestamp: string;
  data: {
    id: string;
    orgId: string;
    actor: WebhookSource["actor"];
    target: WebhookSource["target"];
    details: Record<string, unknown>;
  };
}

export function webhookPayload(type: WebhookEventType, e: WebhookSource): WebhookPayload {
  return {
    type,
    timestamp: new Date(e.at).toISOString(),
    data: { id: e.id, orgId: e.orgId, actor: e.actor, target: e.target, details: e.details },
  };
}

/**
 * The ordering key of an event: deliveries to one endpoint with the same key go one after the other (the
 * next waits until the previous succeeded or was given up). Per target (the token, the member); an event
 * without a target is ordered on its own.
 */
export function orderKeyOf(e: WebhookSource): string {
  return e.target ? `${e.target.type}:${e.target.id}` : `event:${e.id}`;
}
