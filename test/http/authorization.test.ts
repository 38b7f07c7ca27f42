import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MANAGEMENT_SCOPE_NAMES } from "../../src/core/scopes.js";
import { dialects } from "../support/databases.js";
import {
  type Call,
  type Credentials,
  call,
  createToken,
  joinOrg,
  linkSecret,
  login,
  PASSWORD,
  rootToken,
  seedWorld,
  startTestApp,
  type TestApp,
  type World,
} from "../support/harness.js";

/**
 * The authorization matrix (issue 2 point 11, issue 5 point 1): every registered route × every kind of
 * caller. The route list comes from Fastify's own route table, so a route added without an entry in
 * ROUTES (or PUBLIC) fails the "covers every registered route" test.
 */

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** Routes anyone may call, and why. Everything else must appear in ROUTES. */
const PUBLIC: Record<string, string> = {
  "GET /": "the console's HTML shell (its API calls are what is protected)",
  "GET /healthz": "liveness probe for load balancers",
  "GET /readyz": "readiness probe for load balancers",
  "GET /metrics": "Prometheus scrape endpoint (operators bind it to a private network)",
  "GET /v1/openapi.json": "the public API description",
  "POST /v1/setup": "first run only; 409 once a user exists",
  "POST /v1/auth/login": "how a session is obtained",
  "GET /v1/invitations/:token": "the secret from the invitation link is the credential (unknown/used/expired → one 404)",
  "POST /v1/invitations/accept":
    "the secret from the link is the credential; a session, when sent, must be the invited email (test/http/invitations.test.ts)",
  "POST /v1/auth/password-reset": "always 202, says nothing; rate-limited per address and per email",
  "POST /v1/auth/password-reset/confirm": "the secret from the mailed reset link is the credential",
  "GET /v1/auth/methods": "what the sign-in page offers (password, the OpenID Connect provider's name)",
  "POST /v1/auth/oidc/start": "how an OpenID Connect sign-in begins; 404 without a provider",
  "GET /v1/auth/oidc/callback":
    "the provider's answer is the credential, checked against this browser's flow cookie (test/http/oidc.test.ts)",
  "GET /embed": "the embedded tokens screen's HTML shell (its bearer, from the handoff, is what is protected)",
  "GET /embed.js": "the tessera-embed script that host pages load",
  "POST /v1/embed/exchange": "the single-use handoff from the embed URL is the credential (test/http/embed.test.ts)",
  "POST /v1/secret-scanning/github":
    "GitHub's ECDSA signature over the body is the credential; unsigned, bad or unknown-key requests are 401 (test/http/secret-scanning.test.ts)",
};
/** Swagger UI's own routes (their exact list depends on the plugin version). */
const PUBLIC_PREFIXES: Record<string, string> = { "/docs": "the page rendering the public API description (SPEC §4)" };

const CALLERS = [
  "anonymous",
  "viewer",
  "member",
  "otherMember",
  "admin",
  "owner",
  "otherOrgOwner",
  "foreignResource",
  "bearerWithScope",
  "bearerWithoutScope",
  "otherOrgBearer",
  "revokedBearer",
  "suspendedBearer",
  "expiredBearer",
  "deactivatedBearer",
  "removedOwnerBearer",
  "root",
] as const;
type Caller = (typeof CALLERS)[number];

const CALLER_LABEL: Record<Caller, string> = {
  anonymous: "anonymous",
  viewer: "viewer (session)",
  member: "member on their own resources (session)",
  otherMember: "member on another member's token (session)",
  admin: "admin (session)",
  owner: "owner (session)",
  otherOrgOwner: "owner of another organisation (session)",
  foreignResource: "owner, with another organisation's resource in the path",
  bearerWithScope: "bearer holding just the needed scope",
  bearerWithoutScope: "bearer holding every scope but the needed one",
  otherOrgBearer: "bearer of another organisation",
  revokedBearer: "revoked bearer",
  suspendedBearer: "suspended bearer",
  expiredBearer: "expired bearer",
  deactivatedBearer: "deactivated bearer",
  removedOwnerBearer: "personal bearer whose owner left the organisation",
  root: "root token",
};

/**
 * allowed: 2xx (the requests below are valid, so any 4xx is an authorization bug);
 * insufficient_scope: 403 with `WWW-Authenticate: Bearer error="insufficient_scope", scope="…"`;
 * invalid_token: 401 with `WWW-Authenticate: Bearer error="invalid_token"`; skip: not applicable.
 */
