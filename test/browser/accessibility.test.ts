import { AxeBuilder } from "@axe-core/playwright";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type ApiSession, createToken, setupOwner } from "./seed.js";
import { ensureConsoleBuilt, launchChromium, openPage, type RunningServer, shouldRun, startServer } from "./support.js";

type Language = "en" | "it";

// Evaluated in the page (the test's own TypeScript has no DOM types).
const focusedText = (page: Page) => page.evaluate<string>(`(document.activeElement?.textContent ?? "").trim()`);
const focusInDialog = (page: Page) => page.evaluate<boolean>(`Boolean(document.activeElement?.closest("[role=dialog]"))`);

/** Every rule axe-core runs (all impacts), WCAG 2.x A/AA and best practices. */
async function axeViolations(page: Page): Promise<string[]> {
  const result = await new AxeBuilder({ page }).analyze();
  return result.violations.map(
    (v) =>
      `${v.id} (${v.impact}): ${v.help} — ${v.nodes
        .map((n) => n.target.join(" "))
        .slice(0, 5)
        .join(" | ")}`,
  );
}

/** A page is settled when its heading is shown, nothing is loading and transitions have ended. */
async function settled(page: Page): Promise<void> {
  await page.locator("h1").first().waitFor();
  await page.waitForLoadState("networkidle");
  await page
    .locator(".mantine-Loader-root")
    .first()
    .waitFor({ state: "detached", timeout: 10_000 })
    .catch(() => undefined);
  await page.waitForTimeout(400);
}

/**
 * Issue 11, item 7 (SPEC §7, WCAG 2.2 AA): no axe-core violation on any console page or dialog, in
 * English and Italian; create / copy / revoke with the keyboard only; focus moved into every
 * dialog; the tokens table usable at 1280 and 1024 px.
 */
