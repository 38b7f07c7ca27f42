import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { FastifyInstance, LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { buildApp } from "../../src/http/app.js";
import { type RunningServer, startServer } from "../../src/server.js";
import { createTessera, type Tessera } from "../../src/tessera.js";
import {
  call,
  createToken,
  headersFor,
  joinOrg,
  login,
  PASSWORD,
  rootToken,
  seedWorld,
  startTestApp,
  type TestApp,
  type World,
  withLastCharChanged,
} from "../support/harness.js";

/**
 * Web security (issue 5 point 5): security headers on pages and API responses, cookie flags, CSRF on
 * every cookie-authenticated mutating route (from the route table), HSTS and Secure cookies behind a
 * trusted TLS proxy and over real TLS (a certificate made at test time), and NODE_ENV=production
 * refusing plain HTTP altogether (426 https_required, SPEC §8) but for the health checks.
 */

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

const BASE_ENV = {
  TESSERA_LOG_LEVEL: "silent",
  TESSERA_BEARER_FAILURES_PER_MINUTE: "1000000",
  TESSERA_LOGIN_FAILURES_PER_ADDRESS: "1000000",
  // Suites share two cores: a slow moment must not turn into 503s (pressure has its own test).
  TESSERA_MAX_EVENT_LOOP_DELAY_MS: "0",
};

/** A Tessera configured from environment variables, as the CLI would, driven by `app.inject`. */
async function appFromEnv(
  env: Record<string, string>,
): Promise<{ app: FastifyInstance; tessera: Tessera; close(): Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), "tessera-websec-"));
  const config = loadConfig({
    ...BASE_ENV,
    TESSERA_DATA_DIR: dataDir,
    TESSERA_CONSOLE_DIR: join(dataDir, "no-console"),
    ...env,
  });
  const tessera = await createTessera(config);
  const app = await buildApp(tessera, { logger: false });
  await app.ready();
  return {
    app,
    tessera,
    async close() {
      await app.close();
      await tessera.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const SETUP_BODY = { email: "owner@acme.test", password: PASSWORD, name: "Olive Owner", organization: { name: "Acme" } };

interface CookieAttributes {
  name: string;
  value: string;
  attributes: Map<string, string>;
  raw: string;
}

/** Set-Cookie headers as sent, attribute names lower-cased. */
function setCookies(headers: LightMyRequestResponse["headers"] | http.IncomingHttpHeaders): CookieAttributes[] {
  const raw = headers["set-cookie"];
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [String(raw)];
  return list.map((line) => {
    const [pair, ...attrs] = line.split(";").map((s) => s.trim());
    const eq = pair!.indexOf("=");
    const attributes = new Map<string, string>();
    for (const attr of attrs) {
      const i = attr.indexOf("=");
      attributes.set((i === -1 ? attr : attr.slice(0, i)).toLowerCase(), i === -1 ? "" : attr.slice(i + 1));
    }
    return { name: pair!.slice(0, eq), value: pair!.slice(eq + 1), attributes, raw: line };
  });
}

function cookieNamed(headers: LightMyRequestResponse["headers"] | http.IncomingHttpHeaders, name: string): CookieAttributes {
  const found = setCookies(headers).find((c) => c.name === name);
  if (!found) throw new Error(`no ${name} cookie in ${JSON.stringify(headers["set-cookie"])}`);
  return found;
}

function expectSessionCookies(headers: LightMyRequestResponse["headers"] | http.IncomingHttpHeaders, secure: boolean) {
  const session = cookieNamed(headers, "tessera_session");
  expect(session.attributes.has("httponly"), session.raw).toBe(true);
  expect(session.attributes.get("samesite")?.toLowerCase(), session.raw).toBe("lax");
  expect(session.attributes.get("path"), session.raw).toBe("/");
  expect(session.attributes.has("secure"), session.raw).toBe(secure);
  expect(session.attributes.has("expires") || session.attributes.has("max-age"), session.raw).toBe(true);
  expect(session.value.length).toBeGreaterThanOrEqual(32);
  // The CSRF cookie is read by the console's script (double submit): never HttpOnly.
  const csrf = cookieNamed(headers, "tessera_csrf");
  expect(csrf.attributes.has("httponly"), csrf.raw).toBe(false);
  expect(csrf.attributes.get("samesite")?.toLowerCase(), csrf.raw).toBe("lax");
  expect(csrf.attributes.get("path"), csrf.raw).toBe("/");
  expect(csrf.attributes.has("secure"), csrf.raw).toBe(secure);
  expect(csrf.value).not.toBe(session.value);
  return { session: session.value, csrf: csrf.value };
}

const HSTS = /^max-age=\d{7,}(; *includeSubDomains)?/;

function expectSecurityHeaders(headers: LightMyRequestResponse["headers"] | http.IncomingHttpHeaders, what: string) {
  expect(headers["x-content-type-options"], what).toBe("nosniff");
  expect(headers["x-frame-options"], what).toBe("DENY");
  expect(headers["referrer-policy"], what).toMatch(/^(no-referrer|same-origin|strict-origin|strict-origin-when-cross-origin)$/);
  const csp = String(headers["content-security-policy"] ?? "");
  expect(csp, what).toMatch(/(^|;\s*)frame-ancestors 'none'(;|$)/);
  expect(headers["x-powered-by"], what).toBeUndefined();
  expect(headers.server, what).toBeUndefined();
}

/** The console's CSP: scripts only from the origin, nothing inline or evaluated, no plugins, no framing. */
function expectConsoleCsp(csp: string) {
  const directives = new Map(
    csp.split(";").map((d) => {
      const [name, ...values] = d.trim().split(/\s+/);
      return [name!, values];
    }),
  );
  expect(directives.get("default-src")).toEqual(["'self'"]);
  expect(directives.get("script-src")).toEqual(["'self'"]);
  expect(directives.get("object-src")).toEqual(["'none'"]);
  expect(directives.get("frame-ancestors")).toEqual(["'none'"]);
  expect(directives.get("base-uri")).toEqual(["'none'"]);
  expect(csp).not.toMatch(/unsafe-eval/);
  expect(directives.get("script-src")).not.toContain("'unsafe-inline'");
}

/**
 * Every method and path in Fastify's route table, from `printRoutes` (it also lists hidden routes).
 * The same reader as the authorization matrix's.
 */
function registeredRoutes(app: FastifyInstance): { method: Method; path: string }[] {
  const stack: string[] = [];
  const found = new Map<string, { method: Method; path: string }>();
  for (const line of app.printRoutes({ commonPrefix: false }).split("\n")) {
    const m = /^([│ ]*)[├└]── (.+?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    const path = stack.join("");
    for (const method of (m[3] ?? "").split(",").map((s) => s.trim())) {
      if (["GET", "POST", "PUT", "PATCH", "DELETE"].includes(method)) {
        found.set(`${method} ${path}`, { method: method as Method, path });
      }
    }
  }
  return [...found.values()];
}

interface BodySchema {
  type?: string | string[];
  properties?: Record<string, BodySchema>;
  required?: string[];
  anyOf?: BodySchema[];
  enum?: unknown[];
  format?: string;
  minimum?: number;
}

/** Smallest body the schema accepts: CSRF is checked in the handler, after validation. */
function exampleOf(schema: BodySchema | undefined): unknown {
  if (!schema) return undefined;
  if (Array.isArray(schema.type)) return exampleOf({ ...schema, type: schema.type[0] });
  if (schema.anyOf) return exampleOf(schema.anyOf[0]);
  if (schema.enum) return schema.enum[0];
  switch (schema.type) {
    case "object":
      return Object.fromEntries((schema.required ?? []).map((k) => [k, exampleOf(schema.properties?.[k])]));
    case "array":
      return [];
    case "string":
      if (schema.format === "email") return "csrf-probe@acme.test";
      if (schema.format === "date-time") return new Date(Date.now() + 86_400_000).toISOString();
      return "csrf probe value";
    case "integer":
    case "number":
      return schema.minimum ?? 1;
    case "boolean":
      return false;
    default:
      return null;
  }
}

function bodySchemas(app: FastifyInstance): Map<string, BodySchema> {
  const doc = app.swagger() as {
    paths: Record<string, Record<string, { requestBody?: { content?: Record<string, { schema: BodySchema }> } }>>;
  };
  const out = new Map<string, BodySchema>();
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const schema = op.requestBody?.content?.["application/json"]?.schema;
      if (schema) out.set(`${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ":$1")}`, schema);
    }
  }
  return out;
}

describe("security headers and cookies over plain HTTP", () => {
  let t: TestApp;
  let w: World;

  beforeAll(async () => {
    t = await startTestApp("sqlite");
    w = await seedWorld(t.app);
  });
  afterAll(() => t?.close());

  it("serves the console page with its CSP, nosniff, X-Frame-Options, Referrer-Policy and no HSTS", async () => {
    const res = await t.app.inject({ method: "GET", url: "/" });
    expect(res.statusCode).toBe(200);
    expectSecurityHeaders(res.headers, "GET /");
    expectConsoleCsp(String(res.headers["content-security-policy"]));
    expect(res.headers["strict-transport-security"]).toBeUndefined();
  });

  it.each([
    ["GET", "/v1/me", "anonymous"],
    ["GET", "/v1/orgs", "owner"],
    ["POST", "/v1/orgs", "owner"],
    ["GET", "/v1/no-such-route", "owner"],
    ["POST", "/v1/auth/login", "anonymous"],
    ["GET", "/v1/openapi.json", "anonymous"],
    ["GET", "/healthz", "anonymous"],
    ["GET", "/readyz", "anonymous"],
    ["GET", "/metrics", "anonymous"],
    ["GET", "/docs", "anonymous"],
    ["GET", "/no-such-page", "anonymous"],
  ] as const)("%s %s (%s) carries the security headers, and no HSTS over HTTP", async (method, url, who) => {
    const res = await call(t.app, method, url, who === "owner" ? w.owner.creds : null, method === "POST" ? {} : undefined);
    expectSecurityHeaders(res.headers, `${method} ${url} → ${res.status}`);
    expect(res.headers["strict-transport-security"]).toBeUndefined();
    if (url.startsWith("/v1/")) expect(res.headers["cache-control"]).toBe("no-store");
  });

  it("sets HttpOnly, SameSite=Lax, Path=/ session cookies without Secure on setup and login over HTTP", async () => {
    const fresh = await appFromEnv({});
    try {
      const setup = await fresh.app.inject({ method: "POST", url: "/v1/setup", payload: SETUP_BODY });
      expect(setup.statusCode, setup.body).toBe(201);
      expectSessionCookies(setup.headers, false);
      const login = await fresh.app.inject({
        method: "POST",
        url: "/v1/auth/login",
        payload: { email: SETUP_BODY.email, password: PASSWORD },
      });
      expect(login.statusCode).toBe(200);
      const creds = expectSessionCookies(login.headers, false);
      expect(login.headers["cache-control"]).toBe("no-store");
      // Logout expires both cookies with the same attributes.
      const logout = await fresh.app.inject({ method: "POST", url: "/v1/auth/logout", headers: headersFor(creds) });
      expect(logout.statusCode).toBe(204);
      for (const name of ["tessera_session", "tessera_csrf"]) {
        const cleared = cookieNamed(logout.headers, name);
        expect(cleared.value, cleared.raw).toBe("");
        expect(cleared.attributes.get("path")).toBe("/");
        const expires = cleared.attributes.get("expires");
        expect(
          expires === undefined ? Number(cleared.attributes.get("max-age")) : Date.parse(expires) - Date.now(),
        ).toBeLessThanOrEqual(0);
      }
      // …and the session is dead on the server, not just in the browser.
      expect((await call(fresh.app, "GET", "/v1/me", creds)).status).toBe(401);
    } finally {
      await fresh.close();
    }
  });

  it("does not set cookies on failed logins or on API reads", async () => {
    const failed = await t.app.inject({
      method: "POST",
      url: "/v1/auth/login",
      payload: { email: "owner@acme.test", password: "wrong password!" },
    });
    expect(failed.statusCode).toBe(401);
    expect(setCookies(failed.headers)).toEqual([]);
    const me = await call(t.app, "GET", "/v1/me", w.owner.creds);
    expect(me.status).toBe(200);
    expect(me.headers["set-cookie"]).toBeUndefined();
  });

  it.runIf(existsSync(resolve("console/dist/index.html")))(
    "the built console (index, client-side routes, assets) carries the page headers, and its HTML has no inline script",
    async () => {
      const withConsole = await appFromEnv({ TESSERA_CONSOLE_DIR: resolve("console/dist") });
      try {
        const index = await withConsole.app.inject({ method: "GET", url: "/" });
        expect(index.statusCode).toBe(200);
        expectSecurityHeaders(index.headers, "console /");
        expectConsoleCsp(String(index.headers["content-security-policy"]));
        // Every <script> has a src: the CSP (script-src 'self', no 'unsafe-inline') lets the console run.
        for (const tag of index.body.match(/<script\b[^>]*>/g) ?? []) expect(tag).toMatch(/\bsrc=/);
        const deep = await withConsole.app.inject({ method: "GET", url: "/orgs/x/tokens", headers: { accept: "text/html" } });
        expect(deep.statusCode).toBe(200);
        expectSecurityHeaders(deep.headers, "console deep link");
        const asset = /src="(\/assets\/[^"]+\.js)"/.exec(index.body)?.[1];
        if (asset) {
          const js = await withConsole.app.inject({ method: "GET", url: asset });
          expect(js.statusCode).toBe(200);
          expectSecurityHeaders(js.headers, asset);
        }
      } finally {
        await withConsole.close();
      }
    },
  );
});