type Outcome = "allowed" | 401 | 403 | 404 | "insufficient_scope" | "invalid_token" | "skip";

const VIEWER_SCOPES = new Set(["org:read"]);
const MEMBER_SCOPES = new Set(["tokens:read", "tokens:write", "org:read", "members:read"]);

/** What the target of one call is: ids in the path, body, query, or a fresh session. */
interface Target {
  tokenId?: string;
  userId?: string;
  /** `:id`: an invitation, or one of the caller's own sessions. */
  id?: string;
  body?: unknown;
  query?: string;
  /** The token must be in this state before the call (for the call to be valid). */
  state?: "active" | "inactive" | "suspended";
}

interface RouteCase {
  /** The management scope a bearer needs; null = any authenticated caller. */
  scope: string | null;
  /** The route mutates its target: allowed callers get a fresh one. */
  mutates?: boolean;
  /** Only a signed-in person may call it: every bearer (root included) gets 403. */
  sessionOnly?: boolean;
  /** Each session caller needs a session of its own (logout ends it). */
  freshSession?: boolean;
  /** The call ends the caller's other sessions (password change, sign out everywhere): sign them in again after. */
  endsSessions?: boolean;
  /** Which kind of token the bearer callers present (default personal, owned by Acme's owner). */
  bearer?: "personal" | "service";
  target?: (ctx: Ctx, allowed: boolean, caller: Caller) => Promise<Target> | Target;
  expect?: Partial<Record<Caller, Outcome>>;
}

interface Ctx {
  t: TestApp;
  w: World;
  /** A token owned by Acme's member (every token route targets one). */
  memberToken(fresh: boolean): Promise<string>;
  globexTokenId: string;
  fullSecret: string;
  patId: string;
  leaverId: string;
  leaverEmail: string;
  /** A root token that is never revoked (the target of refused root-token revocations). */
  rootId: string;
  /** A pending invitation of Acme (targets of refused revocations) and one of Globex. */
  invitationId: string;
  globexInvitationId: string;
  /** The account a session caller signs in as. */
  emailOf(caller: Caller): string | undefined;
}

const tokenTarget =
  (state: Target["state"] = "active", body?: unknown) =>
  async (ctx: Ctx, allowed: boolean): Promise<Target> => ({
    tokenId: await ctx.memberToken(allowed && state !== undefined),
    state,
    body,
  });
const readToken = async (ctx: Ctx): Promise<Target> => ({ tokenId: await ctx.memberToken(false) });

const SYSTEM = { ip: null, userAgent: "test", traceId: `${"0".repeat(31)}1` };
/** Root tokens are managed by a root token holding instance:admin only (issue 9 finding 4). */
const ROOT_TOKEN_ROUTE: Partial<Record<Caller, Outcome>> = {
  admin: 403,
  owner: 403,
  otherOrgOwner: 403,
  foreignResource: "skip",
  otherOrgBearer: 403,
  // No organisation token holds (or lacks) an instance scope: otherOrgBearer stands for them all.
  bearerWithScope: "skip",
  bearerWithoutScope: "skip",
};

/**
 * Webhook targets: a disabled endpoint (its queued deliveries wait, so a retry is never refused as "being
 * sent"); TEST-NET addresses are public, so the SSRF guard lets them through, and nothing ever answers.
 */
const hookIds = new Map<string, string>();
async function matrixHook(ctx: Ctx, fresh = false): Promise<string> {
  const key = `${ctx.t.dialect}`;
  if (!fresh && hookIds.has(key)) return hookIds.get(key)!;
  const made = await call(ctx.t.app, "POST", `/v1/orgs/${ctx.w.orgId}/webhooks`, ctx.w.owner.creds, {
    url: "https://192.0.2.1/matrix",
    enabled: false,
  });
  expect(made.status, made.raw).toBe(201);
  if (!fresh) hookIds.set(key, made.body.webhook.id);
  return made.body.webhook.id;
}
async function matrixDelivery(ctx: Ctx): Promise<string> {
  const sent = await call(ctx.t.app, "POST", `/v1/orgs/${ctx.w.orgId}/webhooks/${await matrixHook(ctx)}/test`, ctx.w.owner.creds);
  expect(sent.status, sent.raw).toBe(202);
  return sent.body.id;
}
/** Managing an endpoint also needs what its events show (tokens:read, members:read): one scope alone is refused. */
const WEBHOOK_WRITE: Partial<Record<Caller, Outcome>> = { bearerWithScope: 403, foreignResource: 404 };