describe.skipIf(!shouldRun)("console accessibility in Chromium", () => {
  let server: RunningServer;
  let browser: Browser;
  let session: ApiSession;
  let orgId = "";
  let tokenId = "";
  let acceptUrl = "";

  beforeAll(async () => {
    ensureConsoleBuilt();
    server = await startServer();
    browser = await launchChromium();
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  async function open(language: Language, signedIn: boolean): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
    const opened = await openPage(browser, server.baseUrl);
    await opened.context.addInitScript(`localStorage.setItem("tessera.language", "${language}")`);
    if (signedIn) await session.shareWith(opened.context);
    return opened;
  }

  test("the first-run setup screen has no violations (EN, IT)", async () => {
    for (const language of ["en", "it"] as const) {
      const { context, page } = await open(language, false);
      try {
        await page.goto(`${server.baseUrl}/`);
        await settled(page);
        expect(await axeViolations(page), `setup ${language}`).toEqual([]);
      } finally {
        await context.close();
      }
    }
    ({ session, orgId } = await setupOwner(server.baseUrl));
    // Every status the table can show, so that each badge and the greyed revoked row are checked.
    const tokens = [];
    for (const name of ["CI deploys", "Zapier", "Nightly export", "Old laptop", "Staging"]) {
      tokens.push(await createToken(session, orgId, { name, expiresInDays: 30, scopes: ["tokens:read", "org:read"] }));
    }
    tokenId = tokens[0]?.id ?? "";
    await session.call("PATCH", `/v1/orgs/${orgId}/tokens/${tokenId}`, {
      metadata: { team: "platform" },
      allowedIps: ["10.0.0.0/8"],
    });
    await session.call("POST", `/v1/orgs/${orgId}/tokens/${tokens[1]?.id}/suspend`);
    await session.call("POST", `/v1/orgs/${orgId}/tokens/${tokens[2]?.id}/deactivate`);
    await session.call("POST", `/v1/orgs/${orgId}/tokens/${tokens[3]?.id}/revoke`, { reason: "Lost" });
    await createToken(session, orgId, { name: "Partner sync", kind: "service", issuedFor: "Partner", environment: "test" });
    const invited = await session.call<{ acceptUrl: string }>("POST", `/v1/orgs/${orgId}/invitations`, {
      email: "mia@example.com",
      role: "member",
    });
    acceptUrl = invited.acceptUrl;
    // A webhook endpoint (TEST-NET: public, never answers), so the Webhooks page shows its table.
    await session.call("POST", `/v1/orgs/${orgId}/webhooks`, { url: "https://192.0.2.1/hook", description: "Billing" });
  }, 120_000);

  for (const language of ["en", "it"] as const) {
    test(`every page has no violations (${language})`, async () => {
      const signedOut = ["/", "/reset-password", new URL(acceptUrl).pathname + new URL(acceptUrl).hash];
      const signedIn = [
        `/orgs/${orgId}/tokens`,
        `/orgs/${orgId}/tokens/${tokenId}`,
        `/orgs/${orgId}/members`,
        `/orgs/${orgId}/audit`,
        `/orgs/${orgId}/webhooks`,
        `/orgs/${orgId}/settings`,
        "/account",
        `/orgs/${orgId}/no-such-page`,
      ];
      const found: string[] = [];
      for (const [paths, withSession] of [
        [signedOut, false],
        [signedIn, true],
      ] as const) {
        const { context, page, errors } = await open(language, withSession);
        try {
          for (const path of paths) {
            await page.goto(`${server.baseUrl}${path}`);
            await settled(page);
            const violations = await axeViolations(page);
            // Printed as found, so that a slow run still tells what to fix.
            if (violations.length > 0) console.log(`${language} ${path}:\n${violations.join("\n")}`);
            for (const v of violations) found.push(`${language} ${path}: ${v}`);
          }
          expect(errors).toEqual([]);
        } finally {
          await context.close();
        }
      }
      expect(found).toEqual([]);
    }, 400_000);
  }

  test("every dialog and menu has no violations and takes the focus", async () => {
    const { context, page, errors } = await open("en", true);
    const found: string[] = [];
    /** Opens a dialog, checks focus is inside it and axe finds nothing, then closes it. */
    async function check(name: string, openIt: () => Promise<void>, dialogName: string | RegExp) {
      await openIt();
      const dialog = page.getByRole("dialog", { name: dialogName });
      await dialog.waitFor();
      await page.waitForTimeout(500);
      const focusInside = await focusInDialog(page);
      if (!focusInside) found.push(`${name}: focus is not in the dialog`);
      const violations = await axeViolations(page);
      if (violations.length > 0) console.log(`${name}:\n${violations.join("\n")}`);
      for (const v of violations) found.push(`${name}: ${v}`);
      await page.keyboard.press("Escape");
      await dialog.waitFor({ state: "detached" });
    }
    try {
      await page.goto(`${server.baseUrl}/orgs/${orgId}/tokens`);
      await settled(page);
      await check("create token", () => page.getByRole("button", { name: "Create token" }).click(), "Create API token");
      for (const [item, title] of [
        ["Edit", "Edit token"],
        ["Regenerate", "Regenerate token"],
        ["Revoke", "Revoke token"],
      ] as const) {
        await check(
          item,
          async () => {
            await page.getByRole("button", { name: "Actions for Staging" }).click();
            await page.getByRole("menuitem", { name: item, exact: true }).click();
          },
          title,
        );
      }
      // The open row menu itself.
      await page.getByRole("button", { name: "Actions for Staging" }).click();
      await page.getByRole("menuitem", { name: "Revoke" }).waitFor();
      for (const v of await axeViolations(page)) found.push(`row menu: ${v}`);
      await page.keyboard.press("Escape");
      // Bulk: select two rows, the bar and its confirmation.
      await page.getByRole("checkbox", { name: "Select Staging" }).check();
      await page.getByRole("checkbox", { name: "Select CI deploys" }).check();
      await page.getByRole("region", { name: "Bulk actions" }).getByText("2 tokens selected").waitFor();
      for (const v of await axeViolations(page)) found.push(`bulk bar: ${v}`);
      await check(
        "bulk suspend",
        () => page.getByRole("region", { name: "Bulk actions" }).getByRole("button", { name: "Suspend" }).click(),
        "Suspend 2 tokens?",
      );
      expect(found).toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 300_000);

  /** Presses Tab until the focused element matches, as a keyboard user would. */
  async function tabTo(page: Page, matches: (el: { text: string; label: string | null }) => boolean, max = 80) {
    for (let i = 0; i < max; i++) {
      await page.keyboard.press("Tab");
      const focused = await page.evaluate<{ text: string; label: string | null }>(
        `({ text: (document.activeElement?.textContent ?? "").trim(), label: document.activeElement?.getAttribute("aria-label") ?? null })`,
      );
      if (matches(focused)) return;
    }
    throw new Error("focus never reached the element");
  }

  test("keyboard only: create a token, copy its secret, Escape asks before losing it, revoke it", async () => {
    const { context, page, errors } = await open("en", true);
    try {
      await page.goto(`${server.baseUrl}/orgs/${orgId}/tokens`);
      await settled(page);

      await tabTo(page, (el) => el.text === "Create token");
      await page.keyboard.press("Enter");
      const dialog = page.getByRole("dialog", { name: "Create API token" });
      await dialog.waitFor();
      await page.waitForTimeout(300);
      expect(await focusInDialog(page)).toBe(true);
      await page.keyboard.type("Keyboard token");
      await page.keyboard.press("Enter");

      const shown = page.getByRole("dialog", { name: "Token created" });
      const secret = (await shown.getByTestId("token-secret").textContent())?.trim() ?? "";
      expect(secret).toMatch(/^tsr_live_/);
      // Focus moved onto "Copy token" when the secret appeared.
      await expect.poll(() => focusedText(page)).toBe("Copy token");
      await page.keyboard.press("Enter");
      await expect.poll(() => page.evaluate("navigator.clipboard.readText()")).toBe(secret);

      // Escape asks first; keeping it open keeps the secret.
      await page.keyboard.press("Escape");
      await shown.getByText("Close without copying?").waitFor();
      await expect.poll(() => focusedText(page)).toBe("Keep it open");
      await page.keyboard.press("Enter");
      await shown.getByText("Close without copying?").waitFor({ state: "detached" });
      expect(await shown.getByTestId("token-secret").textContent()).toContain(secret);
      // Escape, then "Close anyway".
      await page.keyboard.press("Escape");
      await shown.getByText("Close without copying?").waitFor();
      await page.keyboard.press("Tab");
      expect(await focusedText(page)).toBe("Close anyway");
      await page.keyboard.press("Enter");
      await shown.waitFor({ state: "detached" });
      await page.getByRole("link", { name: "Keyboard token" }).waitFor();

      // Revoke through the row menu, with the keyboard.
      await tabTo(page, (el) => el.label === "Actions for Keyboard token");
      await page.keyboard.press("Enter");
      await page.getByRole("menuitem", { name: "Revoke" }).waitFor();
      for (let i = 0; i < 10 && (await focusedText(page)) !== "Revoke"; i++) await page.keyboard.press("ArrowDown");
      expect(await focusedText(page)).toBe("Revoke");
      await page.keyboard.press("Enter");
      const confirm = page.getByRole("dialog", { name: "Revoke token" });
      await confirm.waitFor();
      await page.waitForTimeout(300);
      expect(await focusInDialog(page)).toBe(true);
      await tabTo(page, (el) => el.text === "Revoke token", 10);
      await page.keyboard.press("Enter");
      await confirm.waitFor({ state: "detached" });
      await page
        .getByRole("row", { name: /Keyboard token/ })
        .getByText("Revoked", { exact: true })
        .waitFor();
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 120_000);

  test("the tokens table is usable at 1280 and 1024 px: nothing overflows the page, every row's actions are in view", async () => {
    for (const width of [1280, 1024]) {
      const { context, page } = await open("en", true);
      try {
        await page.setViewportSize({ width, height: 800 });
        await page.goto(`${server.baseUrl}/orgs/${orgId}/tokens`);
        await settled(page);
        const layout = await page.evaluate<{
          pageWidth: number;
          viewport: number;
          buttons: { label: string | null; right: number; reachable: boolean }[];
        }>(`(() => {
          const buttons = [...document.querySelectorAll('[aria-label^="Actions for"]')];
          return {
            pageWidth: document.documentElement.scrollWidth,
            viewport: window.innerWidth,
            buttons: buttons.map((b) => {
              // Scrolled to vertically only: a horizontal scroll would hide the very cut-off looked for.
              window.scrollTo(0, b.getBoundingClientRect().top + window.scrollY - window.innerHeight / 2);
              const r = b.getBoundingClientRect();
              const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
              return { label: b.getAttribute("aria-label"), right: r.right, reachable: Boolean(hit && b.contains(hit)) };
            }),
          };
        })()`);
        expect(layout.pageWidth, `${width}px page width`).toBeLessThanOrEqual(layout.viewport);
        expect(layout.buttons.length).toBeGreaterThanOrEqual(5);
        for (const b of layout.buttons) {
          expect(b.right, `${width}px ${b.label}`).toBeLessThanOrEqual(layout.viewport);
          expect(b.reachable, `${width}px ${b.label} is covered or cut off`).toBe(true);
        }
        // And it works there: the last row's menu opens.
        const last = layout.buttons[layout.buttons.length - 1]?.label ?? "";
        await page.getByRole("button", { name: last }).click();
        await page.getByRole("menuitem", { name: "View details" }).waitFor();
      } finally {
        await context.close();
      }
    }
  }, 120_000);
});
