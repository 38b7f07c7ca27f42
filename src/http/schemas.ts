import { type Static, type TSchema, type TUnsafe, Type } from "typebox";
import { AUDIT_ACTIONS } from "../core/audit-actions.js";
import { ERROR_CODES } from "../core/errors.js";
import { LIMIT_NAME_PATTERN, MAX_CREDITS, MAX_LIMIT, MAX_RATE_LIMITS, MAX_WINDOW_SECONDS } from "../core/limits.js";
import { FREE_TEXT_PATTERN, NAME_PATTERN } from "../core/names.js";
import { MAX_AUDIT_RETENTION_DAYS, MAX_EXPIRY_DAYS, MAX_EXPIRY_NOTICES } from "../core/settings.js";
import { MAX_GRACE_SECONDS } from "../core/status.js";
import { MAX_DESCRIPTION_LENGTH, MAX_NAME_LENGTH } from "../core/tokens.js";
import { VERIFY_CODES } from "../core/verification.js";
import { WEBHOOK_EVENT_TYPES } from "../core/webhook-events.js";
import { MAX_PASSWORD_LENGTH } from "../services/passwords.js";

/**
 * Route schemas: request validation, response serialisation, the OpenAPI document and the generated
 * client (src/client/) come from these. A response shape that appears in more than one place is a named
 * component: declared once with {@link component}, which registers it (app.ts adds every one with
 * `addSchema`, so it is `#/components/schemas/<Name>` in the document) and answers a `$ref` to it, typed
 * as the schema it stands for. Request bodies stay inline (their validation messages depend on it).
 */

const registered: TSchema[] = [];
/** Every named component, for `app.addSchema` (see src/http/openapi.ts). */
export const COMPONENT_SCHEMAS: readonly TSchema[] = registered;

/** A named component: `name` is its key under components/schemas and the generated client's type name. */
export function component<T extends TSchema>(name: string, description: string, schema: T): TUnsafe<Static<T>> {
  if (registered.some((c) => (c as { $id?: string }).$id === name)) throw new Error(`Component ${name} is declared twice`);
  registered.push({ ...schema, $id: name, description } as TSchema);
  return Type.Unsafe<Static<T>>({ $ref: `${name}#` });
}

/** A closed set of strings as one `enum` (the generated client gets a union of literals). */
export function StringEnum<const T extends readonly string[]>(values: T, options: Record<string, unknown> = {}) {
  return Type.Unsafe<T[number]>({ type: "string", enum: [...values], ...options });
}

const strict = { additionalProperties: false } as const;
/**
 * `T | null`. For schemas of one JSON type this is `type: [T, "null"]` rather than `anyOf`: the response
 * serialiser (fast-json-stringify) writes type arrays directly but has to try every `anyOf` branch with a
 * validator at run time, which is slow on hot routes. Unions (no single type) fall back to `anyOf`.
 */
function nullable<T extends TSchema>(schema: T): TUnsafe<Static<T> | null> {
  const type = (schema as { type?: unknown }).type;
  if (typeof type === "string") return Type.Unsafe<Static<T> | null>({ ...schema, type: [type, "null"] });
  return Type.Unsafe<Static<T> | null>(Type.Union([schema, Type.Null()]));
}
const DateTime = Type.String({ format: "date-time" });
const NullableDateTime = nullable(DateTime);

/** No control characters (NUL, newlines…) in names and ids: PostgreSQL cannot store NUL, logs should not split. */
const PRINTABLE = "^[^\\u0000-\\u001f\\u007f]*$";

export const Id = Type.String({ minLength: 1, maxLength: 64, pattern: PRINTABLE });
/** Cursors are the last id of the previous page. */
const EventCursor = Type.String({ pattern: "^evt_[0-9A-Za-z]{22}$", description: "nextCursor of the previous page" });

export const OrgParams = Type.Object({ orgId: Id });
export const TokenParams = Type.Object({ orgId: Id, tokenId: Id });
export const MemberParams = Type.Object({ orgId: Id, userId: Id });

