/**
 * The host backend's side of embedding (SPEC §9): mint a session for the signed-in user and hand its
 * `url` to the browser (an iframe, or `TesseraEmbed.mount` from `/embed.js`).
 *
 * ```ts
 * const { url } = await createEmbedSession({
 *   url: "https://tokens.example.com",
 *   token: process.env.TESSERA_ROOT_TOKEN!,   // root with orgs:provision, or a service token with members:write
 *   user: { externalId: user.id, email: user.email, name: user.name },
 *   organization: { externalId: team.id, name: team.name },
 *   role: "member",
 * });
 * ```
 */

export interface CreateEmbedSessionOptions {
  /** Tessera's base URL. */
  url: string;
  /** A root token holding `orgs:provision`, or a service token holding `members:write` (its own organisation). */
  token: string;
  user: { externalId: string; email: string; name: string };
  organization: { externalId: string; name: string };
  role: "owner" | "admin" | "member" | "viewer";
  locale?: "en" | "it";
  theme?: "light" | "dark" | { mode?: "light" | "dark"; accent?: string };
  /** Per request, default 5000 ms. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export interface EmbedSession {
  /** The embedded page, with its single-use handoff in the fragment. */
  url: string;
  /** When the handoff stops working (60 s after minting). */
  expiresAt: Date;
}

/** A refusal from Tessera: the problem's status and stable code (never the credential). */
export class EmbedSessionError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, detail: string) {
    super(`Tessera refused the embed session: HTTP ${status} ${code}${detail ? `: ${detail}` : ""}`);
    this.name = "EmbedSessionError";
    this.status = status;
    this.code = code;
  }
}

/** Calls `POST /v1/embed/sessions`: one round trip. */
export async function createEmbedSession(options: CreateEmbedSessionOptions): Promise<EmbedSession> {
  const { url, token, timeoutMs, fetch: doFetch = fetch, ...body } = options;
  const res = await doFetch(new URL("/v1/embed/sessions", url).toString(), {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs ?? 5000),
  });
  if (res.status !== 201) {
    let problem: { code?: string; detail?: string } = {};
    try {
      problem = (await res.json()) as typeof problem;
    } catch {}
    throw new EmbedSessionError(res.status, problem.code ?? "", problem.detail ?? "");
  }
  const created = (await res.json()) as { url: string; expiresAt: string };
  return { url: created.url, expiresAt: new Date(created.expiresAt) };
}
