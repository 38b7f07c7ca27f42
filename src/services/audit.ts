import type { AuditAction } from "../core/audit-actions.js";
import { newId } from "../core/ids.js";
import type { AuditEvent } from "../store/audit-repository.js";
import { type Actor, actorRef } from "./actor.js";
import type { RequestMeta } from "./request-meta.js";

export interface EventTarget {
  type: string;
  id: string;
  name: string | null;
}

/** One audit event for the use case at hand; inserted in the same transaction as the change it records. */
export function auditEvent(
  meta: RequestMeta,
  actor: Actor,
  orgId: string | null,
  action: AuditAction,
  target: EventTarget | null,
  details: Record<string, unknown> = {},
  at: number = Date.now(),
): AuditEvent {
  return {
    id: newId("event"),
    at,
    orgId,
    action,
    actor: actorRef(actor),
    target,
    ip: meta.ip,
    userAgent: meta.userAgent,
    traceId: meta.traceId,
    details,
  };
}