export const FieldIssueSchema = Type.Object({
  field: Type.String({ description: "Where: `name`, `scopes[2]`, `query.limit`, `params.tokenId`…" }),
  message: Type.String(),
});
/** An RFC 9457 problem: every error answer, with the media type application/problem+json. */
export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: StringEnum(ERROR_CODES, { description: 'Stable error code (docs/api.md, "Errors")' }),
    errors: Type.Optional(Type.Array(FieldIssueSchema, { description: "The failing fields (validation_failed)" })),
    limit: Type.Optional(
      Type.Object({ name: Type.String(), max: Type.Integer() }, { description: "The quota refused (quota_exceeded)" }),
    ),
    traceId: Type.Optional(Type.String()),
  },
  { $id: "Problem", description: "An RFC 9457 problem with Tessera's stable `code`" },
);

export const Role = Type.Union([Type.Literal("owner"), Type.Literal("admin"), Type.Literal("member"), Type.Literal("viewer")]);
export const Email = Type.String({ format: "email", maxLength: 320 });
export const Password = Type.String({ minLength: 1, maxLength: MAX_PASSWORD_LENGTH });
/** Names shown to other people: no control, bidi-override or zero-width characters (src/core/names.ts). */
export const Name = Type.String({ minLength: 1, maxLength: MAX_NAME_LENGTH, pattern: NAME_PATTERN });
export const Scope = Type.String({ minLength: 1, maxLength: 130 });

export const UserSchema = component(
  "User",
  "A person with a console account",
  Type.Object({ id: Type.String(), email: Type.String(), name: Type.String() }),
);
export const MembershipSchema = component(
  "Membership",
  "An organisation a person belongs to, with their role",
  Type.Object({ orgId: Type.String(), orgName: Type.String(), role: Role }),
);
/** The token a bearer caller is using (`GET /v1/me`). */
const CallerToken = Type.Object({
  id: Type.String(),
  name: Type.String(),
  kind: Type.String(),
  orgId: nullable(Type.String()),
  scopes: Type.Array(Type.String()),
});
/**
 * `GET /v1/me`: a person always has a user (their console session, or their personal or embed token);
 * only a service or root token has none, and then the token is always there. Two shapes, so that a
 * client holding a person's session gets a non-null user from the document rather than by assertion.
 */
export const MeSchema = component(
  "Me",
  "The caller: a person (console session or their token) with their memberships, or a service or root token without a user",
  Type.Union([
    Type.Object({ user: UserSchema, memberships: Type.Array(MembershipSchema), token: Type.Optional(CallerToken) }),
    Type.Object({ user: Type.Null(), memberships: Type.Array(MembershipSchema), token: CallerToken }),
  ]),
);

const SettingsProperties = {
  tokenPrefix: Type.String({ pattern: "^[a-z]{2,8}$" }),
  defaultExpiryDays: nullable(Type.Integer({ minimum: 1, maximum: MAX_EXPIRY_DAYS })),
  maxExpiryDays: nullable(Type.Integer({ minimum: 1, maximum: MAX_EXPIRY_DAYS })),
  requireExpiry: Type.Boolean(),
  membersCanCreateTokens: Type.Boolean(),
  revokeRequiresSuspension: Type.Boolean(),
  membersCanSeeTokens: Type.Boolean(),
  auditRetentionDays: nullable(Type.Integer({ minimum: 1, maximum: MAX_AUDIT_RETENTION_DAYS })),
  expiryNoticeDays: Type.Array(Type.Integer({ minimum: 1, maximum: MAX_EXPIRY_DAYS }), {
    maxItems: MAX_EXPIRY_NOTICES,
    uniqueItems: true,
    description: "Days before expiry at which `token.expiring` is sent (default [7, 1])",
  }),
  staleAfterDays: nullable(Type.Integer({ minimum: 1, maximum: MAX_EXPIRY_DAYS })),
  autoDeactivateUnusedDays: nullable(Type.Integer({ minimum: 1, maximum: MAX_EXPIRY_DAYS })),
  onLeak: Type.Union([Type.Literal("revoke"), Type.Literal("suspend"), Type.Literal("notify")]),
  rateLimits: Type.Array(
    Type.Object(
      {
        name: Type.String({ pattern: LIMIT_NAME_PATTERN }),
        limit: Type.Integer({ minimum: 1, maximum: MAX_LIMIT }),
        windowSeconds: Type.Integer({ minimum: 1, maximum: MAX_WINDOW_SECONDS }),
      },
      strict,
    ),
    {
      maxItems: MAX_RATE_LIMITS,
      description: "Limits shared by all the organisation's tokens, answered as `org:<name>` at verification",
    },
  ),
};
export const SettingsSchema = component(
  "OrganizationSettings",
  "An organisation's token policy",
  Type.Object(SettingsProperties),
);
export const SettingsPatch = Type.Partial(Type.Object(SettingsProperties, strict));

