/**
 * Wire types of the public `/v1` API, by name: aliases of the types generated from the server's OpenAPI
 * document (src/client/schema.ts, `npm run generate:client`), never written by hand, so that the console
 * cannot drift from what the server sends. Dates are ISO 8601 strings.
 */
import type { components, operations } from "../../../src/client/schema";

type Schemas = components["schemas"];
type JsonBody<Op extends keyof operations> = operations[Op] extends {
  requestBody?: { content: { "application/json": infer Body } };
}
  ? Body
  : never;
type JsonAnswer<Op extends keyof operations, Status extends number> = operations[Op]["responses"] extends {
  [S in Status]: { content: { "application/json": infer Body } };
}
  ? Body
  : never;

export type Role = Schemas["Member"]["role"];
export const ROLES = ["owner", "admin", "member", "viewer"] as const satisfies readonly Role[];

export type TokenView = Schemas["Token"];
export type TokenStatus = TokenView["status"];
export const TOKEN_STATUSES = ["active", "inactive", "expired", "suspended", "revoked"] as const satisfies readonly TokenStatus[];
export type TokenKind = TokenView["kind"];
export type Environment = TokenView["environment"];
export type RateLimit = NonNullable<TokenView["rateLimit"]>;
/** The only response that carries a token's plaintext; it must never be cached or persisted. */
export type TokenWithSecret = Schemas["TokenWithSecret"];

export type User = Schemas["User"];
export type Membership = Schemas["Membership"];
/**
 * `GET /v1/me` as the console sees it. The API answers `user: null` for a root token; the console only
 * ever calls it with a person's session (or the embed bearer, which acts as a person), so `user` is set.
 */
export type Me = Omit<JsonAnswer<"getMe", 200>, "user"> & { user: User };
export type OrgSettings = Schemas["OrganizationSettings"];
export type Organization = Schemas["Organization"];
export type Member = Schemas["Member"];
export type Scope = Schemas["ScopeCatalogue"][number];

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export type CreateTokenInput = JsonBody<"createToken">;
export type TokenTransition = "deactivate" | "activate" | "suspend" | "resume" | "revoke";
export type UsageBucket = Schemas["UsageBucket"];
export type AuditEvent = Schemas["AuditEvent"];
export type Health = JsonAnswer<"getHealth", 200>;

export type Invitation = Schemas["Invitation"];
export type InvitationStatus = Invitation["status"];
export type CreateInvitationInput = JsonBody<"createInvitation">;
export type Locale = NonNullable<CreateInvitationInput["locale"]>;
/**
 * `acceptUrl` is returned once, and only when the server has no SMTP to mail it: the inviter passes
 * it on. `null` means it was mailed.
 */
export type CreatedInvitation = JsonAnswer<"createInvitation", 201>;
/** What the public `GET /v1/invitations/{token}` tells the person holding the link. */
export type InvitationPreview = Schemas["InvitationPreview"];
/** Signed in: only `token`. Not signed in: `name` and `password` create the invited account. */
export type AcceptInvitationInput = JsonBody<"acceptInvitation">;
export type AcceptedInvitation = JsonAnswer<"acceptInvitation", 200>;
/** A console session of the signed-in user (`GET /v1/me/sessions`). */
export type SessionView = Schemas["Session"];
