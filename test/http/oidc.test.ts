import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { OidcConfig } from "../../src/config.js";
import { OidcService } from "../../src/services/oidc-service.js";
import { dialects } from "../support/databases.js";
import { call, linkSecret, login, PASSWORD, seedWorld, startTestApp, type TestApp, type World } from "../support/harness.js";
import { CookieBrowser, startOidcProvider, type TestProvider } from "../support/oidc.js";
import { freePort } from "../support/processes.js";

/**
 * OpenID Connect sign-in (issue 10 item 5, SPEC §9) against a real provider (`oidc-provider`) over real
 * HTTP: Tessera listens on its own port, the provider on another, and a cookie-keeping fetch plays the
 * browser, submitting the provider's login and consent forms. Each attack is replayed the way an attacker
 * would try it: a forged state, a replayed code, a tampered nonce, a mixed-up issuer, an unverified email.
 */

const CALLBACK = "/v1/auth/oidc/callback";

const ACCOUNTS = {
  olive: { email: "Owner@Acme.test", email_verified: true, name: "Olive at the IdP" },
  mallory: { email: "member@acme.test", email_verified: false, name: "Mallory" },
  stranger: { email: "nobody@elsewhere.test", email_verified: true, name: "Stranger" },
  invitee: { email: "invitee@acme.test", email_verified: true, name: "Ivy Invitee" },
  twin: { email: "owner@acme.test", email_verified: true, name: "Another Olive" },
};

function oidcConfig(provider: TestProvider, overrides: Partial<OidcConfig> = {}): OidcConfig {
  return {
    issuer: provider.issuer,
    clientId: provider.clientId,
    clientSecret: provider.clientSecret,
    name: "Test IdP",
    scopes: ["openid", "email", "profile"],
    only: false,
    ...overrides,
  };
}

interface Harness {
  t: TestApp;
  base: string;
  provider: TestProvider;
}

/** A Tessera listening on a real port, with a provider that knows its callback. */
async function startBoth(dialect: Awaited<ReturnType<typeof dialects>>[number], only = false): Promise<Harness> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const provider = await startOidcProvider({ redirectUris: [`${base}${CALLBACK}`], accounts: ACCOUNTS });
  const t = await startTestApp(dialect, { publicUrl: base, oidc: oidcConfig(provider, { only }) });
  await t.app.listen({ port, host: "127.0.0.1" });
  return { t, base, provider };
}

/**
 * Starts a sign-in in `browser` and goes through the provider's login (as `account`) and consent
 * forms, stopping where the provider sends the browser back to Tessera. `tamper` may change the
 * authorisation URL before the browser opens it (an attacker in the middle of the request).
 */
async function throughProvider(
  h: Harness,
  browser: CookieBrowser,
  account: string,
  options: { returnTo?: string; tamper?: (url: URL) => void } = {},
): Promise<URL> {
  const start = await browser.request(`${h.base}/v1/auth/oidc/start`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(options.returnTo ? { returnTo: options.returnTo } : {}),
  });
  expect(start.status, await start.clone().text()).toBe(200);
  const authorizationUrl = new URL(((await start.json()) as { authorizationUrl: string }).authorizationUrl);
  expect(authorizationUrl.origin).toBe(h.provider.issuer);
  options.tamper?.(authorizationUrl);
  const backHome = (next: URL) => next.origin === h.base && next.pathname === CALLBACK;
  const loginPage = await browser.follow(authorizationUrl);
  expect(loginPage.response.status).toBe(200);
  const consentPage = await browser.submitForm(loginPage, { login: account, password: "anything" }, backHome);
  if (consentPage.stoppedAt) return consentPage.stoppedAt;
  const back = await browser.submitForm(consentPage, {}, backHome);
  if (!back.stoppedAt) throw new Error(`the provider did not send the browser back: ${back.url.href} ${back.response.status}`);
  return back.stoppedAt;
}

