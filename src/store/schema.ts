import type { ColumnType, Generated, Insertable, Selectable, Updateable } from "kysely";

/**
 * Kysely table types, shared by SQLite and PostgreSQL. Dialect-neutral on purpose: times are epoch
 * milliseconds (`bigint`), JSON is text, booleans are 0/1 integers, and ids are generated in code.
 */
export interface Database {
  users: UsersTable;
  organizations: OrganizationsTable;
  memberships: MembershipsTable;
  org_scopes: OrgScopesTable;
  tokens: TokensTable;
  token_secrets: TokenSecretsTable;
  sessions: SessionsTable;
  audit_events: AuditEventsTable;
  token_usage: TokenUsageTable;
  invitations: InvitationsTable;
  password_resets: PasswordResetsTable;
  token_request_batches: TokenRequestBatchesTable;
  audit_chain_heads: AuditChainHeadsTable;
  audit_checkpoints: AuditCheckpointsTable;
  embed_sessions: EmbedSessionsTable;
  token_notices: TokenNoticesTable;
  mail_outbox: MailOutboxTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
}

/**
 * One scheduled notice (SPEC §10) per token, kind and threshold: the primary key is what makes each
 * notice happen exactly once, across restarts and instances (inserted with the notice's audit event).
 */
export interface TokenNoticesTable {
  token_id: string;
  /** `expiring`, `expired`, `stale`, `deactivated`. */
  kind: string;
  /** Days: the `expiryNoticeDays` value, `staleAfterDays`, `autoDeactivateUnusedDays`; 0 for `expired`. */
  threshold: number;
  at: number;
}

/** A mail to send, written in the transaction of what it tells; sent (and retried) by the mail loop. */
export interface MailOutboxTable {
  id: string;
  to_address: string;
  subject: string;
  text_body: string;
  html_body: string;
  created_at: number;
  /** Due time; pushed forward while an instance holds the row (a lease) and after a failure (backoff). */
  next_attempt_at: number;
  attempts: number;
  sent_at: number | null;
  /** The last failure's message (SMTP's answer), never the body. */
  last_error: string | null;
}

