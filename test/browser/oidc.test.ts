import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startOidcProvider, type TestProvider } from "../support/oidc.js";
import {
  ensureConsoleBuilt,
  freePort,
  launchChromium,
  openPage,
  PASSWORD,
  type RunningServer,
  screenshot,
  shouldRun,
  startServer,
} from "./support.js";

type Session = { context: BrowserContext; page: Page; errors: string[] };

/**
 * OpenID Connect sign-in in Chromium (issue 10 item 5): `tessera serve` configured with a real provider
 * (`oidc-provider` on another port); a person clicks "Sign in with Acme ID", signs in on the provider's own
 * login form, consents, and lands in the console. A provider answer Tessera refuses (an unverified email)
 * brings the person back to the sign-in page with the reason, in their language.
 */
describe.skipIf(!shouldRun)("OpenID Connect sign-in in Chromium", () => {
  let server: RunningServer;
  let provider: TestProvider;
  let browser: Browser;
  const opened: Session[] = [];

  async function fresh(locale?: "it"): Promise<Session> {
    const session = await openPage(browser, server.baseUrl);
    if (locale) await session.context.addInitScript("window.localStorage.setItem('tessera.language', 'it')");
    opened.push(session);
    return session;
  }

  /** The provider's development login form, then its consent form. */
  async function signInAtProvider(page: Page, account: string): Promise<void> {
    await page.waitForURL((url) => url.origin === provider.issuer);
    await page.locator('input[name="login"]').fill(account);
    await page.locator('input[name="password"]').fill("whatever the provider asks");
    await page.getByRole("button", { name: "Sign-in" }).click();
    await page.getByRole("button", { name: "Continue" }).click();
  }

  beforeAll(async () => {
    ensureConsoleBuilt();
    const port = await freePort();
    provider = await startOidcProvider({
      redirectUris: [`http://127.0.0.1:${port}/v1/auth/oidc/callback`],
      accounts: {
        ada: { email: "ada@example.com", email_verified: true, name: "Ada at Acme ID" },
        mallory: { email: "ada@example.com", email_verified: false, name: "Mallory" },
      },
    });
    server = await startServer({
      port,
      env: {
        TESSERA_OIDC_ISSUER: provider.issuer,
        TESSERA_OIDC_CLIENT_ID: provider.clientId,
        TESSERA_OIDC_CLIENT_SECRET: provider.clientSecret,
        TESSERA_OIDC_NAME: "Acme ID",
      },
    });
    const setup = await fetch(`${server.baseUrl}/v1/setup`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "ada@example.com", password: PASSWORD, name: "Ada Owner", organization: { name: "Acme" } }),
    });
    expect(setup.status).toBe(201);
    browser = await launchChromium();
  }, 240_000);

  afterAll(async () => {
    for (const session of opened) await session.context.close().catch(() => undefined);
    await browser?.close();
    await server?.stop();
    await provider?.stop();
  });

  test("signs in through the provider's login form and lands in the console", async () => {
    const { page, errors } = await fresh();
    await page.goto(`${server.baseUrl}/`);
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    // The password form is still there beside the provider (TESSERA_OIDC_ONLY is off).
    await page.getByLabel("Password").waitFor();
    await screenshot(page, "oidc-sign-in");
    await page.getByRole("button", { name: "Sign in with Acme ID" }).click();
    await signInAtProvider(page, "ada");
    await page.getByRole("heading", { name: "API tokens" }).waitFor();
    expect(new URL(page.url()).origin).toBe(server.baseUrl);
    await page.getByRole("button", { name: "Account menu for Ada Owner" }).waitFor();
    // A console session like the password one: HttpOnly session cookie and the readable CSRF cookie.
    const cookies = await page.context().cookies(server.baseUrl);
    expect(cookies.find((c) => c.name === "tessera_session")?.httpOnly).toBe(true);
    expect(cookies.find((c) => c.name === "tessera_csrf")?.httpOnly).toBe(false);
    expect(cookies.find((c) => c.name === "tessera_oidc")).toBeUndefined();
    // And it can act: create a token through the console's own dialog.
    await page.getByRole("button", { name: "Create token" }).click();
    const dialog = page.getByRole("dialog", { name: "Create API token" });
    await dialog.getByLabel("Name").fill("made after OIDC sign-in");
    await dialog.getByRole("button", { name: "Create token" }).click();
    await page.getByRole("dialog", { name: "Token created" }).waitFor();
    expect(errors).toEqual([]);
  }, 120_000);

  test("brings a refused sign-in back to the sign-in page with the reason, in Italian", async () => {
    const { page, errors } = await fresh("it");
    await page.goto(`${server.baseUrl}/`);
    await page.getByRole("heading", { name: "Accedi" }).waitFor();
    await page.getByRole("button", { name: "Accedi con Acme ID" }).click();
    await signInAtProvider(page, "mallory");
    const alert = page.getByRole("alert").filter({ hasText: "L'accesso con Acme ID non è riuscito" });
    await alert.waitFor();
    await expect(alert.textContent()).resolves.toContain("non ha verificato il tuo indirizzo email");
    expect(new URL(page.url()).searchParams.get("signin_error")).toBe("email_not_verified");
    const cookies = await page.context().cookies(server.baseUrl);
    expect(cookies.find((c) => c.name === "tessera_session")).toBeUndefined();
    expect(errors).toEqual([]);
  }, 90_000);

  test("no button without a provider; no password form under TESSERA_OIDC_ONLY", async () => {
    const plain = await startServer();
    try {
      await fetch(`${plain.baseUrl}/v1/setup`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email: "ada@example.com", password: PASSWORD, name: "Ada Owner", organization: { name: "Acme" } }),
      });
      const { page, errors } = await fresh();
      const methods = page.waitForResponse((r) => r.url().endsWith("/v1/auth/methods"));
      await page.goto(`${plain.baseUrl}/`);
      await page.getByRole("heading", { name: "Sign in" }).waitFor();
      expect(await (await methods).json()).toEqual({ password: true, oidc: null });
      await page.getByLabel("Password").waitFor();
      expect(await page.getByRole("button", { name: /with/ }).count()).toBe(0);
      expect(errors).toEqual([]);
    } finally {
      await plain.stop();
    }

    const port = await freePort();
    const only = await startOidcProvider({
      redirectUris: [`http://127.0.0.1:${port}/v1/auth/oidc/callback`],
      accounts: { ada: { email: "ada@example.com", email_verified: true } },
    });
    const strict = await startServer({
      port,
      env: {
        TESSERA_OIDC_ISSUER: only.issuer,
        TESSERA_OIDC_CLIENT_ID: only.clientId,
        TESSERA_OIDC_CLIENT_SECRET: only.clientSecret,
        TESSERA_OIDC_NAME: "Acme ID",
        TESSERA_OIDC_ONLY: "true",
      },
    });
    try {
      const setup = await fetch(`${strict.baseUrl}/v1/setup`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email: "ada@example.com", password: PASSWORD, name: "Ada Owner", organization: { name: "Acme" } }),
      });
      expect(setup.status).toBe(201);
      const { page, errors } = await fresh();
      await page.goto(`${strict.baseUrl}/`);
      await page.getByRole("button", { name: "Sign in with Acme ID" }).waitFor();
      expect(await page.getByLabel("Password").count()).toBe(0);
      expect(await page.getByRole("link", { name: "Forgot password?" }).count()).toBe(0);
      await screenshot(page, "oidc-only-sign-in");
      await page.getByRole("button", { name: "Sign in with Acme ID" }).click();
      await page.waitForURL((url) => url.origin === only.issuer);
      await page.locator('input[name="login"]').fill("ada");
      await page.locator('input[name="password"]').fill("x");
      await page.getByRole("button", { name: "Sign-in" }).click();
      await page.getByRole("button", { name: "Continue" }).click();
      await page.getByRole("heading", { name: "API tokens" }).waitFor();
      expect(errors).toEqual([]);
    } finally {
      await strict.stop();
      await only.stop();
    }
  }, 180_000);
});