/** Delivers the provider's answer to Tessera; returns where Tessera sends the browser. */
async function callback(browser: CookieBrowser, url: URL): Promise<{ status: number; location: URL }> {
  const res = await browser.request(url);
  await res.arrayBuffer();
  return { status: res.status, location: new URL(res.headers.get("location") ?? "", url) };
}

async function me(h: Harness, browser: CookieBrowser) {
  const res = await browser.request(`${h.base}/v1/me`);
  return { status: res.status, body: (await res.json()) as { user: { id: string; email: string; name: string } } };
}

async function lastLoginEvents(h: Harness, n = 1) {
  return h.t.tessera.store.db
    .selectFrom("audit_events")
    .selectAll()
    .where("action", "in", ["auth.login", "auth.login_failed"])
    .orderBy("id", "desc")
    .limit(n)
    .execute();
}

/** A refused answer: back to the page with the reason, no session, and one failed sign-in audited at instance level. */
async function expectRefused(h: Harness, browser: CookieBrowser, answer: URL, reason: string, path = "/") {
  const back = await callback(browser, answer);
  expect(back.status).toBe(303);
  expect(back.location.origin).toBe(h.base);
  expect(back.location.pathname).toBe(path);
  expect(back.location.searchParams.get("signin_error")).toBe(reason);
  expect(browser.cookie("127.0.0.1", "tessera_session")).toBeUndefined();
  expect((await browser.request(`${h.base}/v1/me`)).status).toBe(401);
  const [event] = await lastLoginEvents(h);
  expect(event).toMatchObject({ action: "auth.login_failed", org_id: null });
  const details = JSON.parse(event!.details);
  expect(details).toMatchObject({ method: "oidc", reason });
  return details as Record<string, unknown>;
}

/** The flow cookie as an attacker who can write this site's cookies would rewrite it. */
function rewriteFlow(value: string, change: (fields: unknown[]) => void): string {
  const fields = JSON.parse(Buffer.from(value, "base64url").toString("utf8")) as unknown[];
  change(fields);
  return Buffer.from(JSON.stringify(fields)).toString("base64url");
}

