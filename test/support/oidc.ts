import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import Provider from "oidc-provider";

/**
 * A real OpenID Provider for tests: panva's `oidc-provider` (the certified implementation) on a free
 * 127.0.0.1 port, with one confidential client for Tessera and accounts whose claims the test chooses.
 * Its development login form (`devInteractions`) signs in whichever account id is typed in the "login"
 * field, then asks for consent: tests submit both forms, as a person would.
 */
export interface TestAccount {
  email?: string;
  email_verified?: boolean;
  name?: string;
}

export interface TestProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Accounts by id (the `sub`); tests may add or change them while the provider runs. */
  accounts: Map<string, TestAccount>;
  stop(): Promise<void>;
}

export const OIDC_CLIENT_ID = "tessera-console";
export const OIDC_CLIENT_SECRET = "a-test-client-secret-of-sufficient-length";

/**
 * Starts the provider. `redirectUris` are Tessera's callbacks (`<publicUrl>/v1/auth/oidc/callback`);
 * `issuerHost` lets a test give the provider another name than the address Tessera reaches it at (an
 * issuer mismatch).
 */
export async function startOidcProvider(options: {
  redirectUris: string[];
  accounts?: Record<string, TestAccount>;
  issuerHost?: string;
}): Promise<TestProvider> {
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.writeHead(503).end();
  const server: Server = createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const issuer = `http://${options.issuerHost ?? "127.0.0.1"}:${port}`;
  const accounts = new Map(Object.entries(options.accounts ?? {}));
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: OIDC_CLIENT_ID,
        client_secret: OIDC_CLIENT_SECRET,
        redirect_uris: options.redirectUris,
        grant_types: ["authorization_code"],
        response_types: ["code"],
        token_endpoint_auth_method: "client_secret_basic",
      },
    ],
    async findAccount(_ctx, id) {
      const account = accounts.get(id);
      if (!account) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, ...account }) };
    },
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
    // Required for every client, so that a Tessera that forgot PKCE would fail here.
    pkce: { required: () => true },
    cookies: { keys: ["test-cookie-signing-key"] },
    ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600, AuthorizationCode: 60 },
    features: { devInteractions: { enabled: true } },
    // Keep the development-only warnings and every error out of the test output.
    renderError: async (ctx, out) => {
      ctx.type = "json";
      ctx.body = out;
    },
  });
  // The provider's own logging of its development defaults is noise in a test run.
  provider.on("server_error", () => {});
  handler = provider.callback();
  return {
    issuer,
    clientId: OIDC_CLIENT_ID,
    clientSecret: OIDC_CLIENT_SECRET,
    accounts,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * A minimal browser for HTTP-level tests: `fetch` with redirects followed by hand and a cookie jar that
 * keeps cookies per host and path like a browser (ports share cookies, as in browsers).
 */
export class CookieBrowser {
  readonly #jar = new Map<string, { value: string; path: string; host: string }>();

  cookie(host: string, name: string): string | undefined {
    return this.#jar.get(`${host}|${name}`)?.value;
  }

  /** Sets a cookie as another page on the same site could (an attacker's injection, in a test). */
  setCookie(host: string, name: string, value: string, path = "/"): void {
    this.#jar.set(`${host}|${name}`, { value, path, host });
  }

  #cookieHeader(url: URL): string {
    const parts: string[] = [];
    for (const [key, c] of this.#jar) {
      if (c.host === url.hostname && url.pathname.startsWith(c.path)) parts.push(`${key.split("|")[1]}=${c.value}`);
    }
    return parts.join("; ");
  }

  #store(url: URL, response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(";").map((s) => s.trim());
      const eq = pair!.indexOf("=");
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      let path = "/";
      let expired = false;
      for (const attribute of attributes) {
        const [k, v] = attribute.split("=");
        const key = k!.toLowerCase();
        if (key === "path" && v) path = v;
        if (key === "max-age" && Number(v) <= 0) expired = true;
        if (key === "expires" && v && Date.parse(v) <= Date.now()) expired = true;
      }
      if (expired || value === "") this.#jar.delete(`${url.hostname}|${name}`);
      else this.#jar.set(`${url.hostname}|${name}`, { value, path, host: url.hostname });
    }
  }

  /** One request, no redirect followed. */
  async request(url: string | URL, init: RequestInit = {}): Promise<Response> {
    const target = new URL(url);
    const headers = new Headers(init.headers);
    const cookie = this.#cookieHeader(target);
    if (cookie) headers.set("cookie", cookie);
    const response = await fetch(target, { ...init, headers, redirect: "manual" });
    this.#store(target, response);
    return response;
  }

  /**
   * Follows redirects from `url` until a page answers (not 3xx) or `stopAt` matches a redirect target
   * (returned unfollowed). Returns the last response and its URL.
   */
  async follow(
    url: string | URL,
    init: RequestInit = {},
    stopAt?: (next: URL) => boolean,
  ): Promise<{ response: Response; url: URL; stoppedAt?: URL }> {
    let current = new URL(url);
    let response = await this.request(current, init);
    for (let hops = 0; hops < 20; hops++) {
      const location = response.headers.get("location");
      if (response.status < 300 || response.status >= 400 || !location) return { response, url: current };
      await response.arrayBuffer();
      const next = new URL(location, current);
      if (stopAt?.(next)) return { response, url: current, stoppedAt: next };
      current = next;
      response = await this.request(current);
    }
    throw new Error(`too many redirects from ${String(url)}`);
  }

  /** Submits the first form of an HTML page (the provider's login or consent page) with `fields`. */
  async submitForm(page: { response: Response; url: URL }, fields: Record<string, string>, stopAt?: (next: URL) => boolean) {
    const html = await page.response.text();
    const form = /<form[^>]*action="([^"]+)"[^>]*method="post"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
    if (!form) throw new Error(`no form on ${page.url.href}: ${html.slice(0, 300)}`);
    const body = new URLSearchParams();
    for (const input of form[2]!.matchAll(/<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g)) {
      body.set(input[1]!, input[2]!);
    }
    for (const [k, v] of Object.entries(fields)) body.set(k, v);
    const action = new URL(form[1]!.replace(/&amp;/g, "&"), page.url);
    return this.follow(
      action,
      { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: body.toString() },
      stopAt,
    );
  }
}