describe("CSRF on every cookie-authenticated mutating route", () => {
  let t: TestApp;
  let w: World;

  beforeAll(async () => {
    t = await startTestApp("sqlite");
    w = await seedWorld(t.app);
  });
  afterAll(() => t?.close());

  /** Routes that create the session: nothing to forge a request with yet (the login CSRF is SameSite's job). */
  const NO_SESSION_YET = new Set([
    "POST /v1/setup",
    "POST /v1/auth/login",
    // Public, and they ignore any session: the secret (reset link) or nothing (a reset request, which is
    // answered the same for everyone and rate-limited) is all they take.
    "POST /v1/auth/password-reset",
    "POST /v1/auth/password-reset/confirm",
    // Starts an OpenID Connect sign-in: takes no session; the state it sets is what the callback checks.
    "POST /v1/auth/oidc/start",
    // Public and cookie-blind: the handoff from the embed URL is the credential (test/http/embed.test.ts).
    "POST /v1/embed/exchange",
    // Public and cookie-blind: GitHub's ECDSA signature over the body is the credential (secret-scanning.test.ts).
    "POST /v1/secret-scanning/github",
  ]);

  // Each route gets a fresh organisation joined by invitation (two sign-ins): slow on a loaded machine.
  it("covers every POST, PUT, PATCH and DELETE route: no header, a wrong one, or a forged cookie pair → 403 csrf_failed", async () => {
    const bodies = bodySchemas(t.app);
    const routes = registeredRoutes(t.app).filter((r) => r.method !== "GET" && !NO_SESSION_YET.has(`${r.method} ${r.path}`));
    expect(routes.length).toBeGreaterThanOrEqual(15);
    const checked: string[] = [];
    for (const route of routes) {
      const key = `${route.method} ${route.path}`;
      // Logout's and the session routes' positive controls end sessions: they get a session of their own.
      const ownSession = route.path === "/v1/auth/logout" || route.path.startsWith("/v1/me/");
      const owner = ownSession ? await login(t.app, "owner@acme.test") : w.owner.creds;
      // Fresh resources per route, so that one route's positive control cannot disturb another's.
      const org = await call(t.app, "POST", "/v1/orgs", owner, { name: `CSRF ${key}` });
      const orgId = org.body.id as string;
      await joinOrg(t.app, owner, orgId, { email: "member@acme.test", name: "Mia Member", role: "member" });
      const token = await createToken(t.app, owner, orgId, { name: "csrf target" });
      const invited = await call(t.app, "POST", `/v1/orgs/${orgId}/invitations`, owner, {
        email: "csrf@acme.test",
        role: "viewer",
      });
      const ids: Record<string, string> = { orgId, tokenId: token.id, userId: w.member.id, id: invited.body.invitation.id };
      const url = route.path.replace(/:(\w+)/g, (_, name: string) => {
        if (!ids[name]) throw new Error(`no id for :${name} in ${key}: teach web-security.test.ts about it`);
        return ids[name]!;
      });
      const body = exampleOf(bodies.get(key));
      const send = (headers: Record<string, string>) =>
        t.app.inject({
          method: route.method,
          url,
          headers: { ...headers, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
          ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
        });
      const cookies = (csrf = owner.csrf) => `tessera_session=${owner.session}; tessera_csrf=${csrf}`;
      const attempts: [string, Record<string, string>][] = [
        ["no x-csrf-token", { cookie: cookies() }],
        ["an empty x-csrf-token", { cookie: cookies(), "x-csrf-token": "" }],
        ["a wrong x-csrf-token", { cookie: cookies(), "x-csrf-token": withLastCharChanged(owner.csrf) }],
        ["the header without the cookie", { cookie: `tessera_session=${owner.session}`, "x-csrf-token": owner.csrf }],
        // An attacker able to plant a cookie (a sibling subdomain) still lacks the session's own token.
        ["a forged cookie and header pair", { cookie: cookies("forged-by-attacker"), "x-csrf-token": "forged-by-attacker" }],
      ];
      for (const [what, headers] of attempts) {
        const res = await send(headers);
        expect(res.statusCode, `${key} with ${what}: ${res.body}`).toBe(403);
        expect(JSON.parse(res.body).code, `${key} with ${what}`).toBe("csrf_failed");
        expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
      }
      // Positive control: the same request with the right header gets past the CSRF check.
      const ok = await send({ cookie: cookies(), "x-csrf-token": owner.csrf });
      // (The refusals above already prove the body passed schema validation, which runs first.)
      expect(ok.statusCode === 403 && JSON.parse(ok.body).code === "csrf_failed", `${key}: ${ok.body}`).toBe(false);
      // "Sign out everywhere" ended every session of the account: the next routes need a new one.
      if (key === "DELETE /v1/me/sessions") w.owner.creds = await login(t.app, "owner@acme.test");
      checked.push(key);
    }
    expect(checked).toEqual(expect.arrayContaining(["POST /v1/orgs", "POST /v1/orgs/:orgId/tokens", "POST /v1/auth/logout"]));
  }, 180_000);

  it("a refused request changes nothing; safe methods and bearer tokens need no CSRF token", async () => {
    const owner = w.owner.creds;
    const { id, secret } = await createToken(t.app, owner, w.orgId, {
      name: "csrf untouched",
      scopes: ["tokens:read", "tokens:write"],
    });
    const noCsrf = { cookie: `tessera_session=${owner.session}; tessera_csrf=${owner.csrf}` };
    const revoke = await t.app.inject({ method: "POST", url: `/v1/orgs/${w.orgId}/tokens/${id}/revoke`, headers: noCsrf });
    expect(revoke.statusCode).toBe(403);
    expect((await call(t.app, "GET", `/v1/orgs/${w.orgId}/tokens/${id}`, owner)).body.status).toBe("active");
    const read = await t.app.inject({ method: "GET", url: `/v1/orgs/${w.orgId}/tokens/${id}`, headers: noCsrf });
    expect(read.statusCode).toBe(200);
    // A bearer token is not sent by browsers on their own: no CSRF token needed.
    const bearer = await call(
      t.app,
      "PATCH",
      `/v1/orgs/${w.orgId}/tokens/${id}`,
      { bearer: secret },
      { description: "by bearer" },
    );
    expect(bearer.status, bearer.raw).toBe(200);
  });
});

describe("behind a TLS-terminating proxy (TESSERA_TRUST_PROXY)", () => {
  it("TESSERA_TRUST_PROXY=true and X-Forwarded-Proto: https → Secure cookies and HSTS", async () => {
    const proxied = await appFromEnv({ TESSERA_TRUST_PROXY: "true" });
    try {
      const https = { "x-forwarded-proto": "https" };
      const setup = await proxied.app.inject({ method: "POST", url: "/v1/setup", payload: SETUP_BODY, headers: https });
      expect(setup.statusCode, setup.body).toBe(201);
      expectSessionCookies(setup.headers, true);
      expect(setup.headers["strict-transport-security"]).toMatch(HSTS);
      const login = await proxied.app.inject({
        method: "POST",
        url: "/v1/auth/login",
        payload: { email: SETUP_BODY.email, password: PASSWORD },
        headers: https,
      });
      const creds = expectSessionCookies(login.headers, true);
      expect(login.headers["strict-transport-security"]).toMatch(HSTS);
      const page = await proxied.app.inject({ method: "GET", url: "/", headers: https });
      expect(page.headers["strict-transport-security"]).toMatch(HSTS);
      expectSecurityHeaders(page.headers, "GET / via proxy");
      const api = await call(proxied.app, "GET", "/v1/orgs", creds, undefined, https);
      expect(api.headers["strict-transport-security"]).toMatch(HSTS);
      // The same proxy forwarding a plain-HTTP client: no HSTS, no Secure.
      const plain = await proxied.app.inject({
        method: "POST",
        url: "/v1/auth/login",
        payload: { email: SETUP_BODY.email, password: PASSWORD },
        headers: { "x-forwarded-proto": "http" },
      });
      expectSessionCookies(plain.headers, false);
      expect(plain.headers["strict-transport-security"]).toBeUndefined();
    } finally {
      await proxied.close();
    }
  });

  it("ignores X-Forwarded-Proto from anyone but the trusted proxy", async () => {
    for (const trust of [undefined, "10.0.0.1"]) {
      const app = await appFromEnv(trust ? { TESSERA_TRUST_PROXY: trust } : {});
      try {
        const setup = await app.app.inject({
          method: "POST",
          url: "/v1/setup",
          payload: SETUP_BODY,
          headers: { "x-forwarded-proto": "https" },
        });
        expect(setup.statusCode).toBe(201);
        expectSessionCookies(setup.headers, false);
        expect(setup.headers["strict-transport-security"], `trust ${trust}`).toBeUndefined();
        if (trust) {
          // From the proxy's own address the header is believed.
          const viaProxy = await app.app.inject({
            method: "GET",
            url: "/healthz",
            remoteAddress: trust,
            headers: { "x-forwarded-proto": "https" },
          });
          expect(viaProxy.headers["strict-transport-security"]).toMatch(HSTS);
        }
      } finally {
        await app.close();
      }
    }
  });
});

describe("NODE_ENV=production over plain HTTP", () => {
  it("reads NODE_ENV=production as production", () => {
    expect(loadConfig({ NODE_ENV: "production" }).production).toBe(true);
    expect(loadConfig({ NODE_ENV: "development" }).production).toBe(false);
    expect(loadConfig({}).production).toBe(false);
  });

  // SPEC §8: everything but the health checks is refused over plain HTTP (426), sessions included;
  // test/http/network-edge.test.ts covers setup, login, token creation and the fast lane.
  it("refuses bearer tokens and sessions over plain HTTP (426), accepts them when the trusted proxy says HTTPS", async () => {
    const prod = await appFromEnv({ NODE_ENV: "production", TESSERA_TRUST_PROXY: "true" });
    try {
      const https = { "x-forwarded-proto": "https" };
      const setup = await prod.app.inject({ method: "POST", url: "/v1/setup", payload: SETUP_BODY, headers: https });
      expect(setup.statusCode).toBe(201);
      const orgId = JSON.parse(setup.body).organization.id as string;
      const session = expectSessionCookies(setup.headers, true);
      const creds = { session: session.session, csrf: session.csrf };
      const created = await call(
        prod.app,
        "POST",
        `/v1/orgs/${orgId}/tokens`,
        creds,
        {
          name: "prod",
          kind: "service",
          scopes: ["tokens:verify", "tokens:read"],
        },
        https,
      );
      expect(created.status).toBe(201);
      const secret = created.body.secret as string;
      const root = await rootToken(prod.tessera);
      for (const [method, url, body] of [
        ["GET", "/v1/me", undefined],
        ["GET", `/v1/orgs/${orgId}/tokens`, undefined],
        ["POST", "/v1/verify", { token: secret }],
      ] as const) {
        for (const credentials of [{ bearer: secret }, { bearer: root }, creds]) {
          const plain = await call(prod.app, method as Method, url, credentials, body);
          expect(plain.status, `${url} over HTTP: ${plain.raw}`).toBe(426);
          expect(plain.body.code).toBe("https_required");
          expect(plain.raw).not.toContain(secret);
          const viaProxy = await call(prod.app, method as Method, url, credentials, body, https);
          // Verification is for tokens (SPEC §5): a session gets past HTTPS and is then refused for what it is.
          const expected = url === "/v1/verify" && credentials === creds ? 403 : 200;
          expect(viaProxy.status, `${url} via trusted proxy: ${viaProxy.raw}`).toBe(expected);
          expect(viaProxy.headers["strict-transport-security"]).toMatch(HSTS);
        }
      }
    } finally {
      await prod.close();
    }
  });
});

/** `openssl` makes the certificate; without it the TLS tests are skipped locally but fail under CI. */
function opensslAvailable(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    if (process.env.CI === "true") throw new Error("openssl is required under CI=true for the TLS tests");
    return false;
  }
}

