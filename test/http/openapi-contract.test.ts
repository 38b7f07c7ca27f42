import { execFile } from "node:child_process";
import { generateKeyPairSync, sign } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientFiles, DOCUMENT_FILE, SCHEMA_FILE } from "../../scripts/client-files.js";
import { generateToken, hashToken } from "../../src/core/token-format.js";
import { PASSWORD, rootToken, startTestApp, type TestApp, withLastCharChanged } from "../support/harness.js";
import { type Answer, ResponseValidator } from "../support/openapi-validator.js";

type Json = Record<string, any>;
const ROOT = join(import.meta.dirname, "..", "..");
const METHODS = ["get", "put", "post", "delete", "patch", "head", "options"];

let t: TestApp;
let doc: Json;
/** GitHub's secret scanning keys, served locally: the flow sends a signed alert (SPEC §11). */
const githubKey = generateKeyPairSync("ec", { namedCurve: "P-256" });
let keysServer: Server;

beforeAll(async () => {
  keysServer = createServer((_req, res) => {
    res.setHeader("content-type", "application/json");
    const key = githubKey.publicKey.export({ type: "spki", format: "pem" }).toString();
    res.end(JSON.stringify({ public_keys: [{ key_identifier: "flow-key", key, is_current: true }] }));
  });
  await new Promise<void>((resolve) => keysServer.listen(0, "127.0.0.1", resolve));
  const keysPort = (keysServer.address() as AddressInfo).port;
  t = await startTestApp("sqlite", { githubKeysUrl: `http://127.0.0.1:${keysPort}/keys` });
  doc = JSON.parse(JSON.stringify(t.app.swagger()));
});
afterAll(async () => {
  await t?.close();
  await new Promise((resolve) => keysServer?.close(resolve));
});

const operations = () =>
  Object.entries(doc.paths as Json).flatMap(([path, item]) =>
    Object.entries(item as Json)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, op: op as Json })),
  );

describe("the OpenAPI document", () => {
  it("gives every operation a unique operationId, a summary, a description and tags", () => {
    const ops = operations();
    expect(ops.length).toBeGreaterThan(40);
    const missing = ops.flatMap(({ key, op }) =>
      ["operationId", "summary", "description", "tags"]
        .filter((field) => !op[field] || op[field].length === 0)
        .map((f) => `${key}: ${f}`),
    );
    expect(missing, 'add them to the route\'s schema (docs/api.md, "Adding a route")').toEqual([]);
    const ids = ops.map(({ op }) => op.operationId);
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
  });

  it("names its shared shapes and documents every problem as application/problem+json", () => {
    const schemas = Object.keys(doc.components.schemas);
    for (const name of [
      "Problem",
      "Token",
      "TokenWithSecret",
      "TokenList",
      "Organization",
      "Member",
      "AuditEvent",
      "VerifyResult",
    ]) {
      expect(schemas).toContain(name);
    }
    expect(schemas.filter((name) => /^def-\d+$/.test(name))).toEqual([]);
    const text = JSON.stringify(doc);
    // The token's shape is written once: everything else refers to it.
    expect(text.split('"maskedToken":{').length - 1).toBe(1);
    for (const { key, op } of operations()) {
      for (const [status, response] of Object.entries(op.responses as Json)) {
        if (Number(status) < 400 || key === "GET /readyz") continue;
        const resolved = response.$ref ? doc.components.responses[response.$ref.split("/").pop()] : response;
        expect(Object.keys(resolved.content), `${key} ${status}`).toEqual(["application/problem+json"]);
      }
    }
  });

  it("declares no credentials on public operations and the CSRF header on cookie-authenticated writes", () => {
    const byKey = Object.fromEntries(operations().map(({ key, op }) => [key, op]));
    for (const key of [
      "GET /healthz",
      "GET /readyz",
      "GET /metrics",
      "POST /v1/setup",
      "POST /v1/auth/login",
      "POST /v1/auth/password-reset",
      "POST /v1/auth/password-reset/confirm",
      "GET /v1/invitations/{token}",
    ]) {
      expect(byKey[key]?.security, key).toEqual([]);
    }
    expect(byKey["POST /v1/invitations/accept"]?.security).toEqual([{}, { session: [] }]);
    const csrf = (op: Json) => (op.parameters ?? []).some((p: Json) => p.$ref === "#/components/parameters/CsrfToken");
    expect(csrf(byKey["POST /v1/orgs/{orgId}/tokens"]!)).toBe(true);
    expect(csrf(byKey["POST /v1/invitations/accept"]!)).toBe(true);
    expect(csrf(byKey["GET /v1/orgs/{orgId}/tokens"]!)).toBe(false);
    expect(csrf(byKey["POST /v1/auth/login"]!)).toBe(false);
    expect(byKey["POST /v1/orgs/{orgId}/tokens/{tokenId}/revoke"]?.requestBody.required).toBe(false);
    expect(byKey["POST /v1/orgs/{orgId}/tokens/{tokenId}/regenerate"]?.requestBody.required).toBe(false);
    expect(Object.keys(byKey["GET /metrics"]?.responses["200"].content)).toEqual(["text/plain"]);
  });

  it("is the checked-in document, and the checked-in client types are generated from it (npm run generate:client)", async () => {
    const files = await clientFiles(doc);
    expect(
      readFileSync(DOCUMENT_FILE, "utf8") === files.document,
      "src/client/openapi.json is stale: npm run generate:client",
    ).toBe(true);
    expect(readFileSync(SCHEMA_FILE, "utf8") === files.schema, "src/client/schema.ts is stale: npm run generate:client").toBe(
      true,
    );
  });

  it("passes Redocly's recommended rules with no error and no warning", async () => {
    const { stdout } = await promisify(execFile)(join(ROOT, "node_modules", ".bin", "redocly"), ["lint", "--format=json"], {
      cwd: ROOT,
      env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
    }).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? "" }));
    const report = JSON.parse(stdout) as { totals: { errors: number; warnings: number }; problems: Json[] };
    const problems = report.problems.map((p) => `${p.ruleId}: ${p.message} (${p.location?.[0]?.pointer})`);
    expect(problems).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
  }, 60_000);
});

