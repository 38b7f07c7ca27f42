/**
 * Wire types of the public `/v1` API, by name: every one is a named component of the server's OpenAPI
 * document or a part of one of its operations, as openapi-typescript generates them (src/client/schema.ts,
 * `npm run generate:client`). None is written by hand (test/sdk/console-client.test.ts holds the console
 * to that), so the console cannot drift from what the server sends. Dates are ISO 8601 strings.
 */
import type { components, operations } from "../../../src/client/schema";

type Schemas = components["schemas"];
type Op = keyof operations;

/** The JSON body an operation takes, by operationId: `RequestBody<"createToken">`. */
export type RequestBody<Id extends Op> = operations[Id] extends {
  requestBody?: { content: { "application/json": infer Body } };
}
  ? Body
  : never;

/** The JSON an operation answers with `Status`, by operationId: `Answer<"getMe", 200>`. */
export type Answer<Id extends Op, Status extends number> = operations[Id]["responses"] extends {
  [S in Status]: { content: { "application/json": infer Body } };
}
  ? Body
  : never;

/** The query parameters an operation takes, by operationId. */
export type QueryOf<Id extends Op> = NonNullable<operations[Id]["parameters"]["query"]>;

export type Role = Schemas["Member"]["role"];
export const ROLES = ["owner", "admin", "member", "viewer"] as const satisfies readonly Role[];

export type TokenView = Schemas["Token"];
export type TokenStatus = TokenView["status"];
export const TOKEN_STATUSES = ["active", "inactive", "expired", "suspended", "revoked"] as const satisfies readonly TokenStatus[];
export type TokenKind = TokenView["kind"];
export type Environment = TokenView["environment"];
export type RateLimit = NonNullable<TokenView["rateLimit"]>;
export type CreditsInput = Schemas["CreditsInput"];
/** The only response that carries a token's plaintext; it must never be cached or persisted. */
export type TokenWithSecret = Schemas["TokenWithSecret"];
export type TokenList = Schemas["TokenList"];

export type User = Schemas["User"];
export type Membership = Schemas["Membership"];
/**
 * `GET /v1/me` for a person (their console session, or the embed bearer, which acts as them): the
 * document's `Me` with a user. A service or root token's `Me` has `user: null`; the console never holds one.
 */
export type Me = Extract<Schemas["Me"], { user: User }>;
export type OrgSettings = Schemas["OrganizationSettings"];
export type Organization = Schemas["Organization"];
export type Member = Schemas["Member"];
export type Scope = Schemas["ScopeCatalogue"][number];

export type CreateTokenInput = RequestBody<"createToken">;
/** What `POST …/tokens/batch` can do to each token; each is also one token's own `POST …/{tokenId}/{action}`. */
export type TokenTransition = RequestBody<"batchTokens">["action"];
export type UsageBucket = Schemas["UsageBucket"];
export type AuditEvent = Schemas["AuditEvent"];
export type AuditPage = Schemas["AuditPage"];
export type Health = Answer<"getHealth", 200>;

export type Invitation = Schemas["Invitation"];
export type InvitationStatus = Invitation["status"];
export type CreateInvitationInput = RequestBody<"createInvitation">;
export type Locale = NonNullable<CreateInvitationInput["locale"]>;
/**
 * `acceptUrl` is returned once, and only when the server has no SMTP to mail it: the inviter passes
 * it on. `null` means it was mailed.
 */
export type CreatedInvitation = Answer<"createInvitation", 201>;
/** What the public `GET /v1/invitations/{token}` tells the person holding the link. */
export type InvitationPreview = Schemas["InvitationPreview"];
/** Signed in: only `token`. Not signed in: `name` and `password` create the invited account. */
export type AcceptInvitationInput = RequestBody<"acceptInvitation">;
export type AcceptedInvitation = Answer<"acceptInvitation", 200>;
/** A console session of the signed-in user (`GET /v1/me/sessions`). */
export type SessionView = Schemas["Session"];