interface HttpsAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: any;
  raw: string;
}

describe.runIf(opensslAvailable())("TLS with TESSERA_TLS_CERT / TESSERA_TLS_KEY (certificate made at test time)", () => {
  let dir: string;
  let cert: string;
  let server: RunningServer;
  let port: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "tessera-tls-"));
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
      ],
      { stdio: "ignore" },
    );
    cert = readFileSync(join(dir, "cert.pem"), "utf8");
    server = await startServer(
      loadConfig({
        ...BASE_ENV,
        // Production, as deployed: bearer tokens must work because the connection itself is TLS.
        NODE_ENV: "production",
        TESSERA_TLS_CERT: join(dir, "cert.pem"),
        TESSERA_TLS_KEY: join(dir, "key.pem"),
        TESSERA_HOST: "127.0.0.1",
        TESSERA_PORT: "0",
        TESSERA_DATA_DIR: join(dir, "data"),
        TESSERA_CONSOLE_DIR: join(dir, "no-console"),
      }),
    );
    port = Number(new URL(server.url).port);
  });
  afterAll(async () => {
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function request(method: Method, path: string, headers: Record<string, string> = {}, body?: unknown, trustCert = true) {
    return new Promise<HttpsAnswer>((resolvePromise, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = https.request(
        {
          host: "127.0.0.1",
          servername: "localhost",
          port,
          method,
          path,
          ...(trustCert ? { ca: cert } : {}),
          rejectUnauthorized: true,
          agent: false,
          headers: {
            ...headers,
            ...(payload ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } : {}),
          },
        },
        (res) => {
          let raw = "";
          res.setEncoding("utf8");
          res.on("data", (chunk) => {
            raw += chunk;
          });
          res.on("end", () => {
            let parsed: unknown;
            try {
              parsed = raw ? JSON.parse(raw) : undefined;
            } catch {}
            resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, body: parsed, raw });
          });
        },
      );
      req.on("error", reject);
      req.end(payload);
    });
  }

  it("announces an https URL and refuses clients that do not trust the certificate", async () => {
    expect(server.url).toMatch(/^https:\/\/localhost:\d+$/);
    await expect(request("GET", "/healthz", {}, undefined, false)).rejects.toThrow(/self[- ]signed|certificate/i);
  });

  it("does not answer plain HTTP on the TLS port", async () => {
    const attempt = new Promise<number>((resolvePromise, reject) => {
      const req = http.request({ host: "127.0.0.1", port, path: "/healthz", agent: false, timeout: 3000 }, (res) => {
        res.resume();
        resolvePromise(res.statusCode ?? 0);
      });
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", reject);
      req.end();
    });
    // Node's TLS server drops the cleartext request (or answers 400 at most): never the API.
    await attempt.then(
      (status) => expect(status).toBe(400),
      (error) => expect(String(error)).toMatch(/hang up|reset|timeout|ECONNRESET|closed/i),
    );
  });

  it("sends HSTS and the security headers on pages and API responses", async () => {
    for (const path of ["/", "/healthz", "/v1/me", "/v1/openapi.json"]) {
      const res = await request("GET", path);
      expect(res.headers["strict-transport-security"], path).toMatch(HSTS);
      expectSecurityHeaders(res.headers, `https ${path}`);
    }
  });

  it("runs setup, login, a token and its verification over TLS, with Secure cookies", async () => {
    const setup = await request("POST", "/v1/setup", {}, SETUP_BODY);
    expect(setup.status, setup.raw).toBe(201);
    expectSessionCookies(setup.headers, true);
    const orgId = setup.body.organization.id as string;

    const signedIn = await request("POST", "/v1/auth/login", {}, { email: SETUP_BODY.email, password: PASSWORD });
    expect(signedIn.status, signedIn.raw).toBe(200);
    const creds = expectSessionCookies(signedIn.headers, true);

    const created = await request("POST", `/v1/orgs/${orgId}/tokens`, headersFor(creds), {
      name: "over tls",
      kind: "service",
      scopes: ["tokens:read"],
    });
    expect(created.status, created.raw).toBe(201);
    const secret = created.body.secret as string;

    // Bearer tokens work over TLS even with NODE_ENV=production.
    const me = await request("GET", "/v1/me", { authorization: `Bearer ${secret}` });
    expect(me.status, me.raw).toBe(200);
    expect(me.body.token.name).toBe("over tls");

    const root = await rootToken(server.tessera);
    const verified = await request(
      "POST",
      "/v1/verify",
      { authorization: `Bearer ${root}` },
      { token: secret, scopes: ["tokens:read"] },
    );
    expect(verified.status, verified.raw).toBe(200);
    expect(verified.body).toMatchObject({ valid: true, code: "VALID" });

    // CSRF still applies over TLS.
    const forged = await request("POST", `/v1/orgs/${orgId}/tokens`, headersFor(creds, false), { name: "forged" });
    expect(forged.status).toBe(403);
    expect(forged.body.code).toBe("csrf_failed");

    const logout = await request("POST", "/v1/auth/logout", headersFor(creds));
    expect(logout.status).toBe(204);
    for (const cleared of setCookies(logout.headers)) expect(cleared.attributes.has("secure"), cleared.raw).toBe(true);
  });

  it("refuses a certificate without its key, and a key without its certificate", () => {
    expect(() => loadConfig({ TESSERA_TLS_CERT: join(dir, "cert.pem") })).toThrow(ConfigError);
    expect(() => loadConfig({ TESSERA_TLS_KEY: join(dir, "key.pem") })).toThrow(ConfigError);
  });
});
