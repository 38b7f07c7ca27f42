import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance, LightMyRequestResponse } from "fastify";
import { type Config, loadConfig } from "../../src/config.js";
import { buildApp } from "../../src/http/app.js";
import { createTessera, type Tessera } from "../../src/tessera.js";
import { createPostgresDatabase, type DialectName } from "./databases.js";

export interface TestApp {
  dialect: DialectName;
  app: FastifyInstance;
  tessera: Tessera;
  dataDir: string;
  databaseUrl: string | undefined;
  close(): Promise<void>;
}

/** A whole Tessera (real storage of the given dialect) with its Fastify app, driven by `app.inject`. */
export async function startTestApp(dialect: DialectName, overrides: Partial<Config> = {}): Promise<TestApp> {
  const dataDir = mkdtempSync(join(tmpdir(), "tessera-test-"));
  const database = dialect === "postgres" ? await createPostgresDatabase() : undefined;
  const config = loadConfig(
    // Suites send many deliberate failures from one address; brute-force limits have their own tests.
    {
      TESSERA_DATA_DIR: dataDir,
      TESSERA_LOG_LEVEL: "silent",
      TESSERA_BEARER_FAILURES_PER_MINUTE: "1000000",
      TESSERA_LOGIN_FAILURES_PER_ADDRESS: "1000000",
      TESSERA_LOGIN_FAILURES_PER_ACCOUNT: "1000000",
      // Parallel suites share a few cores: a slow moment must not turn into 503s (pressure has its own test).
      TESSERA_MAX_EVENT_LOOP_DELAY_MS: "0",
    },
    { databaseUrl: database?.url, consoleDir: join(dataDir, "no-console"), ...overrides },
  );
  const tessera = await createTessera(config);
  // The notice scheduler (SPEC §10) writes audit events by itself within 30 s of start: suites that count
  // events would see them at random. Only suites that ask for it (a noticeIntervalMs override) keep it;
  // test/http/notices.test.ts drives schedulers with its own clock.
  if (overrides.noticeIntervalMs === undefined) await tessera.notices.close();
  const app = await buildApp(tessera, { logger: false });
  await app.ready();
  return {
    dialect,
    app,
    tessera,
    dataDir,
    databaseUrl: database?.url,
    async close() {
      await app.close();
      await tessera.close();
      await database?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export const PASSWORD = "correct horse battery staple";

/** The same string with its last character changed: always different, whatever that character was. */
export function withLastCharChanged(s: string): string {
  return `${s.slice(0, -1)}${s.endsWith("x") ? "y" : "x"}`;
}

/** How a test authenticates a request: a console session (cookies + CSRF) or a bearer token. */
export type Credentials = { session: string; csrf: string } | { bearer: string } | null;

export function headersFor(creds: Credentials, withCsrf = true): Record<string, string> {
  if (!creds) return {};
  if ("bearer" in creds) return { authorization: `Bearer ${creds.bearer}` };
  return {
    cookie: `tessera_session=${creds.session}; tessera_csrf=${creds.csrf}`,
    ...(withCsrf ? { "x-csrf-token": creds.csrf } : {}),
  };
}

export interface Call {
  status: number;
  body: any;
  headers: LightMyRequestResponse["headers"];
  raw: string;
}

/** One JSON request through `app.inject`. */
export async function call(
  app: FastifyInstance,
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE",
  url: string,
  creds: Credentials = null,
  body?: unknown,
  extraHeaders: Record<string, string> = {},
): Promise<Call> {
  const res = await app.inject({
    method,
    url,
    headers: { ...headersFor(creds), ...(body !== undefined ? { "content-type": "application/json" } : {}), ...extraHeaders },
    ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
  });
  let parsed: unknown;
  try {
    parsed = res.body ? JSON.parse(res.body) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.statusCode, body: parsed, headers: res.headers, raw: res.body };
}

function cookieValue(res: LightMyRequestResponse, name: string): string {
  const cookie = res.cookies.find((c) => c.name === name);
  if (!cookie) throw new Error(`no ${name} cookie in response`);
  return cookie.value;
}

export async function login(
  app: FastifyInstance,
  email: string,
  password = PASSWORD,
): Promise<{ session: string; csrf: string }> {
  const res = await app.inject({ method: "POST", url: "/v1/auth/login", payload: { email, password } });
  if (res.statusCode !== 200) throw new Error(`login ${email} → ${res.statusCode} ${res.body}`);
  return { session: cookieValue(res, "tessera_session"), csrf: cookieValue(res, "tessera_csrf") };
}

export interface World {
  orgId: string;
  otherOrgId: string;
  owner: { id: string; creds: { session: string; csrf: string } };
  admin: { id: string; creds: { session: string; csrf: string } };
  member: { id: string; creds: { session: string; csrf: string } };
  member2: { id: string; creds: { session: string; csrf: string } };
  viewer: { id: string; creds: { session: string; csrf: string } };
  otherOwner: { id: string; creds: { session: string; csrf: string } };
}

/**
 * Two organisations: Acme with an owner, an admin, two members and a viewer; Globex with its own owner.
 * Every account's password is PASSWORD.
 */
export async function seedWorld(app: FastifyInstance): Promise<World> {
  const setup = await app.inject({
    method: "POST",
    url: "/v1/setup",
    payload: { email: "owner@acme.test", password: PASSWORD, name: "Olive Owner", organization: { name: "Acme" } },
  });
  if (setup.statusCode !== 201) throw new Error(`setup → ${setup.statusCode} ${setup.body}`);
  const orgId = JSON.parse(setup.body).organization.id as string;
  const owner = { id: JSON.parse(setup.body).user.id as string, creds: await login(app, "owner@acme.test") };
  const add = (email: string, name: string, role: string, org = orgId, by: Credentials = owner.creds) =>
    joinOrg(app, by, org, { email, name, role });
  const admin = await add("admin@acme.test", "Adam Admin", "admin");
  const member = await add("member@acme.test", "Mia Member", "member");
  const member2 = await add("member2@acme.test", "Max Member", "member");
  const viewer = await add("viewer@acme.test", "Vic Viewer", "viewer");
  const other = await call(app, "POST", "/v1/orgs", owner.creds, { name: "Globex" });
  if (other.status !== 201) throw new Error(`create org → ${other.status} ${other.raw}`);
  const otherOrgId = other.body.id as string;
  // Globex's owner is a separate person: add them, make them owner, and have Olive leave.
  const otherOwner = await add("owner@globex.test", "Gus Globex", "owner", otherOrgId);
  const leave = await call(app, "DELETE", `/v1/orgs/${otherOrgId}/members/${owner.id}`, otherOwner.creds);
  if (leave.status !== 204) throw new Error(`leave → ${leave.status} ${leave.raw}`);
  return { orgId, otherOrgId, owner, admin, member, member2, viewer, otherOwner };
}

/** The secret in an accept or reset link (`…#token=<secret>`). */
export function linkSecret(url: string): string {
  const match = /#token=([^&\s]+)/.exec(url);
  if (!match) throw new Error(`no token in link ${url}`);
  return match[1]!;
}

/**
 * A person joins an organisation the only way there is (SPEC §2): `by` invites the email with a role and
 * the person accepts through HTTP: a new account with PASSWORD, or an existing one signed in first.
 * Returns the person's id and a fresh session. Needs an instance without SMTP (the link is returned).
 */
export async function joinOrg(
  app: FastifyInstance,
  by: Credentials,
  orgId: string,
  person: { email: string; name: string; role: string },
): Promise<{ id: string; creds: { session: string; csrf: string } }> {
  const invited = await call(app, "POST", `/v1/orgs/${orgId}/invitations`, by, { email: person.email, role: person.role });
  if (invited.status !== 201 || typeof invited.body.acceptUrl !== "string") {
    throw new Error(`invite ${person.email} → ${invited.status} ${invited.raw}`);
  }
  const token = linkSecret(invited.body.acceptUrl);
  const fresh = await call(app, "POST", "/v1/invitations/accept", null, { token, name: person.name, password: PASSWORD });
  if (fresh.status === 200) return { id: fresh.body.user.id as string, creds: await login(app, person.email) };
  if (fresh.status !== 409) throw new Error(`accept ${person.email} → ${fresh.status} ${fresh.raw}`);
  const creds = await login(app, person.email);
  const accepted = await call(app, "POST", "/v1/invitations/accept", creds, { token });
  if (accepted.status !== 200) throw new Error(`accept ${person.email} signed in → ${accepted.status} ${accepted.raw}`);
  return { id: accepted.body.user.id as string, creds };
}

/** Creates a token through the API and returns its view and secret. */
export async function createToken(
  app: FastifyInstance,
  creds: Credentials,
  orgId: string,
  body: Record<string, unknown> = {},
): Promise<{ id: string; secret: string; token: any }> {
  const res = await call(app, "POST", `/v1/orgs/${orgId}/tokens`, creds, { name: "test token", ...body });
  if (res.status !== 201) throw new Error(`create token → ${res.status} ${res.raw}`);
  return { id: res.body.token.id, secret: res.body.secret, token: res.body.token };
}

/** A root token made the way the operator makes one (the CLI's service call). */
export async function rootToken(tessera: Tessera): Promise<string> {
  const { secret } = await tessera.tokens.createRoot("test root", { ip: null, userAgent: "test", traceId: `${"0".repeat(31)}1` });
  return secret;
}