const ROUTES: Record<string, RouteCase> = {
  "GET /v1/me": { scope: null },
  "POST /v1/auth/logout": { scope: null, sessionOnly: true, freshSession: true },
  "GET /v1/orgs": { scope: "org:read", expect: { viewer: "allowed", member: "allowed", otherOrgOwner: "allowed" } },
  "POST /v1/orgs": { scope: null, sessionOnly: true, target: () => ({ body: { name: "Made by the matrix" } }) },
  "GET /v1/orgs/:orgId": { scope: "org:read" },
  "PATCH /v1/orgs/:orgId": { scope: "org:write", target: () => ({ body: { name: "Acme" } }) },
  "GET /v1/orgs/:orgId/members": { scope: "members:read" },
  "PATCH /v1/orgs/:orgId/members/:userId": {
    scope: "members:write",
    // A no-op change (member → member) is a valid request that leaves the world as it was.
    target: (ctx) => ({ userId: ctx.patId, body: { role: "member" } }),
    expect: { bearerWithScope: 403 },
  },
  "DELETE /v1/orgs/:orgId/members/:userId": {
    scope: "members:write",
    // The leaver is put back whatever the outcome, so that a refusal is about the caller, not a 404.
    target: async (ctx) => {
      {
        const members = await call(ctx.t.app, "GET", `/v1/orgs/${ctx.w.orgId}/members`, ctx.w.owner.creds);
        if (!members.body.items.some((m: { id: string }) => m.id === ctx.leaverId)) {
          await joinOrg(ctx.t.app, ctx.w.owner.creds, ctx.w.orgId, {
            email: ctx.leaverEmail,
            name: "Lee Leaver",
            role: "member",
          });
        }
      }
      return { userId: ctx.leaverId };
    },
    // Taking away a role needs every permission it gives, as granting it does.
    expect: { bearerWithScope: 403 },
  },
  "POST /v1/orgs/:orgId/invitations": {
    scope: "members:write",
    // Re-inviting replaces the open invitation: the same valid request every time.
    target: () => ({ body: { email: "invitee@acme.test", role: "member" } }),
    // Inviting grants a role: it needs every permission the role gives; members:write alone gives none of them.
    expect: { bearerWithScope: 403 },
  },
  "GET /v1/orgs/:orgId/invitations": { scope: "members:read" },
  "DELETE /v1/orgs/:orgId/invitations/:id": {
    scope: "members:write",
    target: async (ctx, allowed) => {
      if (!allowed) return { id: ctx.invitationId };
      const made = await call(ctx.t.app, "POST", `/v1/orgs/${ctx.w.orgId}/invitations`, ctx.w.owner.creds, {
        email: "revokee@acme.test",
        role: "viewer",
      });
      expect(made.status, made.raw).toBe(201);
      return { id: made.body.invitation.id };
    },
    // Withdrawing an offered role is decided like taking it away.
    expect: { foreignResource: 404, bearerWithScope: 403 },
  },
  "POST /v1/me/password": {
    scope: null,
    sessionOnly: true,
    freshSession: true,
    endsSessions: true,
    target: () => ({ body: { currentPassword: PASSWORD, newPassword: PASSWORD } }),
  },
  "PUT /v1/me/locale": { scope: null, sessionOnly: true, target: () => ({ body: { locale: "en" } }) },
  "GET /v1/me/sessions": { scope: null, sessionOnly: true },
  "DELETE /v1/me/sessions": { scope: null, sessionOnly: true, freshSession: true, endsSessions: true },
  "DELETE /v1/me/sessions/:id": {
    scope: null,
    sessionOnly: true,
    // Allowed callers end a session of their own, opened for the purpose.
    target: async (ctx, allowed, caller) => {
      const email = ctx.emailOf(caller);
      if (!allowed || !email) return { id: "ses_missing" };
      const spare = await login(ctx.t.app, email);
      const list = await call(ctx.t.app, "GET", "/v1/me/sessions", spare);
      return { id: list.body.items.find((x: { current: boolean }) => x.current).id };
    },
  },
  "GET /v1/orgs/:orgId/scopes": { scope: "org:read" },
  "PUT /v1/orgs/:orgId/scopes": {
    scope: "org:write",
    target: () => ({
      body: [
        { name: "messages:send", description: "Send messages" },
        { name: "messages:read", description: "Read messages" },
      ],
    }),
  },
  "POST /v1/orgs/:orgId/tokens": { scope: "tokens:write", target: () => ({ body: { name: "made by the matrix" } }) },
  "GET /v1/orgs/:orgId/tokens": { scope: "tokens:read", target: () => ({ query: "?limit=5" }) },
  "GET /v1/orgs/:orgId/tokens/:tokenId": { scope: "tokens:read", target: readToken },
  "PATCH /v1/orgs/:orgId/tokens/:tokenId": {
    scope: "tokens:write",
    mutates: true,
    target: tokenTarget("active", { description: "edited by the matrix" }),
  },
  "DELETE /v1/orgs/:orgId/tokens/:tokenId": { scope: "tokens:write", mutates: true, target: tokenTarget("active") },
  "POST /v1/orgs/:orgId/tokens/:tokenId/deactivate": { scope: "tokens:write", mutates: true, target: tokenTarget("active") },
  "POST /v1/orgs/:orgId/tokens/:tokenId/activate": { scope: "tokens:write", mutates: true, target: tokenTarget("inactive") },
  "POST /v1/orgs/:orgId/tokens/:tokenId/suspend": { scope: "tokens:write", mutates: true, target: tokenTarget("active") },
  "POST /v1/orgs/:orgId/tokens/:tokenId/resume": { scope: "tokens:write", mutates: true, target: tokenTarget("suspended") },
  "POST /v1/orgs/:orgId/tokens/:tokenId/revoke": {
    scope: "tokens:write",
    mutates: true,
    target: tokenTarget("active", { reason: "authorization matrix" }),
  },
  "POST /v1/orgs/:orgId/tokens/:tokenId/regenerate": {
    scope: "tokens:write",
    mutates: true,
    target: tokenTarget("active", { graceSeconds: 60 }),
    // Issue 9: a personal token's secret goes only to its owner (the member here); admins, owners and
    // root may revoke or narrow it, never take it. test/http/authority.test.ts covers who may.
    expect: { admin: 403, owner: 403, bearerWithScope: 403, root: 403 },
  },
  "GET /v1/root-tokens": {
    scope: "instance:admin",
    expect: ROOT_TOKEN_ROUTE,
  },
  "POST /v1/root-tokens/:tokenId/revoke": {
    scope: "instance:admin",
    mutates: true,
    target: async (ctx, allowed) => ({
      tokenId: allowed ? (await ctx.t.tessera.tokens.createRoot("matrix", SYSTEM)).token.id : ctx.rootId,
      body: { reason: "authorization matrix" },
    }),
    expect: ROOT_TOKEN_ROUTE,
  },
  // Minted by the host's backend: a root token with orgs:provision (or a service token, test/http/embed.test.ts).
  "POST /v1/embed/sessions": {
    scope: "orgs:provision",
    target: () => ({
      body: {
        user: { externalId: "matrix-user", email: "matrix@host.test", name: "Matrix" },
        organization: { externalId: "matrix-org", name: "Matrix" },
        role: "viewer",
      },
    }),
    expect: { ...ROOT_TOKEN_ROUTE, viewer: 403, member: 403 },
  },
  "GET /v1/orgs/:orgId/tokens/:tokenId/usage": { scope: "tokens:read", target: readToken },
  // Current behaviour: a token's own history needs tokens:read (members see their own tokens' history).
  "GET /v1/orgs/:orgId/tokens/:tokenId/audit": { scope: "tokens:read", target: readToken },
  "GET /v1/orgs/:orgId/audit": { scope: "audit:read", target: () => ({ query: "?limit=5" }) },
  "GET /v1/orgs/:orgId/tokens/:tokenId/requests": { scope: "tokens:read", target: readToken },
  "GET /v1/orgs/:orgId/audit/export": { scope: "audit:read", target: () => ({ query: "?format=ndjson" }) },
  // Each id is checked as if alone (per-item problems in a 200); the caller's own standing is checked first.
  "POST /v1/orgs/:orgId/tokens/batch": {
    scope: "tokens:write",
    target: async (ctx) => ({ body: { action: "suspend", ids: [await ctx.memberToken(true)] } }),
  },
  "GET /v1/orgs/:orgId/webhooks": { scope: "webhooks:read" },
  "POST /v1/orgs/:orgId/webhooks": {
    scope: "webhooks:write",
    target: () => ({ body: { url: "https://192.0.2.1/made-by-the-matrix", enabled: false } }),
    expect: { bearerWithScope: 403 },
  },
  "PATCH /v1/orgs/:orgId/webhooks/:id": {
    scope: "webhooks:write",
    target: async (ctx) => ({ id: await matrixHook(ctx), body: { description: "edited by the matrix" } }),
    expect: WEBHOOK_WRITE,
  },
  "DELETE /v1/orgs/:orgId/webhooks/:id": {
    scope: "webhooks:write",
    target: async (ctx, allowed) => ({ id: await matrixHook(ctx, allowed) }),
    expect: WEBHOOK_WRITE,
  },
  "GET /v1/orgs/:orgId/webhooks/:id/deliveries": {
    scope: "webhooks:read",
    target: async (ctx) => ({ id: await matrixHook(ctx) }),
    expect: { foreignResource: 404 },
  },
  "POST /v1/orgs/:orgId/webhooks/:id/test": {
    scope: "webhooks:write",
    target: async (ctx) => ({ id: await matrixHook(ctx) }),
    expect: WEBHOOK_WRITE,
  },
  "POST /v1/orgs/:orgId/webhooks/deliveries/:id/retry": {
    scope: "webhooks:write",
    target: async (ctx) => ({ id: await matrixDelivery(ctx) }),
    expect: WEBHOOK_WRITE,
  },
  "POST /v1/verify": {
    scope: "tokens:verify",
    bearer: "service",
    target: (ctx) => ({ body: { token: ctx.fullSecret } }),
    // SPEC §5: only a root token or a service token with tokens:verify; never a session or a personal token.
    expect: {
      viewer: 403,
      member: 403,
      admin: 403,
      owner: 403,
      otherOrgOwner: 403,
      otherOrgBearer: 403,
    },
  },
};

