import type { BrowserContext } from "playwright-core";
import { PASSWORD } from "./support.js";

/** A console session driven over HTTP (cookie + double-submit CSRF header), to seed data quickly. */
export interface ApiSession {
  cookies: { name: string; value: string }[];
  call<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  /** Lets a browser context share the session (skips the sign-in screen). */
  shareWith(context: BrowserContext): Promise<void>;
}

function sessionFrom(baseUrl: string, setCookies: string[]): ApiSession {
  const cookies = setCookies.map((c) => {
    const [pair = ""] = c.split(";");
    const i = pair.indexOf("=");
    return { name: pair.slice(0, i), value: pair.slice(i + 1) };
  });
  const header = cookies.map((c) => `${c.name}=${c.value}`).join("; ");
  const csrf = decodeURIComponent(cookies.find((c) => c.name === "tessera_csrf")?.value ?? "");
  return {
    cookies,
    async call<T>(method: string, path: string, body?: unknown): Promise<T> {
      const res = await fetch(`${baseUrl}${path}`, {
        method,
        headers: { cookie: header, "x-csrf-token": csrf, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text}`);
      return (text ? JSON.parse(text) : undefined) as T;
    },
    async shareWith(context) {
      await context.addCookies(cookies.map((c) => ({ ...c, url: baseUrl })));
    },
  };
}

/** First-run setup over HTTP: the owner "Ada Owner" of "Acme"; returns the session and the organisation id. */
export async function setupOwner(baseUrl: string): Promise<{ session: ApiSession; orgId: string }> {
  const res = await fetch(`${baseUrl}/v1/setup`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: "ada@example.com", password: PASSWORD, name: "Ada Owner", organization: { name: "Acme" } }),
  });
  if (res.status !== 201) throw new Error(`setup answered ${res.status}: ${await res.text()}`);
  const body = (await res.json()) as { organization: { id: string } };
  return { session: sessionFrom(baseUrl, res.headers.getSetCookie()), orgId: body.organization.id };
}

export interface SeededToken {
  id: string;
  name: string;
  prefix: string;
  secret: string;
}

export async function createToken(session: ApiSession, orgId: string, body: Record<string, unknown>): Promise<SeededToken> {
  const created = await session.call<{ token: { id: string; name: string; prefix: string }; secret: string }>(
    "POST",
    `/v1/orgs/${orgId}/tokens`,
    body,
  );
  return { ...created.token, secret: created.secret };
}

/** Signs in over HTTP (`POST /v1/auth/login`), as the console does; returns the session. */
export async function signInOverHttp(baseUrl: string, email: string, password = PASSWORD): Promise<ApiSession> {
  const res = await fetch(`${baseUrl}/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password }),
  });
  if (res.status !== 200) throw new Error(`login answered ${res.status}: ${await res.text()}`);
  return sessionFrom(baseUrl, res.headers.getSetCookie());
}
