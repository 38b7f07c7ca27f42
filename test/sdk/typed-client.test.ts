import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createTesseraClient,
  type Me,
  type Problem,
  type Token,
  type TokenWithSecret,
  type VerifyCode,
  type VerifyResponse,
} from "../../src/client/index.js";
import { dialects } from "../support/databases.js";
import { createToken, rootToken, seedWorld, startTestApp, type TestApp } from "../support/harness.js";

/** What `tessera/client` gives an integrator: typed calls by path, typed answers and problems, over real HTTP. */
describe.each(await dialects())("the generated client (tessera/client) on %s", (dialect) => {
  let t: TestApp;
  let baseUrl: string;
  let orgId: string;
  let admin: string;
  let root: string;

  beforeAll(async () => {
    t = await startTestApp(dialect);
    const world = await seedWorld(t.app);
    orgId = world.orgId;
    root = await rootToken(t.tessera);
    await t.app.listen({ port: 0, host: "127.0.0.1" });
    baseUrl = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}/`;
    // The integrator's backend holds a service token of the organisation.
    const service = await createToken(t.app, world.owner.creds, orgId, {
      name: "automation",
      kind: "service",
      scopes: ["tokens:read", "tokens:write", "tokens:verify"],
    });
    admin = service.secret;
  });
  afterAll(() => t?.close());

  it("creates, verifies and revokes a token with named types", async () => {
    const client = createTesseraClient(baseUrl, { token: admin });
    const created = await client.POST("/v1/orgs/{orgId}/tokens", {
      params: { path: { orgId } },
      body: { name: "billing worker", kind: "service", scopes: ["tokens:read"], expiresInDays: 30 },
    });
    expect(created.response.status).toBe(201);
    const issued: TokenWithSecret = created.data!;
    const token: Token = issued.token;
    expect(token).toMatchObject({ name: "billing worker", kind: "service", status: "active" });

    const verified = await client.POST("/v1/verify", { body: { token: issued.secret, scopes: ["tokens:read"] } });
    const verdict: VerifyResponse = verified.data!;
    const code: VerifyCode = verdict.code;
    expect(code).toBe("VALID");
    expect(verdict.token?.id).toBe(token.id);

    const revoked = await client.POST("/v1/orgs/{orgId}/tokens/{tokenId}/revoke", {
      params: { path: { orgId, tokenId: token.id } },
      body: { reason: "rotated" },
    });
    expect(revoked.data?.status).toBe("revoked");
    // Revoke takes no body at all too.
    const again = await createTesseraClient(baseUrl, { token: root }).POST("/v1/orgs/{orgId}/tokens/{tokenId}/revoke", {
      params: { path: { orgId, tokenId: token.id } },
    });
    expect(again.response.status).toBe(409);

    const after = await client.POST("/v1/verify", { body: { token: issued.secret } });
    expect(after.data).toMatchObject({ valid: false, code: "REVOKED" });
  });

  it("answers refusals as typed problems", async () => {
    const client = createTesseraClient(baseUrl, { token: admin });
    const missing = await client.GET("/v1/orgs/{orgId}/tokens/{tokenId}", {
      params: { path: { orgId, tokenId: "tok_doesnotexist" } },
    });
    expect(missing.data).toBeUndefined();
    const problem: Problem = missing.error!;
    expect(problem).toMatchObject({ status: 404, code: "not_found" });
    expect(missing.response.headers.get("content-type")).toMatch(/^application\/problem\+json/);

    const anonymous = await createTesseraClient(baseUrl).GET("/v1/orgs/{orgId}/tokens", { params: { path: { orgId } } });
    expect(anonymous.error?.code).toBe("unauthorized");
  });

  it("tells a service token from a person by Me.user", async () => {
    const service = await createTesseraClient(baseUrl, { token: admin }).GET("/v1/me");
    expect(service.response.status).toBe(200);
    // openapi-fetch's answer type leaves out properties typed exactly `null` (openapi-ts/openapi-typescript#2717):
    // the document's own `Me` names the token caller's `user: null`.
    const caller = service.data as Me;
    expect(caller.user).toBeNull();
    if (caller.user === null) expect(caller.token).toMatchObject({ kind: "service", orgId, scopes: expect.any(Array) });
    const asRoot = await createTesseraClient(baseUrl, { token: root }).GET("/v1/me");
    expect(asRoot.data).toMatchObject({ user: null, memberships: [], token: { kind: "root", orgId: null } });
  });
});