export interface UsersTable {
  id: string;
  email: string;
  name: string;
  /** Empty for host-provisioned users (SPEC §9): they have no Tessera password. */
  password_hash: string;
  instance_admin: number;
  /** The host's id for a host-provisioned user (unique); null for everyone else. */
  external_id: string | null;
  disabled_at: number | null;
  created_at: number;
  updated_at: number;
  /** OpenID Connect identity (issuer, subject), set at the first OIDC sign-in. */
  oidc_issuer: ColumnType<string | null, string | null | undefined, string | null>;
  oidc_subject: ColumnType<string | null, string | null | undefined, string | null>;
  /** `en` or `it`: the language of the mail Tessera sends the person; null = English. */
  locale: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface OrganizationsTable {
  id: string;
  name: string;
  /** JSON of `OrgSettings`. */
  settings: string;
  /** The host's id for a host-provisioned organisation (unique); null otherwise. */
  external_id: string | null;
  created_at: number;
  updated_at: number;
}

export interface MembershipsTable {
  org_id: string;
  user_id: string;
  role: string;
  created_at: number;
}

export interface OrgScopesTable {
  org_id: string;
  name: string;
  description: string;
  created_at: number;
}

export interface TokensTable {
  id: string;
  /** Null for root (instance-level) tokens. */
  org_id: string | null;
  kind: string;
  name: string;
  description: string | null;
  issued_for: string | null;
  /** The user who owns a personal token; null for service and root tokens. */
  owner_id: string | null;
  /** `usr_…` or `tok_…` of whoever created it; null when the system (CLI) did. */
  created_by_id: string | null;
  created_by_name: string | null;
  prefix: string;
  last4: string;
  environment: string;
  /** JSON array of scopes. */
  scopes: string;
  expires_at: number | null;
  deactivated_at: number | null;
  suspended_at: number | null;
  revoked_at: number | null;
  revoked_by_id: string | null;
  revoked_by_name: string | null;
  revoke_reason: string | null;
  /** JSON array of CIDRs. */
  allowed_ips: string;
  /** JSON `{limit, windowSeconds}` or null. */
  rate_limit: string | null;
  /** JSON `[{name, limit, windowSeconds}]` or null (none). Replaces `rate_limit` (2026-12-04). */
  rate_limits: string | null;
  /** Credits balance as last written behind; null: unlimited. */
  credits_remaining: number | null;
  /** JSON `{amount, interval}` or null. */
  credits_refill: string | null;
  credits_refilled_at: number | null;
  credits_gen: Generated<number>;
  credits_seq: Generated<number>;
  /** JSON object. */
  metadata: string;
  regenerated_at: number | null;
  previous_secret_expires_at: number | null;
  /** When a secret scanner reported the token public (SPEC §11). */
  leaked_at: ColumnType<number | null, number | null | undefined, number | null>;
  /** The alert's source URL. */
  leak_url: ColumnType<string | null, string | null | undefined, string | null>;
  last_used_at: number | null;
  last_used_ip: string | null;
  usage_count: Generated<number>;
  created_at: number;
  updated_at: number;
}

/** Every live secret hash of a token: the current one, and the previous one during a grace period. */
export interface TokenSecretsTable {
  hash: string;
  token_id: string;
  created_at: number;
  /** When a regenerated token's previous secret stops working; null for the current secret. */
  expires_at: number | null;
}

export interface SessionsTable {
  /** SHA-256 of the session cookie's value; the value itself is never stored. */
  id_hash: string;
  user_id: string;
  csrf_token: string;
  created_at: number;
  expires_at: number;
  /** `ses_…`: what the person sees and ends sessions by; never the cookie or its hash. Null only before 2026-12-02. */
  public_id: string | null;
  ip: string | null;
  user_agent: string | null;
  /** Refreshed at most every few minutes (a write per request would be too dear). */
  last_seen_at: number | null;
}

export interface AuditEventsTable {
  id: string;
  at: number;
  org_id: string | null;
  action: string;
  actor_type: string;
  actor_id: string | null;
  actor_name: string | null;
  target_type: string | null;
  target_id: string | null;
  target_name: string | null;
  ip: string | null;
  user_agent: string | null;
  trace_id: string;
  /** JSON object. */
  details: string;
  /** Position in the organisation's hash chain (1, 2, …); see core/audit-chain.ts. */
  seq: number;
  prev_hash: string;
  hash: string;
}

/** One verification of a token (SPEC §4 "requests"), written in batches off the verification path. */
/**
 * A token's requests of one flush interval (its history, SPEC §4 `…/requests`), one row per token per
 * flush. `entries` is JSON, flat and oldest first: `[at, code, ip, userAgent, scopes|null, at, …]`.
 */
export interface TokenRequestBatchesTable {
  id: string;
  token_id: string;
  /** The newest request's time. */
  at: number;
  /** The oldest request's time. */
  first_at: number;
  /** Requests in `entries`. */
  n: number;
  entries: string;
}

/** The last link of each audit chain: `org_key` is the organisation id, '' for instance-level events. */
export interface AuditChainHeadsTable {
  org_key: string;
  seq: number;
  hash: string;
}

/** Where a pruned prefix of a chain ended (SPEC §6 retention): the next kept event links to `hash`. */
export interface AuditCheckpointsTable {
  org_key: string;
  seq: number;
  hash: string;
  pruned: number;
  at: number;
  /** HMAC-SHA-256 under the instance's audit key; null when the instance has none configured. */
  signature: string | null;
}

export interface TokenUsageTable {
  token_id: string;
  /** Start of the hour, epoch ms. */
  bucket_start: number;
  ok: number;
  denied: number;
}

/** An invitation to join an organisation; its secret travels only in the link, stored here hashed. */
export interface InvitationsTable {
  id: string;
  org_id: string;
  /** Lower-cased. */
  email: string;
  role: string;
  secret_hash: string;
  invited_by_id: string | null;
  invited_by_name: string | null;
  created_at: number;
  expires_at: number;
  accepted_at: number | null;
  accepted_by_id: string | null;
  /** Revoked by hand, or replaced by a newer invitation of the same email. */
  revoked_at: number | null;
}

/** A single-use password reset link's secret, hashed. */
export interface PasswordResetsTable {
  secret_hash: string;
  user_id: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}

/** An embed session (SPEC §9): a single-use handoff, then a short-lived bearer; both stored as SHA-256. */
export interface EmbedSessionsTable {
  id: string;
  handoff_hash: string;
  bearer_hash: string | null;
  user_id: string;
  org_id: string;
  locale: string;
  /** JSON `{mode, accent}`. */
  theme: string;
  created_by_id: string;
  created_at: number;
  handoff_expires_at: number;
  exchanged_at: number | null;
  expires_at: number | null;
}

/** An organisation's webhook endpoint (SPEC §10). */
export interface WebhookEndpointsTable {
  id: string;
  org_id: string;
  url: string;
  description: string | null;
  /** JSON array of event types; empty = every type. */
  event_types: string;
  enabled: number;
  /** `active` | `failing` (a delivery was given up; back to active at the next success). */
  status: string;
  /** The `whsec_…` secret, AES-256-GCM encrypted (services/webhook-secrets.ts). */
  secret_enc: string;
  failing_since: number | null;
  created_at: number;
  updated_at: number;
}

/** One event for one endpoint: the outbox row and its delivery log. */
export interface WebhookDeliveriesTable {
  id: string;
  endpoint_id: string;
  org_id: string;
  event_id: string;
  type: string;
  /** The JSON body sent, byte for byte. */
  payload: string;
  order_key: string;
  seq: number;
  /** `pending` | `delivered` | `failed` (given up after the retry schedule). */
  state: string;
  attempts: number;
  next_attempt_at: number | null;
  lease_id: string | null;
  lease_until: number | null;
  last_attempt_at: number | null;
  last_status: number | null;
  last_duration_ms: number | null;
  last_error: string | null;
  created_at: number;
  delivered_at: number | null;
}

export type WebhookEndpointRow = Selectable<WebhookEndpointsTable>;
export type WebhookDeliveryRow = Selectable<WebhookDeliveriesTable>;

export type UserRow = Selectable<UsersTable>;
export type OrganizationRow = Selectable<OrganizationsTable>;
export type TokenRow = Selectable<TokensTable>;
export type NewTokenRow = Insertable<TokensTable>;
export type TokenUpdate = Updateable<TokensTable>;
export type AuditEventRow = Selectable<AuditEventsTable>;