export const OrgSchema = component(
  "Organization",
  "An organisation, your role in it and its settings (also flattened at the top level)",
  Type.Object({
    id: Type.String(),
    name: Type.String(),
    createdAt: DateTime,
    updatedAt: DateTime,
    role: nullable(Role),
    settings: SettingsSchema,
    ...SettingsProperties,
  }),
);
export const OrgList = component(
  "OrganizationList",
  "A page of organisations",
  Type.Object({ items: Type.Array(OrgSchema), nextCursor: nullable(Type.String()) }),
);
export const OrgPatchBody = Type.Object(
  {
    name: Type.Optional(Name),
    settings: Type.Optional(SettingsPatch),
    ...Type.Partial(Type.Object(SettingsProperties)).properties,
  },
  strict,
);

export const MemberSchema = component(
  "Member",
  "A member of an organisation and their role",
  Type.Object({
    id: Type.String(),
    userId: Type.String(),
    email: Type.String(),
    name: Type.String(),
    role: Role,
    createdAt: DateTime,
  }),
);
export const MemberList = component("MemberList", "An organisation's members", Type.Object({ items: Type.Array(MemberSchema) }));

export const CatalogueEntrySchema = Type.Object({
  name: Type.String(),
  description: Type.String(),
  kind: Type.Union([Type.Literal("management"), Type.Literal("product")]),
});
export const ScopeCatalogue = component(
  "ScopeCatalogue",
  "The scopes tokens of an organisation may hold: Tessera's management scopes and the product's own",
  Type.Array(CatalogueEntrySchema),
);

export const RateLimitSchema = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: MAX_LIMIT }),
    windowSeconds: Type.Integer({ minimum: 1, maximum: MAX_WINDOW_SECONDS }),
  },
  strict,
);
export const NamedRateLimitSchema = component(
  "RateLimit",
  "At most `limit` units of cost per fixed window of `windowSeconds` (aligned to the epoch)",
  Type.Object(
    {
      name: Type.String({
        pattern: LIMIT_NAME_PATTERN,
        description: "Unique per token (or organisation); the legacy single limit is `default`",
      }),
      limit: Type.Integer({ minimum: 1, maximum: MAX_LIMIT }),
      windowSeconds: Type.Integer({ minimum: 1, maximum: MAX_WINDOW_SECONDS }),
    },
    strict,
  ),
);
const RateLimits = Type.Array(NamedRateLimitSchema, { maxItems: MAX_RATE_LIMITS });
const CreditRefillSchema = Type.Object(
  {
    amount: Type.Integer({ minimum: 1, maximum: MAX_CREDITS }),
    interval: Type.Union([Type.Literal("day"), Type.Literal("month")], {
      description: "At the first verification of each new UTC day (month) the balance is set to `amount`",
    }),
  },
  strict,
);
export const CreditsInputSchema = component(
  "CreditsInput",
  "Uses a token has left: each verification takes its `cost` (default 1); at 0 it answers USAGE_EXCEEDED",
  Type.Object(
    { remaining: Type.Integer({ minimum: 0, maximum: MAX_CREDITS }), refill: Type.Optional(nullable(CreditRefillSchema)) },
    strict,
  ),
);
export const CreditsSchema = component(
  "Credits",
  "A token's credits: the balance (written behind from the live counter, at most a few seconds old), its refill and when it last refilled",
  Type.Object({
    remaining: Type.Integer(),
    refill: nullable(Type.Object({ amount: Type.Integer(), interval: Type.Union([Type.Literal("day"), Type.Literal("month")]) })),
    refilledAt: NullableDateTime,
  }),
);
/**
 * A JSON object with any keys. Not `Type.Record(Type.String(), …)`: that becomes
 * `patternProperties: {"^.*$": …}`, and `.` does not match a line terminator, so keys holding a newline
 * (or U+2028/U+2029) were accepted on the way in but silently dropped by the response serialiser; and
 * the key schema (its maxLength) was never applied. `propertyNames` checks every key.
 */
