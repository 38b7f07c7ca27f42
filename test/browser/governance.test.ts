import { readFile } from "node:fs/promises";
import type { Browser, BrowserContext, Locator, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type ApiSession, createToken, type SeededToken, setupOwner, signInOverHttp } from "./seed.js";
import {
  acceptInvitation,
  ensureConsoleBuilt,
  launchChromium,
  openPage,
  type RunningServer,
  shouldRun,
  signIn,
  startServer,
} from "./support.js";

interface TokenAnswer {
  id: string;
  name: string;
  description: string | null;
  scopes: string[];
  allowedIps: string[] | null;
  metadata: Record<string, unknown> | null;
  expiresAt: string | null;
  lastUsedAt: string | null;
  status: string;
}

const DAY = 86_400_000;

/**
 * Daily governance in the console against the real API (issue 11): the edit dialog (every field, an
 * expiry brought forward, an extension beyond the organisation's policy refused with the API's words),
 * the list's search (name and display prefix), status/creator/"not used for" filters and sorts, row
 * selection with a bulk revoke (count confirmed, per-row results with one refusal), the token's recent
 * requests, the audit export (CSV and NDJSON files), and the `membersCanSeeTokens` setting.
 */
describe.skipIf(!shouldRun)("governance in Chromium", () => {
  let server: RunningServer;
  let browser: Browser;
  let owner: { context: BrowserContext; page: Page; errors: string[] };
  let session: ApiSession;
  let orgId = "";
  let verifier: SeededToken;

  beforeAll(async () => {
    ensureConsoleBuilt();
    server = await startServer();
    browser = await launchChromium();
    ({ session, orgId } = await setupOwner(server.baseUrl));
    owner = await openPage(browser, server.baseUrl);
    await session.shareWith(owner.context);
    verifier = await createToken(session, orgId, {
      name: "backend verifier",
      kind: "service",
      issuedFor: "backend",
      scopes: ["tokens:verify"],
    });
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  const tokenUrl = (id: string) => `${server.baseUrl}/orgs/${orgId}/tokens/${id}`;
  const getToken = (id: string) => session.call<TokenAnswer>("GET", `/v1/orgs/${orgId}/tokens/${id}`);

  /** `POST /v1/verify` from the operator's backend, passing the end user's IP and user agent. */
  async function verifyAs(secret: string, userAgent: string, scopes: string[]): Promise<string> {
    const res = await fetch(`${server.baseUrl}/v1/verify`, {
      method: "POST",
      headers: { authorization: `Bearer ${verifier.secret}`, "content-type": "application/json" },
      body: JSON.stringify({ token: secret, scopes, ip: "198.51.100.7", userAgent }),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { code: string }).code;
  }

  /**
   * Picks a day in the dialog's date picker, moving month by month from the one it opens on (the current
   * value's): day buttons are labelled `D MMMM YYYY` (en-GB).
   */
  async function pickDay(page: Page, scope: Locator, label: string, date: Date): Promise<void> {
    await scope.getByRole("button", { name: label }).click();
    const dayLabel = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "long", year: "numeric" }).format(date);
    const day = page.getByRole("button", { name: dayLabel, exact: true }).first();
    await page.getByRole("button", { name: "Next month" }).waitFor();
    for (let i = 0; i < 24 && !(await day.isVisible()); i++) {
      const shown = await page
        .getByRole("button", { name: /^\d{1,2} [A-Z][a-z]+ \d{4}$/ })
        .evaluateAll((els) => els.map((e) => Date.parse(e.getAttribute("aria-label") ?? "")));
      await page.getByRole("button", { name: date.getTime() < Math.min(...shown) ? "Previous month" : "Next month" }).click();
    }
    await day.click();
  }

  /** The names in the tokens table, in display order. */
  async function listedNames(page: Page): Promise<string[]> {
    const table = page.getByRole("table", { name: "API tokens" });
    return (await table.locator("tbody a[href*='/tokens/tok_']").allTextContents()).map((s) => s.trim());
  }

  /** Waits until the table shows exactly `names` (in this order when `ordered`). */
  async function expectListed(page: Page, names: string[], ordered = false): Promise<void> {
    const want = ordered ? names : [...names].sort();
    await expect
      .poll(
        async () => {
          if (names.length === 0 && (await page.getByText("No tokens match these filters").isVisible())) return [];
          const got = await listedNames(page);
          return ordered ? got : got.sort();
        },
        { timeout: 10_000 },
      )
      .toEqual(want);
  }

  test("edit dialog: every field, expiry brought forward with a time of day; an extension beyond the policy shows the API's error", async () => {
    const { page, errors } = owner;
    const token = await createToken(session, orgId, {
      name: "Billing sync",
      scopes: ["tokens:read", "tokens:write", "audit:read"],
      expiresInDays: 30,
    });
    await page.goto(tokenUrl(token.id));
    await page.getByRole("heading", { name: "Billing sync" }).waitFor();
    await page.getByRole("button", { name: "Edit" }).click();
    const dialog = page.getByRole("dialog", { name: "Edit token" });
    // Focus moves into the dialog, on its first field.
    await expect.poll(() => dialog.getByLabel("Name").evaluate((el) => el === el.ownerDocument.activeElement)).toBe(true);
    await dialog.getByLabel("Name").fill("Billing sync (EU)");
    await dialog.getByLabel("Description").fill("Nightly invoice export");
    await dialog.getByRole("checkbox", { name: "audit:read" }).uncheck();
    await dialog.getByLabel("Allowed IPs").fill("10.0.0.0/8\n2001:db8::/32");
    await dialog.getByLabel("Metadata").fill('{"team": "billing"}');
    await dialog.getByRole("radio", { name: "New date and time" }).check();
    const shorter = new Date(Date.now() + 10 * DAY);
    await pickDay(page, dialog, "Expiration date", shorter);
    await dialog.getByRole("textbox", { name: "Time" }).fill("17:30");
    await dialog.getByRole("button", { name: "Save changes" }).click();
    await dialog.waitFor({ state: "detached" });

    const day = `${shorter.getFullYear()}-${String(shorter.getMonth() + 1).padStart(2, "0")}-${String(shorter.getDate()).padStart(2, "0")}`;
    // The browser's time zone (Europe/Rome) decides what 17:30 means.
    const expected = await page.evaluate((d) => new Date(`${d}T17:30`).toISOString(), day);
    const edited = await getToken(token.id);
    expect(edited).toMatchObject({
      name: "Billing sync (EU)",
      description: "Nightly invoice export",
      scopes: ["tokens:read", "tokens:write"],
      allowedIps: ["10.0.0.0/8", "2001:db8::/32"],
      metadata: { team: "billing" },
      expiresAt: expected,
    });
    await page.getByRole("heading", { name: "Billing sync (EU)" }).waitFor();
    await page.getByText('"team": "billing"').waitFor();

    // The policy tightens while the console still holds the old one: the API refuses, the dialog says why.
    await session.call("PATCH", `/v1/orgs/${orgId}`, { settings: { maxExpiryDays: 20 } });
    await page.getByRole("button", { name: "Edit" }).click();
    await dialog.getByRole("radio", { name: "New date and time" }).check();
    await pickDay(page, dialog, "Expiration date", new Date(Date.now() + 60 * DAY));
    await dialog.getByRole("button", { name: "Save changes" }).click();
    await dialog.getByText("The token could not be changed").waitFor();
    await dialog.getByText("may be extended to at most 20 days from now (the organisation's maxExpiryDays)").first().waitFor();
    expect((await getToken(token.id)).expiresAt).toBe(expected);
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "detached" });
    await session.call("PATCH", `/v1/orgs/${orgId}`, { settings: { maxExpiryDays: null } });
    expect(errors).toEqual([]);
  }, 120_000);

  test("filters: name and display prefix search, status, creator, not used for N days, sort", async () => {
    const { page, errors } = owner;
    const invited = await session.call<{ acceptUrl: string }>("POST", `/v1/orgs/${orgId}/invitations`, {
      email: "ann@example.com",
      role: "admin",
    });
    await acceptInvitation(server.baseUrl, invited.acceptUrl, "Ann Admin");
    const ann = await signInOverHttp(server.baseUrl, "ann@example.com");
    const alpha = await createToken(session, orgId, { name: "alpha deploy", scopes: ["tokens:read"] });
    await createToken(session, orgId, { name: "Beta Deploy", scopes: ["tokens:read"] });
    const gamma = await createToken(ann, orgId, { name: "gamma backup", scopes: ["tokens:read"] });
    const delta = await createToken(ann, orgId, { name: "delta reports", scopes: ["tokens:read"] });
    await session.call("POST", `/v1/orgs/${orgId}/tokens/${delta.id}/suspend`);
    expect(await verifyAs(alpha.secret, "deploy-bot/1.0", ["tokens:read"])).toBe("VALID");
    // Use is recorded within seconds (SPEC §5), not at once.
    await expect.poll(async () => (await getToken(alpha.id)).lastUsedAt, { timeout: 15_000 }).not.toBeNull();

    await page.goto(`${server.baseUrl}/orgs/${orgId}/tokens`);
    await page.getByRole("heading", { name: "API tokens" }).waitFor();
    const search = page.getByLabel("Search tokens");

    // Name contains, case-insensitive.
    await search.fill("DEPLOY");
    await expectListed(page, ["alpha deploy", "Beta Deploy"]);
    // The display prefix people find in their logs, and a whole pasted secret.
    await search.fill(gamma.prefix);
    await expectListed(page, ["gamma backup"]);
    await search.fill(gamma.secret);
    await expectListed(page, ["gamma backup"]);
    await search.fill("no such token");
    await expectListed(page, []);
    await search.fill("");

    await page.getByLabel("Status").selectOption({ label: "Suspended" });
    await expectListed(page, ["delta reports"]);
    await page.getByLabel("Status").selectOption({ label: "Any" });

    await page.getByLabel("Created by").selectOption({ label: "Ann Admin" });
    await expectListed(page, ["gamma backup", "delta reports"]);
    await page.getByLabel("Created by").selectOption({ label: "Anyone" });

    // Never used, or not since N days: everything but the token just verified.
    await search.fill("deploy");
    await expectListed(page, ["alpha deploy", "Beta Deploy"]);
    await page.getByLabel("Not used for").selectOption({ label: "7 days" });
    await expectListed(page, ["Beta Deploy"]);
    await page.getByLabel("Not used for").selectOption({ label: "Any" });
    await page.getByLabel("Sort by").selectOption({ label: "Last used" });
    await expectListed(page, ["alpha deploy", "Beta Deploy"], true);
    await page.getByLabel("Order").selectOption({ label: "Ascending" });
    await expectListed(page, ["Beta Deploy", "alpha deploy"], true);

    // Names sort case-insensitively.
    await search.fill("a");
    await page.getByLabel("Sort by").selectOption({ label: "Name" });
    const ascending = ["alpha deploy", "backend verifier", "Beta Deploy", "delta reports", "gamma backup"];
    await expectListed(page, ascending, true);
    await page.getByLabel("Order").selectOption({ label: "Descending" });
    await expectListed(page, [...ascending].reverse(), true);
    expect(errors).toEqual([]);
  }, 120_000);

  test("bulk revoke: confirmation names the count; per-row results, one refused", async () => {
    const { page, errors } = owner;
    const names = ["bulk one", "bulk two", "bulk three"];
    const tokens = [];
    for (const name of names) tokens.push(await createToken(session, orgId, { name, scopes: ["tokens:read"] }));
    await page.goto(`${server.baseUrl}/orgs/${orgId}/tokens`);
    await page.getByLabel("Search tokens").fill("bulk");
    await expectListed(page, names);
    for (const name of names) await page.getByRole("checkbox", { name: `Select ${name}` }).check();
    const bar = page.getByRole("region", { name: "Bulk actions" });
    await bar.getByText("3 tokens selected").waitFor();
    // Someone else revokes one of them meanwhile: the batch checks each id as if alone.
    await session.call("POST", `/v1/orgs/${orgId}/tokens/${tokens[2]!.id}/revoke`, {});
    await bar.getByRole("button", { name: "Revoke", exact: true }).click();
    const confirm = page.getByRole("dialog", { name: "Revoke 3 tokens?" });
    await confirm.getByText("Revoking 3 tokens is immediate and irreversible").waitFor();
    await confirm.getByLabel("Reason (optional)").fill("quarterly clean-up");
    await confirm.getByRole("button", { name: "Revoke 3 tokens" }).click();
    const results = page.getByRole("dialog", { name: "Results" });
    await results.getByText("2 done, 1 failed.").waitFor();
    const list = results.getByRole("list", { name: "Results" });
    const row = (name: string) => list.getByRole("listitem").filter({ hasText: name });
    await row("bulk one").getByText("Done").waitFor();
    await row("bulk two").getByText("Done").waitFor();
    await row("bulk three").getByText("Failed").waitFor();
    await row("bulk three").getByText("Cannot revoke: the token is already revoked").waitFor();
    await results.getByRole("button", { name: "Close", exact: true }).click();
    for (const token of tokens) expect((await getToken(token.id)).status).toBe("revoked");
    expect(errors).toEqual([]);
  }, 120_000);

  test("recent requests on the token's page: time, outcome, IP, user agent, requested scopes", async () => {
    const { page, errors } = owner;
    const token = await createToken(session, orgId, { name: "Zapier", scopes: ["tokens:read"] });
    expect(await verifyAs(token.secret, "Zapier/2.1 (+https://zapier.com)", ["tokens:read"])).toBe("VALID");
    await new Promise((r) => setTimeout(r, 20));
    expect(await verifyAs(token.secret, "curl/8.5.0", ["tokens:write"])).toBe("INSUFFICIENT_SCOPE");
    await page.goto(tokenUrl(token.id));
    const table = page.getByRole("table", { name: "Recent requests" });
    // Recorded off the hot path (the usage batcher): reload until the batch is written.
    await expect
      .poll(
        async () => {
          await page.reload();
          await page.getByRole("heading", { name: "Recent requests" }).waitFor();
          return table.locator("tbody tr").count();
        },
        { timeout: 30_000, interval: 1_000 },
      )
      .toBe(2);
    const rows = table.locator("tbody tr");
    // Newest first.
    await expect.poll(() => rows.nth(0).textContent()).toContain("INSUFFICIENT_SCOPE");
    expect(await rows.nth(0).textContent()).toContain("curl/8.5.0");
    expect(await rows.nth(0).textContent()).toContain("tokens:write");
    expect(await rows.nth(1).textContent()).toContain("VALID");
    expect(await rows.nth(1).textContent()).toContain("Zapier/2.1 (+https://zapier.com)");
    expect(await rows.nth(1).textContent()).toContain("198.51.100.7");
    expect(errors).toEqual([]);
  }, 120_000);

  test("audit export: the CSV and NDJSON files hold the chained events", async () => {
    const { page, errors } = owner;
    await page.goto(`${server.baseUrl}/orgs/${orgId}/audit`);
    await page.getByRole("heading", { name: "Audit log" }).waitFor();
    const download = async (label: string) => {
      const [file] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: label }).click()]);
      expect(file.suggestedFilename()).toMatch(new RegExp(`^audit-${orgId}\\.(csv|ndjson)$`));
      return readFile((await file.path()) ?? "", "utf8");
    };

    const ndjson = (await download("Export NDJSON"))
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { seq: number; action: string; prevHash: string; hash: string; details: unknown });
    expect(ndjson.length).toBeGreaterThan(10);
    ndjson.forEach((event, i) => {
      expect(event.seq).toBe(i + 1);
      if (i > 0) expect(event.prevHash).toBe(ndjson[i - 1]!.hash);
    });
    const actions = new Set(ndjson.map((e) => e.action));
    for (const action of [
      "token.created",
      "token.updated",
      "token.scopes_changed",
      "token.revoked",
      "token.suspended",
      "org.settings_changed",
    ]) {
      if (!actions.has(action)) throw new Error(`${action} missing from the export: ${[...actions].join(", ")}`);
    }

    const csv = await download("Export CSV");
    const lines = csv.trimEnd().split(/\r?\n/);
    expect(lines[0]).toBe(
      "id,seq,at,orgId,action,actorType,actorId,actorName,targetType,targetId,targetName,ip,userAgent,traceId,details,prevHash,hash",
    );
    // The same events in the same order (a newer event, e.g. a login, may have been added in between).
    expect(lines.length - 1).toBeGreaterThanOrEqual(ndjson.length);
    ndjson.forEach((event, i) => {
      expect(lines[i + 1]!.endsWith(`,${event.prevHash},${event.hash}`)).toBe(true);
    });
    expect(errors).toEqual([]);
  }, 120_000);

  test("membersCanSeeTokens off in the organisation's settings: a member no longer sees the API tokens screen", async () => {
    const { page, errors } = owner;
    const invited = await session.call<{ acceptUrl: string }>("POST", `/v1/orgs/${orgId}/invitations`, {
      email: "max@example.com",
      role: "member",
    });
    await acceptInvitation(server.baseUrl, invited.acceptUrl, "Max Member");
    const member = await openPage(browser, server.baseUrl);
    try {
      const m = member.page;
      await signIn(m, server.baseUrl, "max@example.com");
      // On by default: the member sees the screen (their own tokens).
      await m.getByRole("link", { name: "API tokens" }).click();
      await m.getByRole("heading", { name: "API tokens" }).waitFor();

      await page.goto(`${server.baseUrl}/orgs/${orgId}/settings`);
      const toggle = page.getByRole("switch", { name: "Members can see the API tokens screen" });
      await expect.poll(() => toggle.isChecked()).toBe(true);
      await toggle.uncheck();
      await page.getByRole("button", { name: "Save changes" }).click();
      await page.getByText("Settings saved").waitFor();
      const org = await session.call<{ settings: { membersCanSeeTokens: boolean } }>("GET", `/v1/orgs/${orgId}`);
      expect(org.settings.membersCanSeeTokens).toBe(false);

      await m.goto(`${server.baseUrl}/orgs/${orgId}/settings`);
      await m.getByText("Your role: Member").waitFor();
      expect(await m.getByRole("link", { name: "API tokens" }).count()).toBe(0);
      await m.goto(`${server.baseUrl}/orgs/${orgId}/tokens`);
      await m.getByText("Not available for your role").waitFor();
      expect(await m.getByRole("table").count()).toBe(0);
      // The API agrees: the member's session cannot list tokens.
      const memberApi = await signInOverHttp(server.baseUrl, "max@example.com");
      await expect(memberApi.call("GET", `/v1/orgs/${orgId}/tokens`)).rejects.toThrow(/answered 403/);
      expect(member.errors).toEqual([]);
    } finally {
      await member.context.close();
    }
    expect(errors).toEqual([]);
  }, 120_000);
});
