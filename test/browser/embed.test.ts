import type { Server } from "node:http";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { Browser, BrowserContext, Frame, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createHostApp } from "../../examples/host-app/app.js";
import { createEmbedSession } from "../../src/index.js";
import {
  ensureConsoleBuilt,
  freePort,
  launchChromium,
  openPage,
  type RunningServer,
  SCREENSHOTS,
  shouldRun,
  startServer,
} from "./support.js";

/**
 * The embedded tokens screen (SPEC §9, issue 10) in Chromium, with the host page and Tessera on different
 * origins: the host is examples/host-app on http://localhost:<port>, Tessera on http://127.0.0.1:<port>.
 * A second host origin (http://127.0.0.1:<hostPort>) is not in TESSERA_EMBED_ORIGINS and must be refused.
 */
describe.skipIf(!shouldRun)("embedded tokens screen in Chromium", () => {
  let server: RunningServer;
  let browser: Browser;
  let host: Server;
  let hostUrl = "";
  let unlistedUrl = "";
  let rootToken = "";
  const opened: BrowserContext[] = [];

  beforeAll(async () => {
    ensureConsoleBuilt();
    const hostPort = await freePort();
    hostUrl = `http://localhost:${hostPort}`;
    unlistedUrl = `http://127.0.0.1:${hostPort}`;
    server = await startServer({ env: { TESSERA_EMBED_ORIGINS: hostUrl } });
    rootToken = server.cli(["root-token", "create", "--name", "host-app"]).trim();
    const app = createHostApp({ tesseraUrl: server.baseUrl, rootToken });
    // A bare page that mounts a given URL and records every message (for the refusal cases).
    app.get("/raw", (req, res) => {
      res.send(`<!doctype html><title>raw</title><div id="t"></div><script src="${server.baseUrl}/embed.js"></script>
<script>window.tesseraMessages=[];TesseraEmbed.mount(document.getElementById("t"),{url:${JSON.stringify(String(req.query.url))},onMessage:(m)=>window.tesseraMessages.push(m)});</script>`);
    });
    host = await new Promise<Server>((resolve) => {
      const s = app.listen(hostPort, "127.0.0.1", () => resolve(s));
    });
    browser = await launchChromium();
  }, 240_000);

  afterAll(async () => {
    for (const context of opened) await context.close().catch(() => undefined);
    await browser?.close();
    await new Promise((r) => host?.close(r));
    await server?.stop();
  });

  async function open(): Promise<{ page: Page; errors: string[] }> {
    const { context, page, errors } = await openPage(browser, server.baseUrl);
    opened.push(context);
    return { page, errors };
  }

  async function signIn(page: Page, username: string): Promise<void> {
    await page.goto(`${hostUrl}/`);
    await page.getByLabel("User").fill(username);
    await page.getByLabel("Password").fill(username);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Settings → API tokens" }).waitFor();
  }

  /** What the host page recorded (`window.tesseraMessages`); page code is passed as text (no DOM types here). */
  const messages = (page: Page) => page.evaluate("window.tesseraMessages || []") as Promise<{ type: string; height?: number }[]>;

  async function waitForMessage(page: Page, type: string, timeout = 15_000): Promise<Record<string, unknown>> {
    const handle = await page.waitForFunction(
      `(window.tesseraMessages || []).find((m) => m.type === ${JSON.stringify(type)})`,
      undefined,
      { timeout },
    );
    return (await handle.jsonValue()) as Record<string, unknown>;
  }

  async function embedFrame(page: Page): Promise<Frame> {
    await waitForMessage(page, "tessera:ready");
    const frame = page.frames().find((f) => f.url().startsWith(`${server.baseUrl}/embed`));
    if (!frame) throw new Error(`no embed frame among ${page.frames().map((f) => f.url())}`);
    return frame;
  }

  function expireInDatabase(column: "handoff_expires_at" | "expires_at"): void {
    const db = new Database(join(server.dataDir, "tessera.db"));
    try {
      db.prepare(`update embed_sessions set ${column} = ? where ${column} is not null`).run(Date.now() - 1000);
    } finally {
      db.close();
    }
  }

  test("a token created inside the frame calls the host's API, owned by the host's user; the frame resizes", async () => {
    const { page, errors } = await open();
    await signIn(page, "alice");
    const frame = await embedFrame(page);
    await frame.getByRole("heading", { name: "API tokens" }).waitFor();
    await frame.getByRole("button", { name: "Create token" }).click();
    const dialog = frame.getByRole("dialog", { name: "Create API token" });
    await dialog.getByLabel("Name").fill("alice's script");
    await dialog.getByRole("button", { name: "Create token" }).click();
    const shown = frame.getByRole("dialog", { name: "Token created" });
    const secret = ((await shown.getByTestId("token-secret").textContent()) ?? "").trim();
    expect(secret).toMatch(/^tsr_live_/);
    const created = await waitForMessage(page, "tessera:token-created");
    expect(created.id).toMatch(/^tok_/);

    const api = await fetch(`${hostUrl}/api/projects`, { headers: { authorization: `Bearer ${secret}` } });
    expect(api.status).toBe(200);
    const body = (await api.json()) as { calledWith: { tokenId: string; ownerId: string } };
    expect(body.calledWith.tokenId).toBe(created.id);
    expect(body.calledWith.ownerId).toMatch(/^usr_/);
    expect((await fetch(`${hostUrl}/api/projects`)).status).toBe(401);

    // Resizing: the host's iframe takes the height the frame reports.
    const resizes = (await messages(page)).filter((m) => m.type === "tessera:resize");
    expect(resizes.length).toBeGreaterThan(0);
    const last = resizes[resizes.length - 1]!.height ?? 0;
    await page.waitForFunction(`document.querySelector("iframe").style.height === "${last}px"`);
    expect(last).toBeGreaterThan(320);
    // No cookie was set for the frame, and nothing broke.
    expect((await page.context().cookies(server.baseUrl)).length).toBe(0);
    expect(errors).toEqual([]);
  });

  test("a member sees only their own tokens", async () => {
    const { page } = await open();
    await signIn(page, "bob");
    const frame = await embedFrame(page);
    await frame
      .getByText("Only your own tokens are listed here")
      .or(frame.getByRole("heading", { name: "API tokens" }))
      .first()
      .waitFor();
    await frame.getByRole("button", { name: "Create token" }).click();
    const dialog = frame.getByRole("dialog", { name: "Create API token" });
    await dialog.getByLabel("Name").fill("bob's token");
    await dialog.getByRole("button", { name: "Create token" }).click();
    await frame
      .getByRole("dialog", { name: "Token created" })
      .getByRole("button", { name: /I've copied it|Done|Close/ })
      .first()
      .click();
    await frame.getByRole("cell", { name: "bob's token" }).or(frame.getByText("bob's token")).first().waitFor();
    expect(await frame.getByText("alice's script").count()).toBe(0);
  });

  test("a host origin not in TESSERA_EMBED_ORIGINS cannot frame it", async () => {
    const { page } = await open();
    const { url } = await createEmbedSession({
      url: server.baseUrl,
      token: rootToken,
      user: { externalId: "user-carol", email: "carol@example.test", name: "Carol" },
      organization: { externalId: "team-1", name: "Example Team" },
      role: "member",
    });
    await page.goto(`${unlistedUrl}/raw?url=${encodeURIComponent(url)}`);
    await page.waitForTimeout(3000);
    expect(await messages(page)).toEqual([]);
    const frame = page.frames().find((f) => f.url().startsWith(`${server.baseUrl}/embed`));
    expect(frame ? await frame.locator("[data-testid=embed-root]").count() : 0).toBe(0);
  });

  test("a reused or expired handoff is refused and the host is told the session ended", async () => {
    const mint = async () =>
      (
        await createEmbedSession({
          url: server.baseUrl,
          token: rootToken,
          user: { externalId: "user-dave", email: "dave@example.test", name: "Dave" },
          organization: { externalId: "team-1", name: "Example Team" },
          role: "member",
        })
      ).url;
    const reused = await mint();
    const first = await open();
    await first.page.goto(`${hostUrl}/raw?url=${encodeURIComponent(reused)}`);
    await waitForMessage(first.page, "tessera:ready");
    const second = await open();
    await second.page.goto(`${hostUrl}/raw?url=${encodeURIComponent(reused)}`);
    await waitForMessage(second.page, "tessera:session-expired");
    const frame = second.page.frames().find((f) => f.url().startsWith(`${server.baseUrl}/embed`))!;
    await frame.getByText("Session ended").waitFor();

    const late = await mint();
    expireInDatabase("handoff_expires_at");
    const third = await open();
    await third.page.goto(`${hostUrl}/raw?url=${encodeURIComponent(late)}`);
    await waitForMessage(third.page, "tessera:session-expired");
  });

  test("when the bearer ends, the frame posts tessera:session-expired (and the host app mints a new session)", async () => {
    const { page } = await open();
    await signIn(page, "bob");
    const frame = await embedFrame(page);
    await frame.getByRole("heading", { name: "API tokens" }).waitFor();
    expireInDatabase("expires_at");
    // The next call the screen makes (the create dialog reads the scope catalogue) meets the 401.
    await frame.getByRole("button", { name: "Create token" }).click();
    await waitForMessage(page, "tessera:session-expired");
    // The example host mints a new session and the frame comes back.
    await page.waitForFunction(`window.tesseraMessages.filter((m) => m.type === "tessera:ready").length >= 2`);
  });

  test("screenshots: the embedded screen, light and dark", async () => {
    for (const theme of ["light", "dark"] as const) {
      const { page } = await open();
      await signIn(page, "alice");
      await page.goto(`${hostUrl}/?theme=${theme}`);
      const frame = await embedFrame(page);
      await frame.getByText("alice's script").first().waitFor();
      const scheme = await frame.evaluate(`document.documentElement.getAttribute("data-mantine-color-scheme")`);
      expect(scheme).toBe(theme);
      await page.waitForTimeout(300);
      await page.screenshot({ path: join(SCREENSHOTS, `embed-${theme}.png`), fullPage: true });
    }
  });
});