describe.each(await dialects())("OpenID Connect sign-in on %s", (dialect) => {
  let h: Harness;
  let w: World;

  beforeAll(async () => {
    h = await startBoth(dialect);
    w = await seedWorld(h.t.app);
  });
  afterAll(async () => {
    await h?.t.close();
    await h?.provider.stop();
  });

  it("tells the console how people sign in", async () => {
    const methods = await call(h.t.app, "GET", "/v1/auth/methods");
    expect(methods.status).toBe(200);
    expect(methods.body).toEqual({ password: true, oidc: { name: "Test IdP" } });
  });

  it("signs a person in by verified email, links the identity, and opens the console session the password login opens", async () => {
    const browser = new CookieBrowser();
    const answer = await throughProvider(h, browser, "olive", { returnTo: "/orgs/x/tokens?q=a" });
    expect(answer.searchParams.get("code")).toBeTruthy();
    expect(answer.searchParams.get("iss")).toBe(h.provider.issuer);
    const back = await callback(browser, answer);
    expect(back.status).toBe(303);
    expect(back.location.href).toBe(`${h.base}/orgs/x/tokens?q=a`);
    const session = browser.cookie("127.0.0.1", "tessera_session");
    const csrf = browser.cookie("127.0.0.1", "tessera_csrf");
    expect(session).toBeTruthy();
    expect(csrf).toBeTruthy();
    // The flow cookie is spent.
    expect(browser.cookie("127.0.0.1", "tessera_oidc")).toBeUndefined();
    const who = await me(h, browser);
    expect(who.status).toBe(200);
    expect(who.body.user).toMatchObject({ id: w.owner.id, email: "owner@acme.test", name: "Olive Owner" });
    // The session works for mutations with its CSRF token, like a password session.
    const created = await call(
      h.t.app,
      "POST",
      `/v1/orgs/${w.orgId}/tokens`,
      { session: session!, csrf: csrf! },
      { name: "via oidc" },
    );
    expect(created.status, created.raw).toBe(201);
    const [event] = await lastLoginEvents(h);
    expect(event).toMatchObject({ action: "auth.login", org_id: null, actor_id: w.owner.id, target_id: w.owner.id });
    expect(JSON.parse(event!.details)).toEqual({ method: "oidc", issuer: h.provider.issuer, linked: true });
    const row = await h.t.tessera.store.db.selectFrom("users").selectAll().where("id", "=", w.owner.id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ oidc_issuer: h.provider.issuer, oidc_subject: "olive" });

    // The second time the link decides (no "linked" any more), and the password still works beside it.
    const again = new CookieBrowser();
    expect((await callback(again, await throughProvider(h, again, "olive"))).location.href).toBe(`${h.base}/`);
    expect(JSON.parse((await lastLoginEvents(h))[0]!.details)).toEqual({ method: "oidc", issuer: h.provider.issuer });
    expect((await call(h.t.app, "POST", "/v1/auth/login", null, { email: "owner@acme.test", password: PASSWORD })).status).toBe(
      200,
    );
  });

  it("refuses an answer whose state is not this browser's (forged, or delivered to another browser), before using the code", async () => {
    const browser = new CookieBrowser();
    const answer = await throughProvider(h, browser, "olive");
    const forged = new URL(answer);
    forged.searchParams.set("state", `${answer.searchParams.get("state")}x`);
    await expectRefused(h, browser, forged, "state_mismatch");
    // Login CSRF: the victim's browser receives the attacker's answer; it started no sign-in of its own.
    const attacker = new CookieBrowser();
    const attackersAnswer = await throughProvider(h, attacker, "stranger");
    await expectRefused(h, new CookieBrowser(), attackersAnswer, "state_mismatch");
    // The attacker's flow and code were never used: their own browser could still complete it.
    expect(attacker.cookie("127.0.0.1", "tessera_oidc")).toBeTruthy();
  });

  it("refuses a replayed code: the flow is spent at the first answer, and the provider refuses the code again", async () => {
    const browser = new CookieBrowser();
    const answer = await throughProvider(h, browser, "olive");
    const flow = browser.cookie("127.0.0.1", "tessera_oidc")!;
    expect((await callback(browser, answer)).location.searchParams.get("signin_error")).toBeNull();
    // Replayed in another browser that holds nothing: state.
    await expectRefused(h, new CookieBrowser(), answer, "state_mismatch");
    // Replayed with the flow cookie as well (captured by the attacker): the provider's single-use code.
    const thief = new CookieBrowser();
    thief.setCookie("127.0.0.1", "tessera_oidc", flow, CALLBACK);
    const details = await expectRefused(h, thief, answer, "code_rejected");
    expect(String(details.message)).toContain("invalid_grant");
  });

  it("refuses an ID token minted for another nonce (the authorisation request changed on the way)", async () => {
    const browser = new CookieBrowser();
    const answer = await throughProvider(h, browser, "olive", {
      tamper: (url) => url.searchParams.set("nonce", "attacker-chosen-nonce"),
    });
    const details = await expectRefused(h, browser, answer, "nonce_mismatch");
    expect(details.subject).toBeUndefined();
  });

  it("refuses an answer from another issuer (mix-up), and a provider that does not call itself the configured issuer", async () => {
    // RFC 9207: the answer names its issuer; another provider's answer is refused before its code is used.
    const browser = new CookieBrowser();
    const answer = await throughProvider(h, browser, "olive");
    const mixed = new URL(answer);
    mixed.searchParams.set("iss", "https://attacker.example");
    await expectRefused(h, browser, mixed, "issuer_mismatch");

    // A second, real provider that knows the same client: its code is no good at the configured one.
    const other = await startOidcProvider({ redirectUris: [`${h.base}${CALLBACK}`], accounts: ACCOUNTS });
    try {
      const victim = new CookieBrowser();
      const fromOther = await throughProvider(h, victim, "olive", {
        tamper: (url) => {
          const moved = new URL(url.pathname + url.search, other.issuer);
          url.href = moved.href;
        },
      });
      expect(fromOther.searchParams.get("iss")).toBe(other.issuer);
      const flow = victim.cookie("127.0.0.1", "tessera_oidc")!;
      await expectRefused(h, victim, fromOther, "issuer_mismatch");
      // Without its iss parameter: the configured provider says it always sends one, so its absence is refused too.
      const stripped = new URL(fromOther);
      stripped.searchParams.delete("iss");
      victim.setCookie("127.0.0.1", "tessera_oidc", flow, CALLBACK);
      const details = await expectRefused(h, victim, stripped, "issuer_mismatch");
      expect(String(details.message)).toMatch(/"iss".*missing/);
    } finally {
      await other.stop();
    }

    // Discovery: the provider at this address calls itself 127.0.0.1, not localhost.
    const misnamed = new OidcService(h.t.tessera.store, {
      config: oidcConfig(h.provider, { issuer: h.provider.issuer.replace("127.0.0.1", "localhost") }),
      redirectUrl: `${h.base}${CALLBACK}`,
      publicUrl: h.base,
      sessionTtlMs: 60_000,
      failuresPerAddress: 10,
    });
    await expect(misnamed.begin("/")).rejects.toMatchObject({
      code: "service_unavailable",
      message: expect.stringContaining("did not identify itself as http://localhost:"),
    });
  });

  it("refuses an email the provider does not vouch for, even when an account has it", async () => {
    const browser = new CookieBrowser();
    const details = await expectRefused(h, browser, await throughProvider(h, browser, "mallory"), "email_not_verified");
    expect(details).toMatchObject({ subject: "mallory", email: "member@acme.test" });
    const row = await h.t.tessera.store.db
      .selectFrom("users")
      .selectAll()
      .where("id", "=", w.member.id)
      .executeTakeFirstOrThrow();
    expect(row.oidc_subject).toBeNull();
  });

  it("refuses a verified email nobody invited, and a second identity claiming an already linked account", async () => {
    const browser = new CookieBrowser();
    await expectRefused(h, browser, await throughProvider(h, browser, "stranger"), "no_account");
    const users = await h.t.tessera.store.db.selectFrom("users").select("email").execute();
    expect(users.map((u) => u.email)).not.toContain("nobody@elsewhere.test");

    // Olive's account is linked to subject "olive" (first test); "twin" has the same verified email.
    const twin = new CookieBrowser();
    await expectRefused(h, twin, await throughProvider(h, twin, "twin"), "account_linked");
  });

  it("lets an invited email in without a password and without any organisation until it accepts", async () => {
    const invited = await call(h.t.app, "POST", `/v1/orgs/${w.orgId}/invitations`, w.owner.creds, {
      email: "invitee@acme.test",
      role: "member",
    });
    expect(invited.status, invited.raw).toBe(201);
    const token = linkSecret(invited.body.acceptUrl);
    const browser = new CookieBrowser();
    const answer = await throughProvider(h, browser, "invitee", { returnTo: "/accept-invitation#token=abc" });
    const back = await callback(browser, answer);
    expect(back.location.href).toBe(`${h.base}/accept-invitation#token=abc`);
    const who = await me(h, browser);
    expect(who.body.user).toMatchObject({ email: "invitee@acme.test", name: "Ivy Invitee" });
    expect((who.body as unknown as { memberships: unknown[] }).memberships).toEqual([]);
    const [event] = await lastLoginEvents(h);
    expect(JSON.parse(event!.details)).toEqual({ method: "oidc", issuer: h.provider.issuer, linked: true, created: true });
    // No password: the password sign-in matches nothing.
    const attempt = await call(h.t.app, "POST", "/v1/auth/login", null, { email: "invitee@acme.test", password: "" });
    expect(attempt.status).toBe(400);
    expect((await call(h.t.app, "POST", "/v1/auth/login", null, { email: "invitee@acme.test", password: "x" })).status).toBe(401);
    // Joining is still accepting the invitation, signed in as the invited email.
    const creds = {
      session: browser.cookie("127.0.0.1", "tessera_session")!,
      csrf: browser.cookie("127.0.0.1", "tessera_csrf")!,
    };
    const accepted = await call(h.t.app, "POST", "/v1/invitations/accept", creds, { token });
    expect(accepted.status, accepted.raw).toBe(200);
    expect(accepted.body.role).toBe("member");
  });

  it("never redirects off this server: returnTo must be a path here, also when the flow cookie is rewritten", async () => {
    for (const returnTo of ["//evil.test/x", "https://evil.test/", "/\\evil.test", "javascript:alert(1)", "/a\nb"]) {
      const res = await call(h.t.app, "POST", "/v1/auth/oidc/start", null, { returnTo });
      expect(res.status, returnTo).toBe(400);
      expect(res.body.errors[0].field).toBe("returnTo");
    }
    const browser = new CookieBrowser();
    const answer = await throughProvider(h, browser, "olive");
    const flow = browser.cookie("127.0.0.1", "tessera_oidc")!;
    browser.setCookie(
      "127.0.0.1",
      "tessera_oidc",
      rewriteFlow(flow, (f) => (f[3] = "//evil.test/phish")),
      CALLBACK,
    );
    const back = await callback(browser, answer);
    expect(back.location.href).toBe(`${h.base}/`);
    expect((await me(h, browser)).status).toBe(200);
  });

  it("comes back with provider_error when the person cancels at the provider", async () => {
    const browser = new CookieBrowser();
    const start = await browser.request(`${h.base}/v1/auth/oidc/start`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    const { authorizationUrl } = (await start.json()) as { authorizationUrl: string };
    const loginPage = await browser.follow(authorizationUrl);
    await loginPage.response.arrayBuffer();
    const cancelled = await browser.follow(`${loginPage.url.href}/abort`, {}, (next) => next.pathname === CALLBACK);
    expect(cancelled.stoppedAt?.searchParams.get("error")).toBe("access_denied");
    const details = await expectRefused(h, browser, cancelled.stoppedAt!, "provider_error");
    expect(String(details.message)).toContain("access_denied");
  });

  it("counts refused answers per address: over the budget the callback refuses at once, and says so once in the audit", async () => {
    const service = new OidcService(h.t.tessera.store, {
      config: oidcConfig(h.provider),
      redirectUrl: `${h.base}${CALLBACK}`,
      publicUrl: h.base,
      sessionTtlMs: 60_000,
      failuresPerAddress: 2,
    });
    const meta = { ip: "203.0.113.9", userAgent: "flood", traceId: "1".repeat(32) };
    for (let i = 0; i < 2; i++) {
      await expect(service.complete("code=x&state=y", undefined, meta)).rejects.toMatchObject({ reason: "state_mismatch" });
    }
    await expect(service.complete("code=x&state=y", undefined, meta)).rejects.toMatchObject({ reason: "rate_limited" });
    const events = await h.t.tessera.store.db
      .selectFrom("audit_events")
      .select("action")
      .where("ip", "=", "203.0.113.9")
      .orderBy("id")
      .execute();
    expect(events.map((e) => e.action)).toEqual(["auth.login_failed", "auth.login_failed", "auth.login_throttled"]);
    // Another address is not affected.
    await expect(service.complete("code=x&state=y", undefined, { ...meta, ip: "203.0.113.10" })).rejects.toMatchObject({
      reason: "state_mismatch",
    });
  });

  it("refuses a sign-in that took longer than the flow lives", async () => {
    const browser = new CookieBrowser();
    const answer = await throughProvider(h, browser, "olive");
    const flow = browser.cookie("127.0.0.1", "tessera_oidc")!;
    browser.setCookie(
      "127.0.0.1",
      "tessera_oidc",
      rewriteFlow(flow, (f) => (f[4] = Date.now() - 11 * 60_000)),
      CALLBACK,
    );
    await expectRefused(h, browser, answer, "expired");
  });
});

