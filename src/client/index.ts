import createClient, { type Client, type ClientOptions } from "openapi-fetch";
import type { components, operations, paths } from "./schema.js";

/**
 * The typed client for Tessera's HTTP API (`import { createTesseraClient } from "tessera/client"`):
 * openapi-fetch over the types openapi-typescript generates from the OpenAPI document (src/client/
 * schema.ts, `npm run generate:client`). Every call is typed by its path, method, parameters and body,
 * and answers `{ data }` or `{ error }` (a {@link Problem}).
 */

export type { components, operations, paths };

type Schemas = components["schemas"];
export type Problem = Schemas["Problem"];
export type Token = Schemas["Token"];
export type TokenWithSecret = Schemas["TokenWithSecret"];
export type TokenList = Schemas["TokenList"];
export type VerifyResult = Schemas["VerifyResult"];
/** The verdict of `POST /v1/verify` (the document's `VerifyResult`). */
export type VerifyResponse = VerifyResult;
export type VerifyCode = VerifyResult["code"];
export type AuditEvent = Schemas["AuditEvent"];
export type AuditAction = AuditEvent["action"];
export type AuditPage = Schemas["AuditPage"];
export type UsageBucket = Schemas["UsageBucket"];
export type User = Schemas["User"];
/** `GET /v1/me`: a person (`user` set), or a service or root token (`user: null`, `token` set). */
export type Me = Schemas["Me"];
export type Membership = Schemas["Membership"];
export type Organization = Schemas["Organization"];
export type OrganizationSettings = Schemas["OrganizationSettings"];
export type OrganizationList = Schemas["OrganizationList"];
export type Member = Schemas["Member"];
export type MemberList = Schemas["MemberList"];
export type Role = Member["role"];
export type ScopeCatalogue = Schemas["ScopeCatalogue"];
export type ScopeCatalogueEntry = ScopeCatalogue[number];
export type Invitation = Schemas["Invitation"];
export type InvitationList = Schemas["InvitationList"];
export type InvitationPreview = Schemas["InvitationPreview"];
export type Session = Schemas["Session"];
export type SessionList = Schemas["SessionList"];

/** A request body by operationId, e.g. `RequestBody<"createToken">`. */
export type RequestBody<Op extends keyof operations> = operations[Op] extends {
  requestBody?: { content: { "application/json": infer Body } };
}
  ? Body
  : never;

export type CreateTokenRequest = RequestBody<"createToken">;
export type UpdateTokenRequest = RequestBody<"updateToken">;
export type VerifyRequest = RequestBody<"verifyToken">;

export type TesseraClient = Client<paths>;

export interface TesseraClientOptions extends Omit<ClientOptions, "baseUrl"> {
  /** A Tessera token sent as `Authorization: Bearer …` (a service or root token for verification). */
  token?: string;
}

/** A client for the Tessera instance at `baseUrl` (e.g. `https://tessera.internal`). */
export function createTesseraClient(baseUrl: string, options: TesseraClientOptions = {}): TesseraClient {
  const { token, headers, ...rest } = options;
  return createClient<paths>({
    ...rest,
    baseUrl: baseUrl.replace(/\/+$/, ""),
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(headers as Record<string, string> | undefined) },
  });
}