const AnyObject = <T extends object = Record<string, unknown>>(options: Record<string, unknown> = {}) =>
  Type.Unsafe<T>({ type: "object", additionalProperties: true, ...options });
export const Metadata = AnyObject({ maxProperties: 100, propertyNames: { maxLength: 200 } });
const TokenStatus = Type.Union([
  Type.Literal("active"),
  Type.Literal("inactive"),
  Type.Literal("expired"),
  Type.Literal("suspended"),
  Type.Literal("revoked"),
]);
const Environment = Type.Union([Type.Literal("live"), Type.Literal("test")]);
const Kind = Type.Union([Type.Literal("personal"), Type.Literal("service"), Type.Literal("root")]);
const Description = nullable(Type.String({ maxLength: MAX_DESCRIPTION_LENGTH, pattern: FREE_TEXT_PATTERN }));
const AllowedIps = Type.Array(Type.String({ maxLength: 64 }), { maxItems: 100 });
const Scopes = Type.Array(Scope, { maxItems: 100 });

export const CreateTokenBody = Type.Object(
  {
    name: Name,
    description: Type.Optional(Description),
    kind: Type.Optional(Type.Union([Type.Literal("personal"), Type.Literal("service")])),
    issuedFor: Type.Optional(nullable(Type.String({ maxLength: MAX_NAME_LENGTH, pattern: NAME_PATTERN }))),
    scopes: Type.Optional(Scopes),
    expiresAt: Type.Optional(NullableDateTime),
    expiresInDays: Type.Optional(nullable(Type.Integer({ minimum: 1, maximum: MAX_EXPIRY_DAYS }))),
    environment: Type.Optional(Environment),
    allowedIps: Type.Optional(AllowedIps),
    rateLimit: Type.Optional(nullable(RateLimitSchema)),
    rateLimits: Type.Optional(RateLimits),
    credits: Type.Optional(nullable(CreditsInputSchema)),
    metadata: Type.Optional(Metadata),
  },
  strict,
);
export type CreateTokenBody = Static<typeof CreateTokenBody>;

export const UpdateTokenBody = Type.Object(
  {
    name: Type.Optional(Name),
    description: Type.Optional(Description),
    scopes: Type.Optional(Scopes),
    allowedIps: Type.Optional(AllowedIps),
    rateLimit: Type.Optional(
      Type.Unsafe<{ limit: number; windowSeconds: number } | null>({
        ...nullable(RateLimitSchema),
        description: "Older clients: the limit named `default` (null removes it); the others are kept",
      }),
    ),
    rateLimits: Type.Optional(
      Type.Unsafe<Static<typeof RateLimits>>({ ...RateLimits, description: "Replaces every named limit ([] removes them all)" }),
    ),
    credits: Type.Optional(nullable(CreditsInputSchema)),
    metadata: Type.Optional(Metadata),
    expiresAt: Type.Optional(
      Type.Unsafe<string | null>({
        ...NullableDateTime,
        description:
          "A new expiry (future), or null for never. Shortening is always allowed; extending only within the organisation's policy",
      }),
    ),
  },
  strict,
);

