/**
 * The closed list of audit actions (SPEC §6). The OpenAPI document's `AuditEvent.action` enum and the
 * generated client's type come from here, and `auditEvent()` accepts nothing else: a new action is added
 * here first, or the build fails.
 */
export const AUDIT_ACTIONS = [
  "instance.setup",
  "auth.login",
  "auth.login_failed",
  "auth.login_throttled",
  "auth.bearer_throttled",
  "auth.password_reset_requested",
  "auth.password_reset",
  "auth.password_changed",
  "auth.password_change_failed",
  "auth.session_ended",
  "auth.sessions_ended",
  "org.created",
  "org.updated",
  "org.settings_changed",
  "org.scopes_changed",
  "member.added",
  "member.role_changed",
  "member.removed",
  "member.left",
  "user.provisioned",
  "user.updated",
  "invitation.created",
  "invitation.revoked",
  "token.created",
  "token.updated",
  "token.scopes_changed",
  "token.regenerated",
  "token.deactivated",
  "token.activated",
  "token.suspended",
  "token.resumed",
  "token.revoked",
  "token.expiring",
  "token.expired",
  "token.stale",
  "token.leaked",
  "webhook.created",
  "webhook.updated",
  "webhook.deleted",
  "webhook.failing",
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];
