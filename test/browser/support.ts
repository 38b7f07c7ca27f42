import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

/** Browser tests drive Debian's Chromium through playwright-core (no downloaded browsers). */
export const CHROMIUM = process.env.TESSERA_CHROMIUM ?? "/usr/bin/chromium";
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
/**
 * The README's screenshots are refreshed on request (`TESSERA_UPDATE_SCREENSHOTS=1 npm test`); an
 * ordinary run still takes them, into a temporary directory (overwritten by each run), so that `npm test`
 * leaves the tree clean.
 */
export const SCREENSHOTS =
  process.env.TESSERA_UPDATE_SCREENSHOTS === "1" ? join(ROOT, "docs/screenshots") : join(tmpdir(), "tessera-screenshots");
export const PASSWORD = "correct horse battery staple";

/** Without Chromium the suite skips locally; under CI=true it runs and fails, never skips. */
export const shouldRun = existsSync(CHROMIUM) || process.env.CI === "true";

/** Builds the console once if `console/dist` is missing (CI builds it during `npm ci`). */
export function ensureConsoleBuilt(): void {
  if (existsSync(join(ROOT, "console/dist/index.html"))) return;
  if (!existsSync(join(ROOT, "console/node_modules"))) {
    execFileSync("npm", ["--prefix", "console", "ci", "--no-audit", "--no-fund"], { cwd: ROOT, stdio: "inherit" });
  }
  execFileSync("npm", ["--prefix", "console", "run", "build"], { cwd: ROOT, stdio: "inherit" });
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

export interface RunningServer {
  baseUrl: string;
  /** Its data directory (SQLite: `tessera.db` inside). */
  dataDir: string;
  /** Runs `tessera <args>` against the server's data (the operator's CLI); returns its stdout. */
  cli(args: string[]): string;
  stop(): Promise<void>;
}

/**
 * `tessera serve` as a user starts it (SPEC §8), on a free port (or `options.port`) with a fresh SQLite
 * data directory; `options.env` adds configuration (e.g. an OpenID Connect provider).
 */
export async function startServer(options: { env?: Record<string, string>; port?: number } = {}): Promise<RunningServer> {
  const dataDir = mkdtempSync(join(tmpdir(), "tessera-browser-"));
  const port = options.port ?? (await freePort());
  const env = {
    ...process.env,
    TESSERA_DATA_DIR: dataDir,
    TESSERA_PORT: String(port),
    TESSERA_HOST: "127.0.0.1",
    TESSERA_LOG_LEVEL: "warn",
    TESSERA_DATABASE_URL: "",
    TESSERA_REDIS_URL: "",
    // No mail server: invitation links are returned once to the inviter (SPEC §8), pointing here.
    TESSERA_SMTP_URL: "",
    TESSERA_PUBLIC_URL: `http://127.0.0.1:${port}`,
    ...options.env,
  };
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "serve"], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "inherit", "inherit"],
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`tessera serve exited with ${child.exitCode}`);
    try {
      const res = await fetch(`${baseUrl}/healthz`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error("tessera serve did not become healthy within 30 s");
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    baseUrl,
    dataDir,
    cli: (args) =>
      execFileSync(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
        cwd: ROOT,
        env,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      }),
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
        if (child.exitCode === null) child.kill("SIGKILL");
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-quic",
      "--no-first-run",
    ],
  });
}

/**
 * A page that records uncaught errors and Content-Security-Policy violations (the console's CSP has
 * no 'unsafe-eval'; zod must stay jitless), so each test can assert there were none.
 */
export async function openPage(
  browser: Browser,
  baseUrl: string,
): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext({
    viewport: { width: 1360, height: 860 },
    locale: "en-GB",
    timezoneId: "Europe/Rome",
  });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: baseUrl });
  // The browser's own CSP report does not reach page.on("console"); the DOM event does.
  await context.addInitScript(
    `document.addEventListener("securitypolicyviolation", (e) => console.error("CSP violation: " + e.violatedDirective + " " + e.blockedURI), true);`,
  );
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  page.on("console", (message) => {
    if (message.text().startsWith("CSP violation:")) errors.push(message.text());
  });
  return { context, page, errors };
}

/** Closes toasts so that screenshots show the screen, not the last notification. */
export async function dismissToasts(page: Page): Promise<void> {
  const buttons = page.getByRole("button", { name: /^(Close notification|Chiudi notifica)$/ });
  for (let i = (await buttons.count()) - 1; i >= 0; i--) {
    await buttons
      .nth(i)
      .click()
      .catch(() => undefined);
  }
  await page.waitForTimeout(300);
}

export async function screenshot(page: Page, name: string, fullPage = false): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage });
}

export interface VerifyAnswer {
  valid: boolean;
  code: string;
}

/** `POST /v1/verify` as the operator's backend calls it, with a verifier token. */
export async function verify(baseUrl: string, verifier: string, token: string, scopes?: string[]): Promise<VerifyAnswer> {
  const res = await fetch(`${baseUrl}/v1/verify`, {
    method: "POST",
    headers: { authorization: `Bearer ${verifier}`, "content-type": "application/json" },
    body: JSON.stringify(scopes ? { token, scopes } : { token }),
  });
  if (res.status !== 200) throw new Error(`verify answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as VerifyAnswer;
}

export async function signIn(page: Page, baseUrl: string, email: string, password = PASSWORD): Promise<void> {
  await page.goto(`${baseUrl}/`);
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/**
 * Invites `email` from the members page (which must be open) and returns the accept link the
 * server shows once when it has no mail server.
 */
export async function inviteMember(page: Page, email: string, roleLabel: string): Promise<string> {
  await page.getByRole("button", { name: "Invite member" }).click();
  const dialog = page.getByRole("dialog", { name: "Invite member" });
  await dialog.getByLabel("Email").fill(email);
  await dialog.getByLabel("Role").selectOption({ label: roleLabel });
  await dialog.getByRole("button", { name: "Send invitation" }).click();
  const shown = page.getByRole("dialog", { name: "Invitation link" });
  const link = (await shown.getByTestId("invitation-link").textContent())?.trim() ?? "";
  await shown.getByRole("button", { name: "Done" }).click();
  await shown.waitFor({ state: "detached" });
  return link;
}

/** The secret of an accept link (`…/accept-invitation#token=…`). */
export function invitationToken(link: string): string {
  return new URLSearchParams(new URL(link).hash.slice(1)).get("token") ?? "";
}

/** Accepts an invitation over HTTP as a new person would, creating their account. */
export async function acceptInvitation(baseUrl: string, link: string, name: string, password = PASSWORD): Promise<void> {
  const res = await fetch(`${baseUrl}/v1/invitations/accept`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token: invitationToken(link), name, password }),
  });
  if (res.status !== 200) throw new Error(`accept answered ${res.status}: ${await res.text()}`);
}