function outcomeFor(key: string, route: RouteCase, caller: Caller): Outcome {
  const explicit = route.expect?.[caller];
  if (explicit !== undefined) return explicit;
  const path = key.split(" ")[1]!;
  const orgRoute = path.includes(":orgId");
  const tokenRoute = path.includes(":tokenId");
  const memberRoute = path.includes(":userId");
  const { scope } = route;
  switch (caller) {
    case "anonymous":
      return 401;
    case "viewer":
      return scope === null || VIEWER_SCOPES.has(scope) ? "allowed" : 403;
    case "member":
      return scope === null || MEMBER_SCOPES.has(scope) ? "allowed" : 403;
    case "otherMember":
      return tokenRoute ? (MEMBER_SCOPES.has(scope!) ? 404 : 403) : "skip";
    case "admin":
    case "owner":
      return "allowed";
    case "otherOrgOwner":
      return orgRoute ? 404 : "allowed";
    case "foreignResource":
      return tokenRoute || memberRoute ? 404 : "skip";
    case "bearerWithScope":
      return route.sessionOnly ? 403 : "allowed";
    case "bearerWithoutScope":
      return route.sessionOnly ? 403 : scope === null ? "skip" : "insufficient_scope";
    case "otherOrgBearer":
      return route.sessionOnly ? 403 : orgRoute ? 404 : "allowed";
    case "revokedBearer":
    case "suspendedBearer":
    case "expiredBearer":
    case "deactivatedBearer":
    case "removedOwnerBearer":
      return "invalid_token";
    case "root":
      return route.sessionOnly ? 403 : "allowed";
  }
}