export const RegenerateBody = Type.Object(
  {
    graceSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_GRACE_SECONDS })),
    expiresAt: Type.Optional(NullableDateTime),
    expiresInDays: Type.Optional(nullable(Type.Integer({ minimum: 1, maximum: MAX_EXPIRY_DAYS }))),
  },
  strict,
);

export const RevokeBody = Type.Object({ reason: Type.Optional(Type.String({ maxLength: 500 })) }, strict);

const ActorRef = Type.Object({
  id: nullable(Type.String()),
  name: nullable(Type.String()),
  email: Type.Optional(nullable(Type.String())),
});

export const TokenViewSchema = component(
  "Token",
  "A token as everyone but its holder sees it: never the secret",
  Type.Object({
    id: Type.String(),
    name: Type.String(),
    description: nullable(Type.String()),
    kind: Kind,
    issuedFor: nullable(Type.String()),
    ownerId: nullable(Type.String()),
    createdBy: nullable(ActorRef),
    createdAt: DateTime,
    prefix: Type.String(),
    maskedToken: Type.String(),
    scopes: Type.Array(Type.String()),
    environment: Environment,
    status: TokenStatus,
    expiresAt: NullableDateTime,
    lastUsedAt: NullableDateTime,
    lastUsedIp: nullable(Type.String()),
    usageCount: Type.Integer(),
    suspendedAt: NullableDateTime,
    deactivatedAt: NullableDateTime,
    revokedAt: NullableDateTime,
    revokedBy: nullable(ActorRef),
    revokeReason: nullable(Type.String()),
    allowedIps: Type.Array(Type.String()),
    rateLimit: nullable(
      Type.Object(
        { limit: Type.Integer(), windowSeconds: Type.Integer() },
        { description: "Older clients: the limit named `default`, if any" },
      ),
    ),
    rateLimits: Type.Array(NamedRateLimitSchema),
    credits: nullable(CreditsSchema),
    metadata: AnyObject(),
    regeneratedAt: NullableDateTime,
    previousSecretExpiresAt: NullableDateTime,
    leakedAt: NullableDateTime,
    leakUrl: nullable(Type.String({ description: "Where a secret scanner found the token (with `leakedAt`)" })),
    orgId: nullable(Type.String()),
    updatedAt: DateTime,
  }),
);

export const TokenWithSecret = component(
  "TokenWithSecret",
  "A token and its plaintext secret: the only answers that ever carry it (create, regenerate)",
  Type.Object({
    token: TokenViewSchema,
    secret: Type.String({ description: "The token's plaintext. Shown only in this response; store it now." }),
  }),
);
export const TokenList = component(
  "TokenList",
  "A page of tokens; pass nextCursor as cursor for the next one (null: last page)",
  Type.Object({ items: Type.Array(TokenViewSchema), nextCursor: nullable(Type.String()) }),
);

export const TokenListQuery = Type.Object(
  {
    q: Type.Optional(
      Type.String({ maxLength: 100, description: "Name contains (case-insensitive), or display prefix starts with" }),
    ),
    status: Type.Optional(TokenStatus),
    kind: Type.Optional(Kind),
    ownerId: Type.Optional(Id),
    createdById: Type.Optional(Id),
    unusedForDays: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 3650, description: "Never used, or not used for this many days" }),
    ),
    sort: Type.Optional(
      Type.Union([Type.Literal("createdAt"), Type.Literal("lastUsedAt"), Type.Literal("expiresAt"), Type.Literal("name")]),
    ),
    order: Type.Optional(Type.Union([Type.Literal("desc"), Type.Literal("asc")])),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    cursor: Type.Optional(
      Type.String({ minLength: 1, maxLength: 400, description: "nextCursor of the previous page (same filters and sort)" }),
    ),
  },
  strict,
);