/**
 * A real server (fast lane included) driven over HTTP through every operation, every verification code
 * and the refusals the document promises; every answer is checked against the document.
 */
describe("every answer of a full flow matches the document", () => {
  let base: string;
  let v: ResponseValidator;

  beforeAll(async () => {
    await t.app.listen({ port: 0, host: "127.0.0.1" });
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    v = new ResponseValidator(doc);
  });

  type Creds = { cookie: string; csrf: string } | { bearer: string } | null;
  interface Sent {
    creds?: Creds;
    body?: unknown;
    raw?: string;
    contentType?: string;
    csrf?: boolean;
  }

  async function send(method: string, url: string, sent: Sent = {}): Promise<Answer & { json: any; cookies: string[] }> {
    const headers: Record<string, string> = {};
    const { creds } = sent;
    if (creds && "bearer" in creds) headers.authorization = `Bearer ${creds.bearer}`;
    if (creds && "cookie" in creds) {
      headers.cookie = creds.cookie;
      if (sent.csrf !== false) headers["x-csrf-token"] = creds.csrf;
    }
    const payload = sent.raw ?? (sent.body !== undefined ? JSON.stringify(sent.body) : undefined);
    if (payload !== undefined) headers["content-type"] = sent.contentType ?? "application/json";
    const res = await fetch(`${base}${url}`, { method, headers, body: payload });
    const answer = { status: res.status, headers: res.headers, body: await res.text() };
    v.check(method, url, answer);
    let json: any;
    try {
      json = JSON.parse(answer.body);
    } catch {
      json = undefined;
    }
    return { ...answer, json, cookies: res.headers.getSetCookie() };
  }

  function session(cookies: string[]): { cookie: string; csrf: string } {
    const pairs = cookies.map((c) => c.split(";")[0]!);
    const csrf = pairs.find((p) => p.startsWith("tessera_csrf="))!.split("=")[1]!;
    return { cookie: pairs.join("; "), csrf };
  }

  async function signIn(email: string, password = PASSWORD) {
    const res = await send("POST", "/v1/auth/login", { body: { email, password } });
    expect(res.status).toBe(200);
    return session(res.cookies);
  }

  it("has a validator that sees an undocumented status, media type, enum value or missing field", () => {
    const probe = new ResponseValidator(doc);
    const json = (ct: string) => new Headers({ "content-type": ct });
    probe.check("POST", "/v1/verify", { status: 200, headers: json("application/json"), body: '{"valid":true,"code":"NOPE"}' });
    probe.check("POST", "/v1/verify", { status: 418, headers: json("application/json"), body: "{}" });
    probe.check("GET", "/v1/orgs/o/tokens/t", { status: 404, headers: json("application/json"), body: "{}" });
    probe.check("GET", "/v1/orgs/o/tokens/t", { status: 200, headers: json("application/json"), body: '{"id":1}' });
    probe.check("GET", "/v1/nothing", { status: 200, headers: json("application/json"), body: "{}" });
    expect(probe.exchanges.map((x) => x.mismatches.length > 0)).toEqual([true, true, true, true, true]);
    probe.check("POST", "/v1/verify", { status: 200, headers: json("application/json"), body: '{"valid":true,"code":"VALID"}' });
    expect(probe.exchanges.at(-1)!.mismatches).toEqual([]);
  });

  it("drives every operation and every verification code with 0 mismatches", async () => {
    const codes = new Set<string>();
    // Operations and health.
    expect((await send("GET", "/healthz")).status).toBe(200);
    expect((await send("GET", "/readyz")).status).toBe(200);
    expect((await send("GET", "/metrics")).status).toBe(200);
    // Sign-in methods; without a configured OpenID provider the OIDC routes answer 404 (the OIDC suite
    // drives them against a real provider).
    expect((await send("GET", "/v1/auth/methods")).json).toMatchObject({ password: true, oidc: null });
    expect((await send("POST", "/v1/auth/oidc/start", { body: {} })).status).toBe(404);
    expect((await send("GET", "/v1/auth/oidc/callback?code=c&state=s")).status).toBe(404);

    // First run, sign-in, who am I.
    expect((await send("POST", "/v1/setup", { body: { email: "x" } })).status).toBe(400);
    const setup = await send("POST", "/v1/setup", {
      body: { email: "owner@flow.test", password: PASSWORD, name: "Olive", organization: { name: "Flow" } },
    });
    expect(setup.status).toBe(201);
    const orgId = setup.json.organization.id as string;
    const owner = session(setup.cookies);
    expect(
      (
        await send("POST", "/v1/setup", {
          body: { email: "b@flow.test", password: PASSWORD, name: "B", organization: { name: "B" } },
        })
      ).status,
    ).toBe(409);
    expect((await send("POST", "/v1/auth/login", { body: { email: "owner@flow.test", password: "wrong" } })).status).toBe(401);
    expect((await send("GET", "/v1/me", { creds: owner })).status).toBe(200);
    expect((await send("GET", "/v1/me")).status).toBe(401);

    // Organisations.
    const second = await send("POST", "/v1/orgs", { creds: owner, body: { name: "Second" } });
    expect(second.status).toBe(201);
    expect((await send("GET", "/v1/orgs?limit=1", { creds: owner })).status).toBe(200);
    expect((await send("GET", "/v1/orgs?limit=0", { creds: owner })).status).toBe(400);
    expect((await send("GET", `/v1/orgs/${orgId}`, { creds: owner })).status).toBe(200);
    expect((await send("PATCH", `/v1/orgs/${orgId}`, { creds: owner, body: { name: "Flow Inc" } })).status).toBe(200);
    expect((await send("GET", "/v1/orgs/org_nothing", { creds: owner })).status).toBe(404);
    expect((await send("POST", "/v1/orgs", { creds: owner, body: { name: "No CSRF" }, csrf: false })).status).toBe(403);
    expect(
      (await send("POST", "/v1/orgs", { creds: owner, raw: "name=x", contentType: "application/x-www-form-urlencoded" })).status,
    ).toBe(415);

    // Invitations and members.
    const invite = await send("POST", `/v1/orgs/${orgId}/invitations`, {
      creds: owner,
      body: { email: "ada@flow.test", role: "admin" },
    });
    expect(invite.status).toBe(201);
    const secret = /#token=([^&\s]+)/.exec(invite.json.acceptUrl)![1]!;
    expect((await send("GET", `/v1/orgs/${orgId}/invitations`, { creds: owner })).status).toBe(200);
    expect((await send("GET", `/v1/invitations/${secret}`)).status).toBe(200);
    const accepted = await send("POST", "/v1/invitations/accept", { body: { token: secret, name: "Ada", password: PASSWORD } });
    expect(accepted.status).toBe(200);
    const adaId = accepted.json.user.id as string;
    expect(
      (await send("POST", "/v1/invitations/accept", { body: { token: secret, name: "Ada", password: PASSWORD } })).status,
    ).toBe(409);
    const other = await send("POST", `/v1/orgs/${orgId}/invitations`, {
      creds: owner,
      body: { email: "bo@flow.test", role: "viewer" },
    });
    expect((await send("DELETE", `/v1/orgs/${orgId}/invitations/${other.json.invitation.id}`, { creds: owner })).status).toBe(
      204,
    );
    expect((await send("DELETE", `/v1/orgs/${orgId}/invitations/${other.json.invitation.id}`, { creds: owner })).status).toBe(
      409,
    );
    expect((await send("GET", `/v1/orgs/${orgId}/members`, { creds: owner })).status).toBe(200);
    expect((await send("PATCH", `/v1/orgs/${orgId}/members/${adaId}`, { creds: owner, body: { role: "member" } })).status).toBe(
      200,
    );

    // Scopes.
    expect((await send("GET", `/v1/orgs/${orgId}/scopes`, { creds: owner })).status).toBe(200);
    const scopes = [{ name: "messages:send" }, { name: "messages:read", description: "Read messages" }];
    expect((await send("PUT", `/v1/orgs/${orgId}/scopes`, { creds: owner, body: scopes })).status).toBe(200);

    // Tokens.
    const tokens = `/v1/orgs/${orgId}/tokens`;
    const create = async (body: Json, creds: Creds = owner) => {
      const res = await send("POST", tokens, { creds, body: { name: "flow", ...body } });
      expect(res.status, res.body).toBe(201);
      return res.json as { token: Json; secret: string };
    };
    expect((await send("POST", tokens, { creds: owner, body: { name: "" } })).status).toBe(400);
    expect((await send("POST", tokens, { creds: owner, raw: JSON.stringify({ name: "x".repeat(70_000) }) })).status).toBe(413);
    const main = await create({ scopes: ["messages:send"], kind: "service" });
    const id = main.token.id as string;
    expect((await send("GET", `${tokens}?limit=10`, { creds: owner })).status).toBe(200);
    expect((await send("GET", `${tokens}/${id}`, { creds: owner })).status).toBe(200);
    expect((await send("GET", `${tokens}/tok_missing`, { creds: owner })).status).toBe(404);
    expect((await send("PATCH", `${tokens}/${id}`, { creds: owner, body: { description: "flow" } })).status).toBe(200);
    expect((await send("GET", `${tokens}/${id}/usage?interval=day`, { creds: owner })).status).toBe(200);
    expect((await send("GET", `${tokens}/${id}/audit`, { creds: owner })).status).toBe(200);
    expect((await send("GET", `/v1/orgs/${orgId}/audit?limit=100`, { creds: owner })).status).toBe(200);
    expect((await send("POST", `${tokens}/${id}/activate`, { creds: owner })).status).toBe(409);
    for (const step of ["deactivate", "activate", "suspend", "resume"]) {
      expect((await send("POST", `${tokens}/${id}/${step}`, { creds: owner })).status, step).toBe(200);
    }
    expect((await send("POST", `${tokens}/${id}/regenerate`, { creds: owner })).status).toBe(200);
    const doomed = await create({});
    expect((await send("POST", `${tokens}/${doomed.token.id}/revoke`, { creds: owner })).status).toBe(200);
    const deleted = await create({});
    expect((await send("DELETE", `${tokens}/${deleted.token.id}`, { creds: owner })).status).toBe(200);

    // Bearer refusals: wrong token, IP allowlist, insufficient scope, rate limit.
    expect((await send("GET", "/v1/me", { creds: { bearer: "tsr_live_nothing" } })).status).toBe(401);
    const fenced = await create({ allowedIps: ["10.0.0.0/8"] });
    expect((await send("GET", "/v1/me", { creds: { bearer: fenced.secret } })).status).toBe(403);
    const narrow = await create({ scopes: ["messages:send"] });
    expect((await send("GET", `${tokens}`, { creds: { bearer: narrow.secret } })).status).toBe(403);
    const throttled = await create({ rateLimit: { limit: 1, windowSeconds: 60 } });
    await send("GET", "/v1/me", { creds: { bearer: throttled.secret } });
    expect((await send("GET", "/v1/me", { creds: { bearer: throttled.secret } })).status).toBe(429);

    // Root tokens.
    const root = { bearer: await rootToken(t.tessera) };
    expect((await send("GET", "/v1/root-tokens", { creds: root })).status).toBe(200);
    // Who am I, as each kind of caller: `Me` is a person (with a user) or a token without one.
    const asRoot = await send("GET", "/v1/me", { creds: root });
    expect(asRoot.status).toBe(200);
    expect(asRoot.json).toMatchObject({ user: null, memberships: [] });
    const service = await create({ kind: "service", scopes: ["messages:send"] });
    const asService = await send("GET", "/v1/me", { creds: { bearer: service.secret } });
    expect(asService.status).toBe(200);
    expect(asService.json).toMatchObject({ user: null, token: { id: service.token.id, kind: "service" } });
    const asPerson = await send("GET", "/v1/me", { creds: owner });
    expect(asPerson.json.user).toMatchObject({ email: "owner@flow.test" });
    const spare = await t.tessera.tokens.createRoot("spare", { ip: null, userAgent: "test", traceId: `${"0".repeat(31)}2` });
    expect((await send("POST", `/v1/root-tokens/${spare.token.id}/revoke`, { creds: root })).status).toBe(200);
    expect(
      (await send("POST", `/v1/root-tokens/${spare.token.id}/revoke`, { creds: root, body: { reason: "again" } })).status,
    ).toBe(409);

    // Every verification code, through the fast lane (a plain JSON POST) and Fastify's route.
    const verify = async (token: string, extra: Json = {}) => {
      const res = await send("POST", "/v1/verify", { creds: root, body: { token, ...extra } });
      expect(res.status, res.body).toBe(200);
      codes.add(res.json.code);
      return res.json.code as string;
    };
    const fresh = await create({ scopes: ["messages:send"] });
    expect(await verify(fresh.secret, { scopes: ["messages:send"] })).toBe("VALID");
    expect(await verify(withLastCharChanged(fresh.secret))).toBe("MALFORMED");
    const lost = await create({});
    await t.tessera.store.db.deleteFrom("token_secrets").where("hash", "=", hashToken(lost.secret)).execute();
    expect(await verify(lost.secret)).toBe("NOT_FOUND");
    expect(await verify(fresh.secret, { scopes: ["messages:read"] })).toBe("INSUFFICIENT_SCOPE");
    expect(await verify(fenced.secret, { ip: "192.168.0.1" })).toBe("IP_NOT_ALLOWED");
    const limited = await create({ rateLimit: { limit: 1, windowSeconds: 60 } });
    await verify(limited.secret);
    expect(await verify(limited.secret)).toBe("RATE_LIMITED");
    // Named limits, credits and cost (issue 13): create, PATCH, the organisation's limits, USAGE_EXCEEDED.
    const budgeted = await create({
      rateLimits: [{ name: "burst", limit: 100, windowSeconds: 1 }],
      credits: { remaining: 2, refill: { amount: 2, interval: "month" } },
    });
    expect(await verify(budgeted.secret, { cost: 2 })).toBe("VALID");
    expect(await verify(budgeted.secret)).toBe("USAGE_EXCEEDED");
    const repatched = await send("PATCH", `${tokens}/${budgeted.token.id}`, {
      creds: owner,
      body: { rateLimits: [{ name: "burst", limit: 50, windowSeconds: 1 }], credits: { remaining: 5 } },
    });
    expect(repatched.status).toBe(200);
    expect(
      (
        await send("PATCH", `/v1/orgs/${orgId}`, {
          creds: owner,
          body: { rateLimits: [{ name: "plan", limit: 1000, windowSeconds: 60 }] },
        })
      ).status,
    ).toBe(200);
    expect(await verify(budgeted.secret, { cost: 0 })).toBe("VALID");
    expect((await send("PATCH", `/v1/orgs/${orgId}`, { creds: owner, body: { rateLimits: [] } })).status).toBe(200);
    expect(await verify(doomed.secret)).toBe("REVOKED");
    const paused = await create({});
    await send("POST", `${tokens}/${paused.token.id}/suspend`, { creds: owner });
    expect(await verify(paused.secret)).toBe("SUSPENDED");
    await send("POST", `${tokens}/${paused.token.id}/resume`, { creds: owner });
    await send("POST", `${tokens}/${paused.token.id}/deactivate`, { creds: owner });
    expect(await verify(paused.secret)).toBe("INACTIVE");
    const ada = await signIn("ada@flow.test");
    const adas = await create({}, ada);
    await t.tessera.store.db.updateTable("users").set({ disabled_at: Date.now() }).where("id", "=", adaId).execute();
    t.tessera.bus.publish({ type: "member", orgId, userId: adaId });
    expect(await verify(adas.secret)).toBe("OWNER_DISABLED");
    await t.tessera.store.db.updateTable("users").set({ disabled_at: null }).where("id", "=", adaId).execute();
    t.tessera.bus.publish({ type: "member", orgId, userId: adaId });
    const expiring = await create({ expiresAt: new Date(Date.now() + 1500).toISOString() });
    await new Promise((resolve) => setTimeout(resolve, 1600));
    expect(await verify(expiring.secret)).toBe("EXPIRED");
    expect((await send("POST", "/v1/verify", { creds: root, body: { token: 5 } })).status).toBe(400);
    expect((await send("POST", "/v1/verify", { creds: root, raw: JSON.stringify({ token: "x".repeat(30_000) }) })).status).toBe(
      413,
    );
    expect((await send("POST", "/v1/verify", { creds: { bearer: narrow.secret }, body: { token: fresh.secret } })).status).toBe(
      403,
    );

    // Governance: a bulk action, request history, the audit export in both formats.
    const bulk = await create({});
    const batch = await send("POST", `${tokens}/batch`, { creds: owner, body: { action: "suspend", ids: [bulk.token.id] } });
    expect(batch.json.results).toMatchObject([{ id: bulk.token.id, ok: true, status: "suspended" }]);
    expect(
      (await send("POST", `${tokens}/batch`, { creds: owner, body: { action: "explode", ids: [bulk.token.id] } })).status,
    ).toBe(400);
    expect((await send("GET", `${tokens}/${id}/requests?limit=10`, { creds: owner })).status).toBe(200);
    expect((await send("GET", `${tokens}/${id}/requests?nope=1`, { creds: owner })).status).toBe(400);
    for (const format of ["csv", "ndjson"]) {
      expect((await send("GET", `/v1/orgs/${orgId}/audit/export?format=${format}`, { creds: owner })).status).toBe(200);
    }
    expect((await send("GET", `/v1/orgs/${orgId}/audit/export?format=xml`, { creds: owner })).status).toBe(400);

    // Webhooks (SPEC §10): an endpoint (TEST-NET address: public, never answers), its log, a test send, a retry.
    const hooks = `/v1/orgs/${orgId}/webhooks`;
    const hook = await send("POST", hooks, {
      creds: owner,
      body: { url: "https://192.0.2.1/hook", eventTypes: ["token.revoked"] },
    });
    expect(hook.status).toBe(201);
    expect((await send("POST", hooks, { creds: owner, body: { url: "http://127.0.0.1/hook" } })).status).toBe(400);
    expect((await send("GET", hooks, { creds: owner })).json.items).toHaveLength(1);
    const hookId = hook.json.webhook.id as string;
    expect((await send("PATCH", `${hooks}/${hookId}`, { creds: owner, body: { description: "flow" } })).status).toBe(200);
    const sent = await send("POST", `${hooks}/${hookId}/test`, { creds: owner });
    expect(sent.status).toBe(202);
    expect((await send("GET", `${hooks}/${hookId}/deliveries?limit=10`, { creds: owner })).status).toBe(200);
    const retried = await send("POST", `${hooks}/deliveries/${sent.json.id}/retry`, { creds: owner });
    expect([202, 409]).toContain(retried.status);
    expect((await send("POST", `${hooks}/deliveries/dlv_missing/retry`, { creds: owner })).status).toBe(404);
    expect((await send("DELETE", `${hooks}/${hookId}`, { creds: owner })).status).toBe(204);
    expect((await send("DELETE", `${hooks}/${hookId}`, { creds: owner })).status).toBe(404);

    // Embedding: the host mints a session with the root token; the page exchanges the handoff once.
    const minted = await send("POST", "/v1/embed/sessions", {
      creds: root,
      body: {
        user: { externalId: "host-user-1", email: "host-user@flow.test", name: "Host User" },
        organization: { externalId: "host-org-1", name: "Host Org" },
        role: "admin",
      },
    });
    expect(minted.status).toBe(201);
    const handoff = /#handoff=([A-Za-z0-9_-]+)$/.exec(minted.json.url)![1]!;
    expect((await send("POST", "/v1/embed/exchange", { body: { handoff } })).status).toBe(200);
    expect((await send("POST", "/v1/embed/exchange", { body: { handoff } })).status).toBe(401);
    expect((await send("POST", "/v1/embed/sessions", { creds: owner, body: {} })).status).toBe(400);

    // GitHub secret scanning: a signed alert is answered per token; unsigned or malformed is refused.
    const alert = JSON.stringify([
      { token: generateToken("tsr", "live").secret, type: "tessera", url: "https://github.com/o/r/blob/x/f", source: "content" },
    ]);
    const scanned = await fetch(`${base}/v1/secret-scanning/github`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "github-public-key-identifier": "flow-key",
        "github-public-key-signature": sign("sha256", Buffer.from(alert), githubKey.privateKey).toString("base64"),
      },
      body: alert,
    });
    const scannedBody = await scanned.text();
    v.check("POST", "/v1/secret-scanning/github", { status: scanned.status, headers: scanned.headers, body: scannedBody });
    expect(scanned.status, scannedBody).toBe(200);
    expect(JSON.parse(scannedBody)[0].label).toBe("false_positive");
    expect((await send("POST", "/v1/secret-scanning/github", { raw: alert })).status).toBe(401);
    expect((await send("POST", "/v1/secret-scanning/github", { body: { token: 1 } })).status).toBe(400);

    // Passwords and sessions (Ada's: the owner's session stays for the rest).
    expect((await send("POST", "/v1/auth/password-reset", { body: { email: "ada@flow.test" } })).status).toBe(202);
    expect(
      (await send("POST", "/v1/auth/password-reset/confirm", { body: { token: "tsp_live_nothing", password: PASSWORD } })).status,
    ).toBe(404);
    const adaAgain = await signIn("ada@flow.test");
    expect((await send("PUT", "/v1/me/locale", { creds: ada, body: { locale: "it" } })).status).toBe(204);
    expect((await send("PUT", "/v1/me/locale", { creds: ada, body: { locale: "fr" } })).status).toBe(400);
    const listed = await send("GET", "/v1/me/sessions", { creds: ada });
    expect(listed.status).toBe(200);
    const otherSession = (listed.json.items as Json[]).find((s) => !s.current)!;
    expect((await send("DELETE", `/v1/me/sessions/${otherSession.id}`, { creds: ada })).status).toBe(204);
    expect((await send("DELETE", `/v1/me/sessions/${otherSession.id}`, { creds: ada })).status).toBe(404);
    expect(
      (await send("POST", "/v1/me/password", { creds: ada, body: { currentPassword: PASSWORD, newPassword: `${PASSWORD}!` } }))
        .status,
    ).toBe(204);
    expect((await send("DELETE", "/v1/me/sessions", { creds: ada })).status).toBe(204);
    void adaAgain;
    const last = await signIn("ada@flow.test", `${PASSWORD}!`);
    expect((await send("POST", "/v1/auth/logout", { creds: last })).status).toBe(204);
    expect((await send("DELETE", `/v1/orgs/${orgId}/members/${adaId}`, { creds: owner })).status).toBe(204);

    const mismatches = v.mismatches();
    expect(mismatches, `${mismatches.length} answers differ from the document:\n${mismatches.join("\n")}`).toEqual([]);
    const hit = new Set(v.exchanges.map((x) => x.operation));
    expect(
      v.operations.filter((op) => !hit.has(op) && !op.startsWith("HEAD ")),
      "operations the flow never called",
    ).toEqual([]);
    const documentedCodes = doc.components.schemas.VerifyResult.properties.code.enum as string[];
    expect(
      documentedCodes.filter((code) => !codes.has(code)),
      "verification codes the flow never saw",
    ).toEqual([]);
    const statuses = new Set(v.exchanges.map((x) => x.status));
    expect([400, 401, 403, 404, 409, 413, 415, 429].filter((s) => !statuses.has(s))).toEqual([]);
    expect(v.exchanges.length).toBeGreaterThan(90);
  }, 120_000);
});
