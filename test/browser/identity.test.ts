import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
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
} from "./support.js";

type Session = { context: BrowserContext; page: Page; errors: string[] };

const NEW_PASSWORD = "a brand new passphrase 42";
const RESET_PASSWORD = "reset by link on a tuesday";

/** The pages load over a busy machine: wait as long as locators do (vitest's default is 1 s). */
const POLL = { timeout: 10_000 };

/** A field by its whole label (Mantine appends " *" to required ones): "Password", not "Confirm password". */
const field = (label: string) => new RegExp(`^${label}\\s*\\*?$`);

/**
 * Identity in the console (issues 9 and 16): a person joins by invitation and chooses their own
 * password; the link is shown once to the inviter (no mail server here); password change ends the
 * other sessions; sessions are listed and ended one by one or everywhere; an existing account signs
 * in as the invited email to accept; the accept page in Italian. No CSP violation on any page.
 */
describe.skipIf(!shouldRun)("identity pages in Chromium", () => {
  let server: RunningServer;
  let browser: Browser;
  let owner: Session;
  let orgPath = "";
  const opened: Session[] = [];

  async function fresh(locale?: "it"): Promise<Session> {
    const session = await openPage(browser, server.baseUrl);
    if (locale) await session.context.addInitScript("window.localStorage.setItem('tessera.language', 'it')");
    opened.push(session);
    return session;
  }

  /** Reloads `page` and waits for the sign-in screen: its session has ended. */
  async function expectSignedOut(page: Page): Promise<void> {
    await page.reload();
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
  }

  async function openAccount(page: Page, name: string): Promise<void> {
    await page.getByRole("button", { name: `Account menu for ${name}` }).click();
    await page.getByRole("menuitem", { name: "Account" }).click();
    await page.getByRole("heading", { name: "Account", level: 1 }).waitFor();
  }

  beforeAll(async () => {
    ensureConsoleBuilt();
    server = await startServer();
    browser = await launchChromium();
    owner = await openPage(browser, server.baseUrl);
    const { page } = owner;
    await page.goto(`${server.baseUrl}/`);
    await page.getByRole("heading", { name: "Set up Tessera" }).waitFor();
    await page.getByLabel("Your name").fill("Ada Owner");
    await page.getByLabel("Email").fill("ada@example.com");
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByLabel("Organisation name").fill("Acme");
    await page.getByRole("button", { name: "Create owner account" }).click();
    await page.getByRole("heading", { name: "API tokens" }).waitFor();
    orgPath = new URL(page.url()).pathname.replace(/\/tokens$/, "");
  }, 240_000);

  afterAll(async () => {
    for (const session of opened) await session.context.close().catch(() => undefined);
    await browser?.close();
    await server?.stop();
  });

  test("owner invites a member: the link is shown once; the new person creates their account and lands in the organisation", async () => {
    const { page, errors } = owner;
    await page.getByRole("link", { name: "Members" }).click();
    await page.getByRole("heading", { name: "Members" }).waitFor();
    await page.getByText("No invitations yet").waitFor();

    await page.getByRole("button", { name: "Invite member" }).click();
    const dialog = page.getByRole("dialog", { name: "Invite member" });
    // Only owners may invite owners; an owner is offered every role.
    expect(await dialog.getByLabel("Role").locator("option").allTextContents()).toEqual(["Owner", "Admin", "Member", "Viewer"]);
    await dialog.getByLabel("Email").fill("mia@example.com");
    await dialog.getByLabel("Role").selectOption({ label: "Member" });
    await page.waitForTimeout(300); // opening transition
    await screenshot(page, "invite-member-dialog");
    await dialog.getByRole("button", { name: "Send invitation" }).click();

    const shown = page.getByRole("dialog", { name: "Invitation link" });
    await shown.getByText(/shown only now, is valid for 7 days and works once/).waitFor();
    const link = (await shown.getByTestId("invitation-link").textContent())?.trim() ?? "";
    expect(link).toMatch(new RegExp(`^${server.baseUrl}/accept-invitation#token=.+`));
    await shown.getByRole("button", { name: "Copy link" }).click();
    await expect(page.evaluate("navigator.clipboard.readText()")).resolves.toBe(link);
    await dismissToasts(page);
    await screenshot(page, "invitation-link-shown-once");

    // Closed means gone: neither the page nor a reload shows the link again.
    await shown.getByRole("button", { name: "Done" }).click();
    await shown.waitFor({ state: "detached" });
    const invitations = page.getByRole("table", { name: "Invitations" });
    const row = invitations.getByRole("row", { name: /mia@example\.com/ });
    await row.getByText("Pending").waitFor();
    await row.getByText("Ada Owner").waitFor();
    expect(await page.content()).not.toContain(link);
    await page.reload();
    await row.getByText("Pending").waitFor();
    expect(await page.content()).not.toContain(link);

    // The invited person, in another browser, with the copied link.
    const mia = await fresh();
    await mia.page.goto(link);
    await mia.page.getByRole("heading", { name: "Join Acme" }).waitFor();
    const summary = mia.page.getByRole("table");
    await summary.getByRole("row", { name: /Role\s*Member/ }).waitFor();
    await summary.getByRole("row", { name: /Email\s*mia@example\.com/ }).waitFor();
    await summary.getByRole("row", { name: /Invited by\s*Ada Owner/ }).waitFor();
    await mia.page.getByRole("button", { name: "Sign in as mia@example.com to accept" }).waitFor();
    await screenshot(mia.page, "accept-invitation");

    // The form refuses a mismatched confirmation before asking the server.
    await mia.page.getByLabel("Your name").fill("Mia Member");
    await mia.page.getByLabel(field("Password")).fill(PASSWORD);
    await mia.page.getByLabel("Confirm password").fill(`${PASSWORD}!`);
    await mia.page.getByRole("button", { name: "Create account and join" }).click();
    await mia.page.getByText("The passwords do not match").waitFor();
    await mia.page.getByLabel("Confirm password").fill(PASSWORD);
    await mia.page.getByRole("button", { name: "Create account and join" }).click();
    await mia.page.getByRole("heading", { name: "API tokens" }).waitFor();
    expect(new URL(mia.page.url()).pathname).toBe(`${orgPath}/tokens`);
    await mia.page.getByRole("button", { name: "Account menu for Mia Member" }).waitFor();

    // Single use: the same link now says it is no longer valid.
    const again = await fresh();
    await again.page.goto(link);
    await again.page.getByRole("heading", { name: "Invitation not valid" }).waitFor();

    // The owner sees the invitation accepted and Mia among the members.
    await page.reload();
    await row.getByText("Accepted", { exact: true }).waitFor();
    await page.getByRole("table", { name: "Members" }).getByRole("cell", { name: "mia@example.com" }).waitFor();
    await dismissToasts(page);
    await screenshot(page, "members-invitations", true);

    // Removing a member says their personal tokens in this organisation are revoked.
    await page.getByRole("button", { name: "Remove Mia Member" }).click();
    const remove = page.getByRole("dialog", { name: "Remove member" });
    await remove.getByText(/personal tokens in this organisation are revoked/).waitFor();
    await remove.getByRole("button", { name: "Cancel" }).click();
    await remove.waitFor({ state: "detached" });
    expect(errors).toEqual([]);
    expect(mia.errors).toEqual([]);
    expect(again.errors).toEqual([]);
  }, 180_000);

  test("a member changes their password: the other session is signed out, this one stays", async () => {
    const [mia] = opened;
    if (!mia) throw new Error("the first test did not run");
    const laptop = await fresh();
    await signIn(laptop.page, server.baseUrl, "mia@example.com");
    await laptop.page.getByRole("heading", { name: "API tokens" }).waitFor();

    const { page } = mia;
    await openAccount(page, "Mia Member");
    const sessions = page.getByRole("table", { name: "Active sessions" });
    await expect.poll(() => sessions.getByRole("row").count(), POLL).toBe(3); // header + 2 sessions
    await sessions.getByText("This device").waitFor();
    await dismissToasts(page);
    await screenshot(page, "account", true);

    // A wrong current password is refused on its field; nothing changes.
    await page.getByLabel("Current password").fill("not my password at all");
    await page.getByLabel(field("New password")).fill(NEW_PASSWORD);
    await page.getByLabel("Confirm new password").fill(NEW_PASSWORD);
    await page.getByRole("button", { name: "Change password" }).click();
    await page.getByRole("alert").first().waitFor();
    await page.getByText("is not your current password", { exact: true }).waitFor(); // under the field
    await laptop.page.reload();
    await laptop.page.getByRole("heading", { name: "API tokens" }).waitFor();

    await page.getByLabel("Current password").fill(PASSWORD);
    await page.getByRole("button", { name: "Change password" }).click();
    await page.getByText("Password changed. Your other sessions were signed out.").waitFor();
    await expect.poll(() => sessions.getByRole("row").count(), POLL).toBe(2);
    await expectSignedOut(laptop.page);

    // This session still works; the old password no longer does, the new one does.
    await page.reload();
    await page.getByRole("heading", { name: "Account", level: 1 }).waitFor();
    await laptop.page.getByLabel("Email").fill("mia@example.com");
    await laptop.page.getByLabel("Password").fill(PASSWORD);
    await laptop.page.getByRole("button", { name: "Sign in" }).click();
    await laptop.page.getByRole("alert").waitFor();
    await laptop.page.getByLabel("Password").fill(NEW_PASSWORD);
    await laptop.page.getByRole("button", { name: "Sign in" }).click();
    await laptop.page.getByRole("heading", { name: "API tokens" }).waitFor();
    expect(mia.errors).toEqual([]);
    expect(laptop.errors).toEqual([]);
  }, 120_000);

  test("sessions: sign out one other session, then sign out everywhere", async () => {
    const [mia, , laptop] = opened;
    if (!mia || !laptop) throw new Error("the earlier tests did not run");
    const { page } = mia;
    await page.reload();
    const sessions = page.getByRole("table", { name: "Active sessions" });
    await expect.poll(() => sessions.getByRole("row").count(), POLL).toBe(3);

    // End the laptop's session from here (the current one has no per-row button).
    await expect(sessions.getByRole("button", { name: /^Sign out session on / }).count()).resolves.toBe(1);
    await sessions.getByRole("button", { name: /^Sign out session on / }).click();
    await page.getByText("Session signed out").waitFor();
    await expect.poll(() => sessions.getByRole("row").count(), POLL).toBe(2);
    await expectSignedOut(laptop.page);

    await signIn(laptop.page, server.baseUrl, "mia@example.com", NEW_PASSWORD);
    await laptop.page.getByRole("heading", { name: "API tokens" }).waitFor();
    await page.reload();
    await expect.poll(() => sessions.getByRole("row").count(), POLL).toBe(3);

    await page.getByRole("button", { name: "Sign out everywhere" }).click();
    const confirm = page.getByRole("dialog", { name: "Sign out everywhere?" });
    await confirm.getByText(/including this one/).waitFor();
    await confirm.getByRole("button", { name: "Sign out everywhere" }).click();
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    await expectSignedOut(page);
    await expectSignedOut(laptop.page);
    expect(mia.errors).toEqual([]);
    expect(laptop.errors).toEqual([]);
  }, 120_000);

  test("an existing account signs in as the invited email to accept, and returns to the invitation", async () => {
    const { page, errors } = owner;
    // A second organisation that invites Mia, who already has an account.
    await page.getByRole("button", { name: "Account menu for Ada Owner" }).click();
    await page.getByRole("menuitem", { name: "New organisation" }).click();
    const create = page.getByRole("dialog", { name: "New organisation" });
    await create.getByLabel("Organisation name").fill("Beta");
    await create.getByRole("button", { name: "Create organisation" }).click();
    await create.waitFor({ state: "detached" });
    await page.getByRole("link", { name: "Members" }).click();
    await page.getByRole("heading", { name: "Members" }).waitFor();
    const link = await inviteMember(page, "mia@example.com", "Viewer");

    // Signed in as someone else (the owner herself): explained, with a way out.
    await page.goto(link);
    await page.getByRole("heading", { name: "Join Beta" }).waitFor();
    await page.getByText("You are signed in as ada@example.com, but this invitation is for mia@example.com.").waitFor();

    // Not signed in: creating the account is refused (it exists); sign in as Mia instead.
    const mia = await fresh();
    await mia.page.goto(link);
    await mia.page.getByLabel("Your name").fill("Mia Again");
    await mia.page.getByLabel(field("Password")).fill(PASSWORD);
    await mia.page.getByLabel("Confirm password").fill(PASSWORD);
    await mia.page.getByRole("button", { name: "Create account and join" }).click();
    await mia.page.getByText("This email already has an account").waitFor();
    await mia.page.getByRole("button", { name: "Sign in as mia@example.com to accept" }).click();
    await mia.page.getByRole("heading", { name: "Sign in to accept" }).waitFor();
    await expect(mia.page.getByLabel("Email").inputValue()).resolves.toBe("mia@example.com");
    await mia.page.getByLabel("Password").fill(NEW_PASSWORD);
    await mia.page.getByRole("button", { name: "Sign in" }).click();
    await mia.page.getByRole("heading", { name: "Join Beta" }).waitFor();
    await mia.page.getByRole("button", { name: "Join Beta" }).click();
    await mia.page.getByRole("heading", { name: "Organisation" }).waitFor();
    await mia.page.getByText("Your role: Viewer").waitFor();

    // A viewer has no members page but may leave; the last owner may not.
    await mia.page.getByRole("button", { name: "Leave organisation" }).click();
    const leave = mia.page.getByRole("dialog", { name: "Leave organisation" });
    await leave.getByText(/personal tokens in this organisation are revoked/).waitFor();
    await leave.getByRole("button", { name: "Leave organisation" }).click();
    await mia.page.getByRole("heading", { name: "API tokens" }).waitFor(); // back in Acme
    expect(new URL(mia.page.url()).pathname).toBe(`${orgPath}/tokens`);

    // The owner, signed in as someone else on the invitation, signs out from there and back in.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByText("Create your account").waitFor();
    await signIn(page, server.baseUrl, "ada@example.com");
    await page.getByRole("heading", { name: "API tokens" }).waitFor();
    await page.goto(`${server.baseUrl}${orgPath}/members`);
    await page.getByRole("button", { name: "Leave organisation" }).click();
    const refused = page.getByRole("dialog", { name: "Leave organisation" });
    await refused.getByRole("button", { name: "Leave organisation" }).click();
    await refused.getByRole("alert").waitFor();
    await refused.getByRole("button", { name: "Cancel" }).click();
    expect(errors).toEqual([]);
    expect(mia.errors).toEqual([]);
  }, 180_000);

  test("password reset: requested from the login page without saying whether the account exists; the link sets a new password and ends every session", async () => {
    const visitor = await fresh();
    const { page } = visitor;
    await page.goto(`${server.baseUrl}/`);
    await page.getByRole("link", { name: "Forgot password?" }).click();
    await page.getByRole("heading", { name: "Reset your password" }).waitFor();
    expect(new URL(page.url()).pathname).toBe("/reset-password");
    await page.getByLabel("Email").fill("nobody@example.com");
    await page.getByRole("button", { name: "Send reset link" }).click();
    await page.getByText("If an account exists for nobody@example.com, we sent it a link.", { exact: false }).waitFor();

    // A link whose token is not valid: the new-password form, then the server's refusal.
    await page.goto(`${server.baseUrl}/reset-password#token=not-a-real-token`);
    await page.getByRole("heading", { name: "Choose a new password" }).waitFor();
    await page.getByLabel(field("New password")).fill(NEW_PASSWORD);
    await page.getByLabel("Confirm new password").fill(NEW_PASSWORD);
    await page.getByRole("button", { name: "Set new password" }).click();
    await page.getByRole("alert").waitFor();

    // Without SMTP the operator hands out the link (`tessera user reset-link`); Mia is signed in elsewhere.
    const [mia] = opened;
    if (!mia) throw new Error("the first test did not run");
    await signIn(mia.page, server.baseUrl, "mia@example.com", NEW_PASSWORD);
    await mia.page.getByRole("heading", { name: "API tokens" }).waitFor();
    const link = server.cli(["user", "reset-link", "--email", "mia@example.com"]).trim();
    expect(link).toMatch(new RegExp(`^${server.baseUrl}/reset-password#token=.+`));
    await page.goto(link);
    await page.getByRole("heading", { name: "Choose a new password" }).waitFor();
    await page.getByLabel(field("New password")).fill(RESET_PASSWORD);
    await page.getByLabel("Confirm new password").fill(RESET_PASSWORD);
    await page.getByRole("button", { name: "Set new password" }).click();
    await page.getByRole("heading", { name: "Password changed" }).waitFor();
    await expectSignedOut(mia.page);
    await page.getByRole("link", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    await page.getByLabel("Email").fill("mia@example.com");
    await page.getByLabel("Password").fill(RESET_PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "API tokens" }).waitFor();

    // Single use.
    await page.goto(link);
    await page.getByLabel(field("New password")).fill(NEW_PASSWORD);
    await page.getByLabel("Confirm new password").fill(NEW_PASSWORD);
    await page.getByRole("button", { name: "Set new password" }).click();
    await page.getByRole("alert").waitFor();
    expect(visitor.errors).toEqual([]);
  }, 90_000);

  test("Italian: the accept page", async () => {
    const { page } = owner;
    await page.goto(`${server.baseUrl}${orgPath}/members`);
    const link = await inviteMember(page, "vic@example.com", "Viewer");

    const vic = await fresh("it");
    await vic.page.goto(link);
    await vic.page.getByRole("heading", { name: "Unisciti a Acme" }).waitFor();
    await vic.page.getByText("Crea il tuo account").waitFor();
    await vic.page
      .getByRole("table")
      .getByRole("row", { name: /Ruolo\s*Osservatore/ })
      .waitFor();
    await vic.page.getByRole("button", { name: "Accedi come vic@example.com per accettare" }).waitFor();
    // Italian dates (e.g. "9 dic 2026").
    expect(await vic.page.getByRole("table").textContent()).toMatch(
      /\d{1,2} (gen|feb|mar|apr|mag|giu|lug|ago|set|ott|nov|dic) \d{4}/,
    );
    await screenshot(vic.page, "accept-invitation-it");

    await vic.page.getByLabel("Il tuo nome").fill("Vic Viewer");
    await vic.page.getByLabel(field("Password")).fill(PASSWORD);
    await vic.page.getByLabel("Conferma la password").fill(PASSWORD);
    await vic.page.getByRole("button", { name: "Crea account e unisciti" }).click();
    await vic.page.getByRole("heading", { name: "Organizzazione" }).waitFor();
    await vic.page.getByText("Il tuo ruolo: Osservatore").waitFor();
    expect(vic.errors).toEqual([]);
  }, 90_000);
});