export const BatchBody = Type.Object(
  {
    action: Type.Union([
      Type.Literal("revoke"),
      Type.Literal("suspend"),
      Type.Literal("resume"),
      Type.Literal("deactivate"),
      Type.Literal("activate"),
    ]),
    ids: Type.Array(Id, { minItems: 1, maxItems: 100 }),
    reason: Type.Optional(Type.String({ maxLength: 500 })),
  },
  strict,
);
export const BatchResult = Type.Object({
  results: Type.Array(
    Type.Object({
      id: Type.String(),
      ok: Type.Boolean(),
      status: Type.Optional(TokenStatus),
      problem: Type.Optional(ProblemSchema),
    }),
  ),
});

export const PageQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: "nextCursor of the previous page" })),
  },
  strict,
);
export const TokenRequestSchema = Type.Object({
  at: DateTime,
  code: Type.String({ description: "The verification's code (VALID, REVOKED, INSUFFICIENT_SCOPE, …)" }),
  ip: nullable(Type.String()),
  userAgent: nullable(Type.String()),
  scopes: Type.Array(Type.String(), { description: "The scopes the verify call asked for" }),
});
export const TokenRequestPage = Type.Object({ items: Type.Array(TokenRequestSchema), nextCursor: nullable(Type.String()) });

export const UsageQuery = Type.Object({
  from: Type.Optional(DateTime),
  to: Type.Optional(DateTime),
  interval: Type.Optional(Type.Union([Type.Literal("hour"), Type.Literal("day")])),
});
export const UsageBucket = component(
  "UsageBucket",
  "Verifications of a token in one hour or day: successful (ok) and refused (denied)",
  Type.Object({ start: DateTime, ok: Type.Integer(), denied: Type.Integer() }),
);

export const AuditQuerySchema = Type.Object({
  action: Type.Optional(Type.String({ maxLength: 100 })),
  actorId: Type.Optional(Id),
  targetId: Type.Optional(Id),
  from: Type.Optional(DateTime),
  to: Type.Optional(DateTime),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
  cursor: Type.Optional(EventCursor),
});

export const AuditExportQuery = Type.Object(
  {
    format: Type.Union([Type.Literal("csv"), Type.Literal("ndjson")]),
    action: Type.Optional(Type.String({ maxLength: 100 })),
    actorId: Type.Optional(Id),
    targetId: Type.Optional(Id),
    from: Type.Optional(DateTime),
    to: Type.Optional(DateTime),
  },
  strict,
);

export const AuditEventSchema = component(
  "AuditEvent",
  "One audit event (SPEC §6), with its place in the organisation's hash chain",
  Type.Object({
    id: Type.String(),
    seq: Type.Integer({ description: "Position in the organisation's hash chain" }),
    prevHash: Type.String({ description: "The previous event's hash (64 zeros for the first)" }),
    hash: Type.String({ description: "SHA-256(prevHash ‖ canonical event), hex" }),
    at: DateTime,
    orgId: nullable(Type.String()),
    action: StringEnum(AUDIT_ACTIONS),
    actor: Type.Object({ type: Type.String(), id: nullable(Type.String()), name: nullable(Type.String()) }),
    target: nullable(Type.Object({ type: Type.String(), id: Type.String(), name: nullable(Type.String()) })),
    ip: nullable(Type.String()),
    userAgent: nullable(Type.String()),
    traceId: Type.String(),
    details: AnyObject(),
  }),
);
export const AuditPage = component(
  "AuditPage",
  "A page of audit events, newest first; pass nextCursor as cursor for the next one (null: last page)",
  Type.Object({ items: Type.Array(AuditEventSchema), nextCursor: nullable(Type.String()) }),
);