/**
 * Every method and path in Fastify's route table, from `printRoutes` (which, unlike the OpenAPI
 * document, also lists hidden routes). HEAD twins of GET routes are Fastify's own and dropped.
 */
function registeredRoutes(app: FastifyInstance): string[] {
  const stack: string[] = [];
  const found = new Set<string>();
  for (const line of app.printRoutes({ commonPrefix: false }).split("\n")) {
    const m = /^([│ ]*)[├└]── (.+?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    const path = stack.join("");
    const methods = (m[3] ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    for (const method of methods) {
      if (method === "HEAD" && methods.includes("GET")) continue;
      found.add(`${method} ${path}`);
    }
  }
  return [...found].sort();
}

function isPublic(key: string): boolean {
  if (key in PUBLIC) return true;
  const path = key.split(" ")[1]!;
  return Object.keys(PUBLIC_PREFIXES).some((p) => path === p || path.startsWith(p));
}

describe.each(await dialects())("authorization matrix on %s", (dialect) => {
  let t: TestApp;
  let w: World;
  let root: string;
  let ctx: Ctx;
  const bearers = new Map<string, string>();
  const emails: Record<string, string> = {
    viewer: "viewer@acme.test",
    member: "member@acme.test",
    otherMember: "member2@acme.test",
    admin: "admin@acme.test",
    owner: "owner@acme.test",
    otherOrgOwner: "owner@globex.test",
    foreignResource: "owner@acme.test",
  };

  beforeAll(async () => {
    t = await startTestApp(dialect);
    w = await seedWorld(t.app);
    root = await rootToken(t.tessera);
    const { app } = t;
    const o = w.owner.creds;
    // Expired bearer first: it needs a moment to expire while the rest is set up.
    const expiring = await createToken(app, o, w.orgId, {
      name: "expiring",
      expiresAt: new Date(Date.now() + 1200).toISOString(),
    });
    bearers.set("expired", expiring.secret);
    await call(app, "PUT", `/v1/orgs/${w.orgId}/scopes`, o, [
      { name: "messages:send", description: "Send messages" },
      { name: "messages:read", description: "Read messages" },
    ]);
    const full = await createToken(app, o, w.orgId, { name: "full", scopes: [...MANAGEMENT_SCOPE_NAMES] });
    bearers.set("full", full.secret);
    for (const scope of MANAGEMENT_SCOPE_NAMES) {
      const others = MANAGEMENT_SCOPE_NAMES.filter((s) => s !== scope);
      for (const kind of ["personal", "service"] as const) {
        bearers.set(
          `${kind} only ${scope}`,
          (await createToken(app, o, w.orgId, { name: `only ${scope}`, kind, scopes: [scope] })).secret,
        );
        bearers.set(
          `${kind} without ${scope}`,
          (await createToken(app, o, w.orgId, { name: `no ${scope}`, kind, scopes: others })).secret,
        );
      }
    }
    for (const [name, action] of [
      ["revoked", "revoke"],
      ["suspended", "suspend"],
      ["deactivated", "deactivate"],
    ] as const) {
      const made = await createToken(app, o, w.orgId, { name, scopes: [...MANAGEMENT_SCOPE_NAMES] });
      const res = await call(app, "POST", `/v1/orgs/${w.orgId}/tokens/${made.id}/${action}`, o);
      expect(res.status).toBe(200);
      bearers.set(name, made.secret);
    }
    bearers.set("globex", (await createToken(app, w.otherOwner.creds, w.otherOrgId, { name: "globex full" })).secret);
    const globexToken = await createToken(app, w.otherOwner.creds, w.otherOrgId, { name: "globex target" });

    const addMember = async (email: string, name: string) => (await joinOrg(app, o, w.orgId, { email, name, role: "member" })).id;
    const patId = await addMember("pat@acme.test", "Pat Target");
    const leaverId = await addMember("leaver@acme.test", "Lee Leaver");
    const goneId = await addMember("gone@acme.test", "Gil Gone");
    const pending = await call(app, "POST", `/v1/orgs/${w.orgId}/invitations`, o, { email: "pending@acme.test", role: "viewer" });
    const globexPending = await call(app, "POST", `/v1/orgs/${w.otherOrgId}/invitations`, w.otherOwner.creds, {
      email: "pending@globex.test",
      role: "viewer",
    });
    expect(linkSecret(globexPending.body.acceptUrl)).toMatch(/^tsi_live_/);
    bearers.set(
      "removed owner",
      (await createToken(app, await login(app, "gone@acme.test"), w.orgId, { name: "orphan" })).secret,
    );
    expect((await call(app, "DELETE", `/v1/orgs/${w.orgId}/members/${goneId}`, o)).status).toBe(204);

    let shared: string | undefined;
    ctx = {
      t,
      w,
      rootId: (await t.tessera.tokens.createRoot("matrix target", SYSTEM)).token.id,
      globexTokenId: globexToken.id,
      fullSecret: full.secret,
      patId,
      leaverId,
      leaverEmail: "leaver@acme.test",
      invitationId: pending.body.invitation.id,
      globexInvitationId: globexPending.body.invitation.id,
      emailOf: (caller) => emails[caller],
      async memberToken(fresh) {
        if (!fresh && shared) return shared;
        const made = await createToken(app, w.member.creds, w.orgId, { name: fresh ? "matrix target" : "matrix shared" });
        if (!fresh) shared = made.id;
        return made.id;
      },
    };
    const wait = Date.parse(expiring.token.expiresAt) + 50 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  });
  afterAll(() => t?.close());

  it("covers every registered route, and every entry is a registered route", () => {
    const registered = registeredRoutes(t.app);
    expect(registered.length).toBeGreaterThan(20);
    const uncovered = registered.filter((key) => !isPublic(key) && !(key in ROUTES));
    expect(uncovered, "routes without an authorization expectation: add them to ROUTES or PUBLIC").toEqual([]);
    const stale = [...Object.keys(ROUTES), ...Object.keys(PUBLIC)].filter((key) => !registered.includes(key));
    expect(stale, "expectations for routes that are not registered").toEqual([]);
    // The route-table reader itself: every operation of the OpenAPI document must be among what it found.
    const doc = t.app.swagger() as { paths: Record<string, Record<string, unknown>> };
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const method of Object.keys(ops)) {
        if (method === "head") continue;
        expect(registered).toContain(`${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ":$1")}`);
      }
    }
  });

  it("answers the public routes without credentials", async () => {
    for (const url of ["/healthz", "/readyz", "/metrics", "/v1/openapi.json", "/docs"]) {
      const res = await t.app.inject({ method: "GET", url });
      expect(res.statusCode, url).toBeLessThan(400);
    }
    const again = await call(t.app, "POST", "/v1/setup", null, {
      email: "late@acme.test",
      password: PASSWORD,
      name: "Late",
      organization: { name: "Late" },
    });
    expect(again.status).toBe(409);
  });

  function credsFor(caller: Caller, route: RouteCase): Credentials {
    const kind = route.bearer ?? "personal";
    const scope = route.scope;
    switch (caller) {
      case "anonymous":
        return null;
      case "viewer":
        return w.viewer.creds;
      case "member":
        return w.member.creds;
      case "otherMember":
        return w.member2.creds;
      case "admin":
        return w.admin.creds;
      case "owner":
      case "foreignResource":
        return w.owner.creds;
      case "otherOrgOwner":
        return w.otherOwner.creds;
      case "bearerWithScope":
        return { bearer: bearers.get(scope ? `${kind} only ${scope}` : "full")! };
      case "bearerWithoutScope":
        return { bearer: bearers.get(scope ? `${kind} without ${scope}` : "full")! };
      case "otherOrgBearer":
        return { bearer: bearers.get("globex")! };
      case "revokedBearer":
        return { bearer: bearers.get("revoked")! };
      case "suspendedBearer":
        return { bearer: bearers.get("suspended")! };
      case "expiredBearer":
        return { bearer: bearers.get("expired")! };
      case "deactivatedBearer":
        return { bearer: bearers.get("deactivated")! };
      case "removedOwnerBearer":
        return { bearer: bearers.get("removed owner")! };
      case "root":
        return { bearer: root };
    }
  }

  /** The world's sessions of the caller's account were ended: open new ones. */
  async function signInAgain(caller: Caller) {
    const key = ({ viewer: "viewer", member: "member", otherMember: "member2", admin: "admin", owner: "owner" } as const)[
      caller as "viewer"
    ];
    if (caller === "otherOrgOwner") w.otherOwner.creds = await login(t.app, emails.otherOrgOwner!);
    else if (caller === "foreignResource") w.owner.creds = await login(t.app, emails.owner!);
    else if (key) w[key].creds = await login(t.app, emails[caller]!);
  }

  async function prepareState(tokenId: string, state: Target["state"]) {
    if (state === undefined || state === "active") return;
    const action = state === "inactive" ? "deactivate" : "suspend";
    const res = await call(t.app, "POST", `/v1/orgs/${w.orgId}/tokens/${tokenId}/${action}`, w.owner.creds);
    expect(res.status, `preparing ${state}: ${res.raw}`).toBe(200);
  }

  function check(res: Call, outcome: Exclude<Outcome, "skip">, scope: string | null, what: string) {
    const detail = `${what} → ${res.status} ${res.raw.slice(0, 300)}`;
    if (outcome === "allowed") {
      expect(res.status, detail).toBeGreaterThanOrEqual(200);
      expect(res.status, detail).toBeLessThan(300);
      return;
    }
    expect(res.headers["content-type"], detail).toMatch(/^application\/problem\+json/);
    switch (outcome) {
      case 401:
        expect(res.status, detail).toBe(401);
        expect(res.body.code, detail).toBe("unauthorized");
        expect(res.headers["www-authenticate"], detail).toMatch(/^Bearer\b/);
        return;
      case "invalid_token":
        expect(res.status, detail).toBe(401);
        expect(res.body.code, detail).toBe("unauthorized");
        expect(res.headers["www-authenticate"], detail).toMatch(/^Bearer error="invalid_token"/);
        return;
      case 403:
        expect(res.status, detail).toBe(403);
        expect(res.body.code, detail).toBe("forbidden");
        return;
      case "insufficient_scope":
        // SPEC §4: code `forbidden`, and for tokens the RFC 6750 error naming the missing scope.
        expect(res.status, detail).toBe(403);
        expect(res.body.code, detail).toBe("forbidden");
        expect(res.headers["www-authenticate"], detail).toBe(`Bearer error="insufficient_scope", scope="${scope}"`);
        return;
      case 404:
        expect(res.status, detail).toBe(404);
        expect(res.body.code, detail).toBe("not_found");
        return;
    }
  }

  describe.each(Object.keys(ROUTES))("%s", (key) => {
    const route = ROUTES[key]!;
    const [method, template] = key.split(" ") as [Method, string];
    const cases = CALLERS.map((caller) => ({ caller, outcome: outcomeFor(key, route, caller) }))
      .filter((c) => c.outcome !== "skip")
      .map((c) => ({ ...c, label: `${CALLER_LABEL[c.caller]} → ${c.outcome}` }));

    it.each(cases)("$label", async ({ caller, outcome }) => {
      const allowed = outcome === "allowed";
      const target: Target = (await route.target?.(ctx, allowed, caller)) ?? {};
      if (caller === "foreignResource") {
        target.tokenId = ctx.globexTokenId;
        target.userId = w.otherOwner.id;
        target.id = ctx.globexInvitationId;
      } else if (target.tokenId && route.mutates && allowed) {
        await prepareState(target.tokenId, target.state);
      }
      const url =
        template
          .replace(":orgId", w.orgId)
          .replace(":tokenId", target.tokenId ?? "tok_missing")
          .replace(":userId", target.userId ?? "usr_missing")
          .replace(":id", target.id ?? "inv_missing") + (target.query ?? "");
      let creds = credsFor(caller, route);
      if (route.freshSession && creds && "session" in creds) creds = await login(t.app, emails[caller]!);
      const res = await call(t.app, method, url, creds, method === "GET" || method === "DELETE" ? undefined : target.body);
      check(res, outcome as Exclude<Outcome, "skip">, route.scope, `${CALLER_LABEL[caller]}: ${method} ${url}`);
      if (route.endsSessions && allowed && creds && "session" in creds) await signInAgain(caller);
      if (caller === "anonymous" && method === "GET") {
        const head = await t.app.inject({ method: "HEAD", url });
        expect(head.statusCode, `HEAD ${url}`).toBe(401);
        expect(head.headers["www-authenticate"]).toMatch(/^Bearer\b/);
      }
    });
  });

  it("lets a member act on their own token but not see or touch another member's (list included)", async () => {
    const mine = await createToken(t.app, w.member.creds, w.orgId, { name: "mine only" });
    const list = await call(t.app, "GET", `/v1/orgs/${w.orgId}/tokens?limit=100`, w.member2.creds);
    expect(list.status).toBe(200);
    expect(list.body.items.map((x: { id: string }) => x.id)).not.toContain(mine.id);
    const filtered = await call(t.app, "GET", `/v1/orgs/${w.orgId}/tokens?ownerId=${w.member.id}`, w.member2.creds);
    expect(filtered.body.items).toEqual([]);
  });
});
