import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  acceptInvitation,
  dismissToasts,
  ensureConsoleBuilt,
  inviteMember,
  launchChromium,
  openPage,
  PASSWORD,
  type RunningServer,
  screenshot,
  shouldRun,
  signIn,
  startServer,
  verify,
} from "./support.js";

/**
 * The console in a real browser, driven by visible labels and roles (issue 4, "Tests"):
 * first-run setup → sign in → create a token → read the secret → verify it → revoke it in the UI
 * → verification refused; a member sees only their own tokens; a viewer has no tokens screen;
 * the Italian UI. The screenshots in docs/screenshots/ are taken along the way.
 */
describe.skipIf(!shouldRun)("console in Chromium", () => {
  let server: RunningServer;
  let browser: Browser;
  let owner: { context: BrowserContext; page: Page; errors: string[] };
  let orgUrl = "";
  let verifier = "";

  beforeAll(async () => {
    ensureConsoleBuilt();
    server = await startServer();
    browser = await launchChromium();
    owner = await openPage(browser, server.baseUrl);
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** Opens "Create token", fills the name and lets `configure` set the rest; returns the secret shown once. */
  async function createToken(page: Page, name: string, configure?: (dialog: ReturnType<Page["getByRole"]>) => Promise<void>) {
    await page.getByRole("button", { name: "Create token" }).click();
    const dialog = page.getByRole("dialog", { name: "Create API token" });
    await dialog.getByLabel("Name").fill(name);
    if (configure) await configure(dialog);
    await dialog.getByRole("button", { name: "Create token" }).click();
    const shown = page.getByRole("dialog", { name: "Token created" });
    await shown.getByText("Copy this token now. You won't be able to see it again.").waitFor();
    const secret = (await shown.getByTestId("token-secret").textContent())?.trim() ?? "";
    return { shown, secret };
  }

  test("first run: the setup screen creates the owner, who can sign out and in again", async () => {
    const { page, errors } = owner;
    await page.goto(`${server.baseUrl}/`);
    await page.getByRole("heading", { name: "Set up Tessera" }).waitFor();
    await page.getByLabel("Your name").fill("Ada Owner");
    await page.getByLabel("Email").fill("ada@example.com");
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByLabel("Organisation name").fill("Acme");
    await page.getByRole("button", { name: "Create owner account" }).click();
    await page.getByRole("heading", { name: "API tokens" }).waitFor();
    orgUrl = new URL(page.url()).pathname.replace(/\/tokens$/, "");
    expect(orgUrl).toMatch(/^\/orgs\/org_/);

    await page.getByRole("button", { name: "Account menu for Ada Owner" }).click();
    await page.getByRole("menuitem", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "Sign in" }).waitFor();

    // A wrong password shows the server's problem detail.
    await page.getByLabel("Email").fill("ada@example.com");
    await page.getByLabel("Password").fill("not the password at all");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").waitFor();

    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "API tokens" }).waitFor();
    expect(errors).toEqual([]);
  }, 90_000);

  test("create a token, read its secret once, verify it, revoke it in the UI: verification is refused", async () => {
    const { page, errors } = owner;

    // The backend's verifier: a service token holding only tokens:verify.
    const backend = await createToken(page, "Billing backend verifier", async (dialog) => {
      await dialog.getByLabel("Service").check();
      await dialog.getByLabel("Issued for").fill("Billing backend");
      await dialog.getByRole("button", { name: "Select none" }).click();
      await dialog.getByRole("checkbox", { name: "tokens:verify" }).check();
    });
    verifier = backend.secret;
    expect(verifier).toMatch(/^tsr_live_/);
    await backend.shown.getByRole("button", { name: "I have copied it" }).click();
    await backend.shown.waitFor({ state: "detached" });

    // The token under test, with the create dialog captured for the docs.
    await page.getByRole("button", { name: "Create token" }).click();
    const dialog = page.getByRole("dialog", { name: "Create API token" });
    await dialog.getByLabel("Name").fill("CI deploys");
    await dialog.getByLabel("Description").fill("GitHub Actions deploy job");
    await page.waitForTimeout(400); // opening transition
    await screenshot(page, "create-token-dialog");
    await dialog.getByLabel("30 days").check();
    await dialog.getByRole("button", { name: "Create token" }).click();
    const shown = page.getByRole("dialog", { name: "Token created" });
    await shown.getByText("Copy this token now. You won't be able to see it again.").waitFor();
    const secret = (await shown.getByTestId("token-secret").textContent())?.trim() ?? "";
    expect(secret).toMatch(/^tsr_live_[0-9A-Za-z]{36,}$/);
    await dismissToasts(page);
    await screenshot(page, "secret-shown-once");

    await shown.getByRole("button", { name: "Copy token" }).click();
    await expect(page.evaluate("navigator.clipboard.readText()")).resolves.toBe(secret);

    // Closed means gone: neither the page nor a reload shows it again.
    await shown.getByRole("button", { name: "I have copied it" }).click();
    await shown.waitFor({ state: "detached" });
    await page.getByRole("link", { name: "CI deploys" }).waitFor();
    expect(await page.content()).not.toContain(secret);
    await page.reload();
    await page.getByRole("link", { name: "CI deploys" }).waitFor();
    expect(await page.content()).not.toContain(secret);

    // One more token so the table shows a test-environment one.
    const zapier = await createToken(page, "Zapier", async (d) => {
      await d.getByLabel("Test").check();
      await d.getByLabel("Never").check();
    });
    await zapier.shown.getByRole("button", { name: "I have copied it" }).click();
    await zapier.shown.waitFor({ state: "detached" });

    await expect(verify(server.baseUrl, verifier, secret)).resolves.toMatchObject({ valid: true, code: "VALID" });
    await expect(verify(server.baseUrl, verifier, secret, ["billing:refund"])).resolves.toMatchObject({ valid: false });

    // Revoke in the UI: the confirmation says it is immediate and irreversible.
    await page.getByRole("button", { name: "Actions for CI deploys" }).click();
    await page.getByRole("menuitem", { name: "Revoke" }).click();
    const confirm = page.getByRole("dialog", { name: "Revoke token" });
    await confirm.getByText(/immediate and irreversible/).waitFor();
    await confirm.getByLabel("Reason (optional)").fill("Rotated after the CI migration");
    await confirm.getByRole("button", { name: "Revoke token" }).click();
    const row = page.getByRole("row", { name: /CI deploys/ });
    await row.getByText("Revoked", { exact: true }).waitFor();

    // SPEC §5: refused by every instance within 1 second of the change.
    let answer = await verify(server.baseUrl, verifier, secret);
    for (let i = 0; i < 10 && answer.valid; i++) {
      await new Promise((r) => setTimeout(r, 200));
      answer = await verify(server.baseUrl, verifier, secret);
    }
    expect(answer).toMatchObject({ valid: false, code: "REVOKED" });

    await dismissToasts(page);
    await screenshot(page, "tokens-table");

    // Detail: metadata, usage chart, history.
    await page.getByRole("link", { name: "CI deploys" }).click();
    await page.getByRole("heading", { name: "Usage" }).waitFor();
    await page.getByText("Hourly").click();
    await page.getByRole("heading", { name: "History" }).waitFor();
    await page.getByRole("table", { name: "Audit events" }).getByText("Token revoked").waitFor();
    await page.waitForTimeout(600); // chart animation
    await screenshot(page, "token-detail", true);

    await page.getByRole("link", { name: "Audit log" }).click();
    await page.getByRole("table", { name: "Audit events" }).getByText("Token revoked").first().waitFor();
    await screenshot(page, "audit-log");
    expect(errors).toEqual([]);
  }, 120_000);

  test("a member sees only their own tokens and cannot make service tokens", async () => {
    const { page, errors } = owner;
    await page.getByRole("link", { name: "Members" }).click();
    // People join by invitation and choose their own password (identity.test.ts covers the pages).
    for (const [email, name, role] of [
      ["mia@example.com", "Mia Member", "Member"],
      ["vic@example.com", "Vic Viewer", "Viewer"],
    ] as const) {
      const link = await inviteMember(page, email, role);
      await acceptInvitation(server.baseUrl, link, name);
    }
    await page.reload();
    // The invitations table shows the same emails and may render first: wait inside the members table.
    const membersTable = page.getByRole("table", { name: "Members" });
    await membersTable.getByRole("cell", { name: "vic@example.com" }).waitFor();
    expect(await membersTable.getByRole("cell", { name: "mia@example.com" }).count()).toBe(1);

    const member = await openPage(browser, server.baseUrl);
    try {
      await signIn(member.page, server.baseUrl, "mia@example.com");
      const p = member.page;
      await p.getByRole("heading", { name: "API tokens" }).waitFor();
      await p.getByText("No tokens yet").waitFor();
      expect(await p.getByRole("link", { name: "CI deploys" }).count()).toBe(0);

      await p.getByRole("button", { name: "Create token" }).click();
      const dialog = p.getByRole("dialog", { name: "Create API token" });
      await dialog.getByLabel("Name").waitFor();
      expect(await dialog.getByLabel("Service").count()).toBe(0);
      expect(await dialog.getByLabel("Issued for").count()).toBe(0);
      // Management scopes a member cannot grant are not offered.
      expect(await dialog.getByRole("checkbox", { name: "members:write" }).count()).toBe(0);
      await dialog.getByRole("button", { name: "Cancel" }).click();
      await dialog.waitFor({ state: "detached" });

      const own = await createToken(p, "Mia's laptop");
      await own.shown.getByRole("button", { name: "I have copied it" }).click();
      await own.shown.waitFor({ state: "detached" });
      const table = p.getByRole("table", { name: "API tokens" });
      await table.getByRole("link", { name: "Mia's laptop" }).waitFor();
      expect(await table.getByRole("link").count()).toBe(1);

      // Members may read the member list but not change it.
      await p.getByRole("link", { name: "Members" }).click();
      await p.getByRole("cell", { name: "ada@example.com" }).waitFor();
      expect(await p.getByRole("button", { name: "Invite member" }).count()).toBe(0);
      expect(await p.getByRole("table", { name: "Invitations" }).count()).toBe(0);
      expect(await p.getByRole("link", { name: "Audit log" }).count()).toBe(0);
      expect(member.errors).toEqual([]);
    } finally {
      await member.context.close();
    }
    expect(errors).toEqual([]);
  }, 120_000);

  test("a viewer has no tokens screen", async () => {
    const viewer = await openPage(browser, server.baseUrl);
    try {
      const p = viewer.page;
      await signIn(p, server.baseUrl, "vic@example.com");
      await p.getByRole("heading", { name: "Organisation" }).waitFor();
      await p.getByText("Your role: Viewer").waitFor();
      expect(await p.getByRole("link", { name: "API tokens" }).count()).toBe(0);
      expect(await p.getByRole("link", { name: "Members" }).count()).toBe(0);

      await p.goto(`${server.baseUrl}${orgUrl}/tokens`);
      await p.getByText("Not available for your role").waitFor();
      expect(await p.getByRole("button", { name: "Create token" }).count()).toBe(0);
      expect(await p.getByRole("table").count()).toBe(0);
      expect(viewer.errors).toEqual([]);
    } finally {
      await viewer.context.close();
    }
  }, 60_000);

  test("Italian: switchable at any time, remembered, dates localised", async () => {
    const { page, errors } = owner;
    await page.getByRole("link", { name: "API tokens" }).click();
    await page.getByRole("heading", { name: "API tokens" }).waitFor();
    await page.getByLabel("Language").selectOption({ label: "Italiano" });
    await page.getByRole("heading", { name: "Token API" }).waitFor();
    await page.getByRole("link", { name: "Registro attività" }).waitFor();
    await page.getByRole("columnheader", { name: "Ultimo utilizzo" }).waitFor();
    await page.getByRole("button", { name: "Crea token" }).waitFor();

    await page.reload();
    await page.getByRole("heading", { name: "Token API" }).waitFor();
    const table = page.getByRole("table", { name: "Token API" });
    await table.getByText("Revocato", { exact: true }).waitFor();
    await table.getByRole("cell", { name: "Mai" }).first().waitFor();
    // Italian month abbreviations in the dates (e.g. "23 nov 2026").
    expect(await table.textContent()).toMatch(/\d{1,2} (gen|feb|mar|apr|mag|giu|lug|ago|set|ott|nov|dic) \d{4}/);
    await screenshot(page, "tokens-table-it");

    await page.getByLabel("Lingua").selectOption({ label: "English" });
    await page.getByRole("heading", { name: "API tokens" }).waitFor();
    expect(errors).toEqual([]);
  }, 60_000);
});