export const VerifyBody = Type.Object(
  {
    token: Type.String({ maxLength: 4096 }),
    scopes: Type.Optional(Type.Array(Scope, { maxItems: 100 })),
    ip: Type.Optional(nullable(Type.String({ anyOf: [{ format: "ipv4" }, { format: "ipv6" }] }))),
    userAgent: Type.Optional(
      nullable(Type.String({ maxLength: 512, description: "The end client's User-Agent, kept in the token's request history" })),
    ),
    cost: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: MAX_LIMIT,
        description:
          "Units this verification takes from every rate limit and from the credits (default 1; 0 checks without taking)",
      }),
    ),
  },
  strict,
);

export const VerifyResponse = component(
  "VerifyResult",
  "The verdict on a token (SPEC §5): a refusal is a 200 with valid false and its code",
  Type.Object({
    valid: Type.Boolean(),
    code: StringEnum(VERIFY_CODES),
    token: Type.Optional(
      Type.Object({
        id: Type.String(),
        orgId: nullable(Type.String()),
        name: Type.String(),
        kind: Kind,
        ownerId: nullable(Type.String()),
        scopes: Type.Array(Type.String()),
        environment: Environment,
        expiresAt: NullableDateTime,
        metadata: AnyObject(),
      }),
    ),
    ratelimit: Type.Optional(
      nullable(
        Type.Object(
          { limit: Type.Integer(), remaining: Type.Integer(), resetAt: DateTime },
          { description: "The first of `ratelimits`, for older clients" },
        ),
      ),
    ),
    ratelimits: Type.Optional(
      Type.Array(Type.Object({ name: Type.String(), limit: Type.Integer(), remaining: Type.Integer(), resetAt: DateTime }), {
        description: "Every limit that applied: the token's by name, then its organisation's as `org:<name>`",
      }),
    ),
    credits: Type.Optional(Type.Object({ remaining: Type.Integer() }, { description: "Present when the token has credits" })),
  }),
);

export { Type };

/* Invitations, password reset and change, sessions (docs/api.md, "Invitations, passwords and sessions"). */

export const InvitationStatus = Type.Union([
  Type.Literal("pending"),
  Type.Literal("accepted"),
  Type.Literal("revoked"),
  Type.Literal("expired"),
]);
export const InvitationSchema = component(
  "Invitation",
  "An invitation to join an organisation with a role",
  Type.Object({
    id: Type.String(),
    orgId: Type.String(),
    email: Type.String(),
    role: Role,
    status: InvitationStatus,
    invitedBy: Type.Object({ id: nullable(Type.String()), name: nullable(Type.String()) }),
    createdAt: DateTime,
    expiresAt: DateTime,
    acceptedAt: NullableDateTime,
  }),
);
export const InvitationParams = Type.Object({ orgId: Id, id: Id });
/** An invitation or reset secret as sent back by the console (`tsi_live_…`, `tsp_live_…`); checked by the service. */
export const LinkSecret = Type.String({ minLength: 1, maxLength: 200, pattern: PRINTABLE });
export const InvitationPreviewSchema = component(
  "InvitationPreview",
  "What a pending invitation is for, as its link's holder sees it",
  Type.Object({
    organization: Type.Object({ id: Type.String(), name: Type.String() }),
    email: Type.String(),
    role: Role,
    invitedBy: Type.Object({ name: nullable(Type.String()) }),
    expiresAt: DateTime,
  }),
);
export const SessionSchema = component(
  "Session",
  "One of your console sessions",
  Type.Object({
    id: Type.String(),
    createdAt: DateTime,
    expiresAt: DateTime,
    lastSeenAt: NullableDateTime,
    ip: nullable(Type.String()),
    userAgent: nullable(Type.String()),
    current: Type.Boolean(),
  }),
);
export const MailLocaleSchema = Type.Union([Type.Literal("en"), Type.Literal("it")]);
export const SessionList = component(
  "SessionList",
  "Your open console sessions, newest first",
  Type.Object({ items: Type.Array(SessionSchema) }),
);
export const InvitationList = component(
  "InvitationList",
  "An organisation's invitations: pending first, newest first",
  Type.Object({ items: Type.Array(InvitationSchema) }),
);

