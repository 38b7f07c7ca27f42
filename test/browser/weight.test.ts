import { request as httpRequest } from "node:http";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type ApiSession, createToken, setupOwner } from "./seed.js";
import { ensureConsoleBuilt, launchChromium, openPage, type RunningServer, shouldRun, startServer } from "./support.js";

/** SPEC §7: the first screen loads at most 200 KB of gzip'd JavaScript. */
const FIRST_SCREEN_BUDGET = 200 * 1000;
const IMMUTABLE = "public, max-age=31536000, immutable";
/** vite.config.ts compresses files from 1 KiB. */
const MIN_COMPRESSED = 1024;

interface Fetched {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Bytes on the wire (compressed when the server compressed). */
  bytes: number;
}

/** A raw GET (no transparent decompression, unlike fetch) to see what the server really sends. */
function rawGet(url: string, headers: Record<string, string> = {}): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers }, (res) => {
      let bytes = 0;
      res.on("data", (chunk: Buffer) => {
        bytes += chunk.length;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/**
 * The console's weight as a browser sees it (issue 11, item 8): every script of a first load, its
 * encoding and caching, and the gzip'd total against the budget.
 */
describe.skipIf(!shouldRun)("console weight and caching", () => {
  let server: RunningServer;
  let browser: Browser;
  let session: ApiSession;
  let orgId = "";
  let tokenId = "";

  beforeAll(async () => {
    ensureConsoleBuilt();
    server = await startServer();
    browser = await launchChromium();
    ({ session, orgId } = await setupOwner(server.baseUrl));
    for (const name of ["CI deploys", "Zapier", "Billing backend"]) {
      tokenId = (await createToken(session, orgId, { name, expiresInDays: 30 })).id;
    }
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** Loads `path` in a fresh context (empty cache) and returns the scripts it fetched, once idle. */
  async function firstLoad(path: string, signedIn: boolean, ready: (page: Page) => Promise<void>) {
    const { context, page, errors } = await openPage(browser, server.baseUrl);
    try {
      if (signedIn) await session.shareWith(context);
      const scripts = new Map<string, string | undefined>();
      page.on("response", (response) => {
        if (response.request().resourceType() === "script") scripts.set(response.url(), response.headers()["content-encoding"]);
      });
      await page.goto(`${server.baseUrl}${path}`);
      await ready(page);
      await page.waitForLoadState("networkidle");
      expect(errors).toEqual([]);
      return scripts;
    } finally {
      await context.close();
    }
  }

  async function gzipTotal(urls: Iterable<string>): Promise<number> {
    let total = 0;
    const sizes: string[] = [];
    for (const url of urls) {
      const gz = await rawGet(url, { "accept-encoding": "gzip" });
      expect(gz.status, url).toBe(200);
      // Files under 1 KiB are not worth compressing (vite.config.ts) and go as they are.
      if (gz.bytes >= MIN_COMPRESSED) expect(gz.headers["content-encoding"], url).toBe("gzip");
      total += gz.bytes;
      sizes.push(`${new URL(url).pathname} ${(gz.bytes / 1000).toFixed(1)}`);
    }
    console.log(sizes.join("\n"));
    return total;
  }

  test("the signed-in first screen (API tokens) loads at most 200 KB of gzip'd JavaScript, without the chart library", async () => {
    const scripts = await firstLoad("/", true, async (page) => {
      await page.getByRole("heading", { name: "API tokens" }).waitFor();
      await page.getByRole("link", { name: "CI deploys" }).waitFor();
    });
    expect(scripts.size).toBeGreaterThan(1);
    // Chromium asks for brotli and gets it (for every file big enough to be compressed).
    for (const [url, encoding] of scripts) {
      if ((await rawGet(url)).bytes >= MIN_COMPRESSED) expect(encoding, url).toBe("br");
    }
    expect([...scripts.keys()].some((url) => /usage-chart/.test(url))).toBe(false);
    const total = await gzipTotal(scripts.keys());
    console.log(`first screen (API tokens): ${scripts.size} scripts, ${(total / 1000).toFixed(1)} KB gzip'd`);
    expect(total).toBeLessThanOrEqual(FIRST_SCREEN_BUDGET);
  }, 60_000);

  test("the sign-in screen loads at most 200 KB of gzip'd JavaScript", async () => {
    const scripts = await firstLoad("/", false, async (page) => {
      await page.getByRole("heading", { name: "Sign in" }).waitFor();
    });
    const total = await gzipTotal(scripts.keys());
    console.log(`first screen (sign in): ${scripts.size} scripts, ${(total / 1000).toFixed(1)} KB gzip'd`);
    expect(total).toBeLessThanOrEqual(FIRST_SCREEN_BUDGET);
  }, 60_000);

  test("the embedded tokens screen (/embed, SPEC §9) loads at most 200 KB of gzip'd JavaScript", async () => {
    const root = server.cli(["root-token", "create", "--name", "weight"]).trim();
    const minted = await fetch(`${server.baseUrl}/v1/embed/sessions`, {
      method: "POST",
      headers: { authorization: `Bearer ${root}`, "content-type": "application/json" },
      body: JSON.stringify({
        user: { externalId: "weight-user", email: "weight-user@host.test", name: "Weight" },
        organization: { externalId: "weight-org", name: "Weight Org" },
        role: "owner",
      }),
    });
    expect(minted.status).toBe(201);
    const url = new URL(((await minted.json()) as { url: string }).url);
    const scripts = await firstLoad(`${url.pathname}${url.hash}`, false, async (page) => {
      await page.getByRole("heading", { name: "API tokens" }).waitFor({ timeout: 30_000 });
    });
    expect([...scripts.keys()].some((u) => /usage-chart/.test(u))).toBe(false);
    const total = await gzipTotal(scripts.keys());
    console.log(`first screen (embedded tokens): ${scripts.size} scripts, ${(total / 1000).toFixed(1)} KB gzip'd`);
    expect(total).toBeLessThanOrEqual(FIRST_SCREEN_BUDGET);
  }, 60_000);

  test("the chart library loads with the token detail page only", async () => {
    const scripts = await firstLoad(`/orgs/${orgId}/tokens/${tokenId}`, true, async (page) => {
      // The chart arrives after the rest of the page (its own chunk); the machine may be busy.
      await page.getByRole("heading", { name: "Usage" }).waitFor({ timeout: 30_000 });
      await page.locator(".recharts-wrapper").first().waitFor({ timeout: 30_000 });
    });
    expect([...scripts.keys()].some((url) => /usage-chart/.test(url))).toBe(true);
  }, 60_000);

  test("hashed assets are precompressed (br, gzip) and immutable; index.html is revalidated", async () => {
    const html = await (await fetch(`${server.baseUrl}/`)).text();
    const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1] ?? "");
    expect(assets.some((a) => a.endsWith(".js"))).toBe(true);
    expect(assets.some((a) => a.endsWith(".css"))).toBe(true);
    for (const asset of assets) {
      const url = `${server.baseUrl}${asset}`;
      const identity = await rawGet(url);
      const br = await rawGet(url, { "accept-encoding": "br, gzip" });
      const gz = await rawGet(url, { "accept-encoding": "gzip" });
      for (const answer of [identity, br, gz]) {
        expect(answer.status, asset).toBe(200);
        expect(answer.headers["cache-control"], asset).toBe(IMMUTABLE);
        expect(answer.headers.vary, asset).toMatch(/accept-encoding/i);
      }
      expect(identity.headers["content-encoding"], asset).toBeUndefined();
      if (identity.bytes < MIN_COMPRESSED) continue;
      expect(br.headers["content-encoding"], asset).toBe("br");
      expect(gz.headers["content-encoding"], asset).toBe("gzip");
      expect(br.bytes).toBeLessThan(gz.bytes);
      expect(gz.bytes).toBeLessThan(identity.bytes / 2);
      expect(String(br.headers["content-type"])).toMatch(asset.endsWith(".js") ? /javascript/ : /text\/css/);
    }
    // The page itself (and the SPA fallback for deep links) is always revalidated.
    for (const path of ["/", "/index.html", `/orgs/${orgId}/tokens`]) {
      const page = await rawGet(`${server.baseUrl}${path}`, { accept: "text/html", "accept-encoding": "br, gzip" });
      expect(page.status, path).toBe(200);
      expect(page.headers["cache-control"], path).toBe("no-cache");
    }
  }, 60_000);
});
