import { AxeBuilder } from "@axe-core/playwright";
import type { Browser } from "playwright-core";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { until } from "../support/processes.js";
import { type Receiver, startReceiver } from "../support/webhook-receiver.js";
import { type ApiSession, setupOwner } from "./seed.js";
import { ensureConsoleBuilt, launchChromium, openPage, type RunningServer, shouldRun, startServer } from "./support.js";

/**
 * The console's Webhooks page (SPEC §10) in Chromium against a real server and a real receiver: create an
 * endpoint, copy the secret shown once, send a test and see it delivered in the log; the receiver checks
 * the signature with the Standard Webhooks library.
 */
describe.skipIf(!shouldRun)("the Webhooks page in Chromium", () => {
  let server: RunningServer;
  let browser: Browser;
  let receiver: Receiver;
  let session: ApiSession;
  let orgId = "";

  beforeAll(async () => {
    ensureConsoleBuilt();
    receiver = await startReceiver();
    server = await startServer({ env: { TESSERA_WEBHOOK_ALLOW_PRIVATE: "true", TESSERA_WEBHOOK_POLL_MS: "100" } });
    browser = await launchChromium();
    ({ session, orgId } = await setupOwner(server.baseUrl));
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await receiver?.close();
  });

  test("creates an endpoint, shows its secret once, and shows a test delivery", async () => {
    const { context, page, errors } = await openPage(browser, server.baseUrl);
    try {
      await session.shareWith(context);
      await page.goto(`${server.baseUrl}/orgs/${orgId}/webhooks`);
      await page.getByRole("heading", { name: "Webhooks", level: 1 }).waitFor();
      await page.getByRole("button", { name: "Add endpoint" }).click();
      const dialog = page.getByRole("dialog");
      await dialog.getByLabel("Endpoint URL").fill(receiver.url);
      await dialog.getByLabel("Description").fill("Billing system");
      await dialog.getByRole("checkbox", { name: "token.revoked" }).check();
      const axe = await new AxeBuilder({ page }).analyze();
      expect(axe.violations.map((v) => `${v.id}: ${v.help}`)).toEqual([]);
      await dialog.getByRole("button", { name: "Create endpoint" }).click();
      const secret = (await page.getByTestId("webhook-secret").textContent())?.trim() ?? "";
      expect(secret).toMatch(/^whsec_/);
      await page.getByRole("button", { name: "I have copied it" }).click();
      await page.getByRole("dialog").waitFor({ state: "detached" });
      // Shown once: nowhere on the page any more, nor in what the API lists.
      expect(await page.content()).not.toContain(secret);
      await page.getByRole("button", { name: "Send test" }).click();
      const log = page.getByTestId("webhook-deliveries");
      await log.getByText("Delivered").waitFor({ timeout: 20_000 });
      await expect(log.getByText("webhook.test").count()).resolves.toBe(1);
      const got = await until(async () => receiver.received.find((r) => r.json.type === "webhook.test"), 10_000, "test event");
      expect(new Webhook(secret).verify(got.body, got.headers)).toMatchObject({ type: "webhook.test", data: { orgId } });
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 120_000);
});