/** A webhook event type that an endpoint may subscribe to (`webhook.test` is sent by test sends only). */
const WebhookEventType = StringEnum(
  WEBHOOK_EVENT_TYPES.filter((t) => t !== "webhook.test"),
  { description: "An event type (SPEC §10)" },
);
const WebhookUrl = Type.String({
  minLength: 1,
  maxLength: 2048,
  pattern: PRINTABLE,
  description: "http:// or https://; loopback and private addresses are refused (TESSERA_WEBHOOK_ALLOW_PRIVATE)",
});
const WebhookEventTypes = Type.Array(WebhookEventType, {
  maxItems: WEBHOOK_EVENT_TYPES.length,
  description: "The types sent to this endpoint; empty = every type",
});

export const WebhookParams = Type.Object({ orgId: Id, id: Id });
export const DeliveryParams = Type.Object({ orgId: Id, id: Id });

export const WebhookSchema = component(
  "Webhook",
  "A webhook endpoint (its secret is shown once, at creation)",
  Type.Object({
    id: Type.String(),
    orgId: Type.String(),
    url: Type.String(),
    description: Type.Union([Type.String(), Type.Null()]),
    eventTypes: WebhookEventTypes,
    enabled: Type.Boolean(),
    status: StringEnum(["active", "failing"] as const, {
      description: "failing: a delivery was given up after the retry schedule; active again at the next success",
    }),
    failingSince: NullableDateTime,
    createdAt: DateTime,
    updatedAt: DateTime,
  }),
);
export const WebhookList = component(
  "WebhookList",
  "An organisation's webhook endpoints",
  Type.Object({ items: Type.Array(WebhookSchema) }),
);
export const WebhookWithSecret = component(
  "WebhookWithSecret",
  "A new endpoint and its signing secret, shown this once",
  Type.Object({
    webhook: WebhookSchema,
    secret: Type.String({ description: "whsec_…: the Standard Webhooks signing secret; never shown again" }),
  }),
);
export const CreateWebhookBody = Type.Object(
  {
    url: WebhookUrl,
    description: Type.Optional(Description),
    eventTypes: Type.Optional(WebhookEventTypes),
    enabled: Type.Optional(Type.Boolean()),
  },
  strict,
);
export const UpdateWebhookBody = Type.Object(
  {
    url: Type.Optional(WebhookUrl),
    description: Type.Optional(Description),
    eventTypes: Type.Optional(WebhookEventTypes),
    enabled: Type.Optional(Type.Boolean()),
  },
  strict,
);
export const DeliverySchema = component(
  "WebhookDelivery",
  "One event for one endpoint, with its last attempt",
  Type.Object({
    id: Type.String(),
    webhookId: Type.String(),
    eventId: Type.String({ description: "The webhook-id header: the same on every attempt" }),
    type: Type.String(),
    state: StringEnum(["pending", "delivered", "failed"] as const, { description: "failed: given up after the retry schedule" }),
    attempts: Type.Integer(),
    lastAttemptAt: NullableDateTime,
    lastStatus: Type.Union([Type.Integer(), Type.Null()], { description: "The endpoint's HTTP status; null when none came" }),
    lastDurationMs: Type.Union([Type.Integer(), Type.Null()]),
    lastError: Type.Union([Type.String(), Type.Null()]),
    nextAttemptAt: NullableDateTime,
    createdAt: DateTime,
    deliveredAt: NullableDateTime,
  }),
);
export const DeliveryList = component(
  "WebhookDeliveryList",
  "An endpoint's deliveries, newest first",
  Type.Object({ items: Type.Array(DeliverySchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }),
);
export const DeliveryQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    cursor: Type.Optional(Type.String({ pattern: "^dlv_[0-9A-Za-z]{22}$", description: "nextCursor of the previous page" })),
    state: Type.Optional(StringEnum(["pending", "delivered", "failed"] as const)),
  },
  strict,
);
