/** Wire types of the public `/v1` API (SPEC §4). Dates are ISO 8601 strings. */

export type Role = "owner" | "admin" | "member" | "viewer";
export const ROLES: readonly Role[] = ["owner", "admin", "member", "viewer"];

export type TokenStatus = "active" | "inactive" | "expired" | "suspended" | "revoked";
export const TOKEN_STATUSES: readonly TokenStatus[] = ["active", "inactive", "expired", "suspended", "revoked"];

export type TokenKind = "personal" | "service" | "root";
export type Environment = "live" | "test";

export interface User {
  id: string;
  email: string;
  name: string;
}

export interface Membership {
  orgId: string;
  orgName: string;
  role: Role;
}

export interface Me {
  user: User;
  memberships: Membership[];
}

export interface OrgSettings {
  tokenPrefix: string;
  defaultExpiryDays: number | null;
  maxExpiryDays: number | null;
  requireExpiry: boolean;
  membersCanCreateTokens: boolean;
  revokeRequiresSuspension: boolean;
}

export interface Organization {
  id: string;
  name: string;
  createdAt: string;
  updatedAt: string;
  settings: OrgSettings;
}

export interface Member {
  userId: string;
  email: string;
  name: string;
  role: Role;
  createdAt: string;
}

export interface Scope {
  name: string;
  description: string;
  kind: "management" | "product";
}

export interface RateLimit {
  limit: number;
  windowSeconds: number;
}

export interface TokenView {
  id: string;
  name: string;
  description: string | null;
  kind: TokenKind;
  issuedFor: string | null;
  ownerId: string | null;
  createdBy: { id: string; name: string; email: string } | null;
  createdAt: string;
  prefix: string;
  maskedToken: string;
  scopes: string[];
  environment: Environment;
  status: TokenStatus;
  expiresAt: string | null;
  lastUsedAt: string | null;
  lastUsedIp: string | null;
  usageCount: number;
  suspendedAt: string | null;
  revokedAt: string | null;
  revokedBy: { id: string; name: string } | null;
  revokeReason: string | null;
  allowedIps: string[] | null;
  rateLimit: RateLimit | null;
  metadata: Record<string, unknown> | null;
  regeneratedAt: string | null;
  previousSecretExpiresAt: string | null;
}

/** The only response that carries a token's plaintext; it must never be cached or persisted. */
export interface TokenWithSecret {
  token: TokenView;
  secret: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface CreateTokenInput {
  name: string;
  description?: string;
  kind?: "personal" | "service";
  issuedFor?: string;
  scopes?: string[];
  /** ISO date-time; `null` asks explicitly for "never" (omitting both applies the organisation default). */
  expiresAt?: string | null;
  expiresInDays?: number;
  environment?: Environment;
}

export type TokenTransition = "deactivate" | "activate" | "suspend" | "resume" | "revoke";

export interface UsageBucket {
  start: string;
  ok: number;
  denied: number;
}

export interface AuditEvent {
  id: string;
  at: string;
  orgId: string;
  action: string;
  actor: { type: string; id: string | null; name: string | null };
  target: { type: string; id: string | null; name: string | null } | null;
  ip: string | null;
  userAgent: string | null;
  traceId: string | null;
  details: Record<string, unknown> | null;
}

export interface Health {
  status: string;
  setupRequired?: boolean;
}

export type InvitationStatus = "pending" | "accepted" | "revoked" | "expired";
export type Locale = "en" | "it";

/** An invitation as its organisation sees it; the secret is never part of it. */
export interface Invitation {
  id: string;
  orgId: string;
  email: string;
  role: Role;
  status: InvitationStatus;
  /** `null`s when the inviter's account no longer exists. */
  invitedBy: { id: string | null; name: string | null };
  createdAt: string;
  expiresAt: string;
  acceptedAt: string | null;
}

export interface CreateInvitationInput {
  email: string;
  role: Role;
  /** Language of the mailed invitation. */
  locale?: Locale;
}

/**
 * `acceptUrl` is returned once, and only when the server has no SMTP to mail it: the inviter passes
 * it on. `null` means it was mailed.
 */
export interface CreatedInvitation {
  invitation: Invitation;
  acceptUrl: string | null;
}

/** What the public `GET /v1/invitations/{token}` tells the person holding the link. */
export interface InvitationPreview {
  organization: { id: string; name: string };
  email: string;
  role: Role;
  invitedBy: { name: string | null };
  expiresAt: string;
}

/** Signed in: only `token`. Not signed in: `name` and `password` create the invited account. */
export interface AcceptInvitationInput {
  token: string;
  name?: string;
  password?: string;
}

export interface AcceptedInvitation {
  user: User;
  organization: { id: string; name: string };
  role: Role;
}

/** A console session of the signed-in user (`GET /v1/me/sessions`). */
export interface SessionView {
  id: string;
  createdAt: string;
  expiresAt: string;
  lastSeenAt?: string | null;
  ip: string | null;
  userAgent: string | null;
  /** The session making the request. */
  current: boolean;
}