describe.each(await dialects())("TESSERA_OIDC_ONLY=true on %s", (dialect) => {
  let h: Harness;
  let owner: { session: string; csrf: string };

  beforeAll(async () => {
    h = await startBoth(dialect, true);
    const setup = await call(h.t.app, "POST", "/v1/setup", null, {
      email: "owner@acme.test",
      password: PASSWORD,
      name: "Olive Owner",
      organization: { name: "Acme" },
    });
    expect(setup.status, setup.raw).toBe(201);
    const browser = new CookieBrowser();
    await callback(browser, await throughProvider(h, browser, "olive"));
    owner = { session: browser.cookie("127.0.0.1", "tessera_session")!, csrf: browser.cookie("127.0.0.1", "tessera_csrf")! };
  });
  afterAll(async () => {
    await h?.t.close();
    await h?.provider.stop();
  });

  function expectDisabled(res: { status: number; body: { code: string }; raw: string }) {
    expect(res.status, res.raw).toBe(403);
    expect(res.body.code).toBe("passwords_disabled");
  }

  it("turns every password operation off with passwords_disabled, and the provider is the way in", async () => {
    expect((await call(h.t.app, "GET", "/v1/auth/methods")).body).toEqual({ password: false, oidc: { name: "Test IdP" } });
    expectDisabled(await call(h.t.app, "POST", "/v1/auth/login", null, { email: "owner@acme.test", password: PASSWORD }));
    await expect(login(h.t.app, "owner@acme.test")).rejects.toThrow(/403/);
    expectDisabled(await call(h.t.app, "POST", "/v1/auth/password-reset", null, { email: "owner@acme.test" }));
    expectDisabled(
      await call(h.t.app, "POST", "/v1/auth/password-reset/confirm", null, {
        token: `tsp_live_${"a".repeat(43)}`,
        password: PASSWORD,
      }),
    );
    expectDisabled(
      await call(h.t.app, "POST", "/v1/me/password", owner, { currentPassword: PASSWORD, newPassword: `${PASSWORD}!` }),
    );
    const me = await call(h.t.app, "GET", "/v1/me", owner);
    expect(me.body.user.email).toBe("owner@acme.test");
    const orgId = me.body.memberships[0].orgId as string;

    // An invitation cannot be accepted by choosing a password; signing in with the provider accepts it.
    const invited = await call(h.t.app, "POST", `/v1/orgs/${orgId}/invitations`, owner, {
      email: "invitee@acme.test",
      role: "admin",
    });
    const token = linkSecret(invited.body.acceptUrl);
    expectDisabled(await call(h.t.app, "POST", "/v1/invitations/accept", null, { token, name: "Ivy", password: PASSWORD }));
    const browser = new CookieBrowser();
    await callback(browser, await throughProvider(h, browser, "invitee"));
    const creds = {
      session: browser.cookie("127.0.0.1", "tessera_session")!,
      csrf: browser.cookie("127.0.0.1", "tessera_csrf")!,
    };
    const accepted = await call(h.t.app, "POST", "/v1/invitations/accept", creds, { token });
    expect(accepted.status, accepted.raw).toBe(200);
    expect(accepted.body.role).toBe("admin");
  });
});

describe("without a provider", () => {
  it("says so, and the OpenID Connect routes answer 404", async () => {
    const t = await startTestApp("sqlite");
    try {
      expect((await call(t.app, "GET", "/v1/auth/methods")).body).toEqual({ password: true, oidc: null });
      const start = await call(t.app, "POST", "/v1/auth/oidc/start", null, {});
      expect(start.status).toBe(404);
      expect((await call(t.app, "GET", `${CALLBACK}?code=x&state=y`)).status).toBe(404);
    } finally {
      await t.close();
    }
  });
});
