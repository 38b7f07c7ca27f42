// A host product (its own sign-in, its own API) that embeds Tessera's tokens screen (SPEC §9) and
// protects its API with Tessera's Express middleware. In your project, import from "tessera".
import { randomBytes } from "node:crypto";
import express from "express";
import { createEmbedSession, remoteVerifier, tesseraExpress } from "../../src/index.js";

export interface HostAppOptions {
  /** Tessera's base URL as the browser reaches it (also used by this backend). */
  tesseraUrl: string;
  /** A root token holding orgs:provision and tokens:verify (`tessera root-token create --name host-app`). */
  rootToken: string;
}

/** The host's own users: Tessera learns them only through embed sessions. */
const USERS: Record<string, { password: string; name: string; role: "owner" | "admin" | "member" | "viewer" }> = {
  alice: { password: "alice", name: "Alice Example", role: "owner" },
  bob: { password: "bob", name: "Bob Example", role: "member" },
};
const TEAM = { externalId: "team-1", name: "Example Team" };

const page = (body: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Example app</title>
<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2rem auto;padding:0 1rem}</style></head><body>${body}</body></html>`;

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function createHostApp(options: HostAppOptions) {
  const sessions = new Map<string, string>();
  const app = express();
  app.use(express.urlencoded({ extended: false }));

  const userOf = (req: express.Request): string | undefined => {
    const sid = /(?:^|;\s*)host_session=([^;]+)/.exec(req.headers.cookie ?? "")?.[1];
    return sid ? sessions.get(sid) : undefined;
  };

  app.get("/", (req, res) => {
    const username = userOf(req);
    if (!username) {
      res.send(
        page(`<h1>Example app</h1><form method="post" action="/login">
<label>User <input name="username" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button>Sign in</button></form><p>Try alice / alice (owner) or bob / bob (member).</p>`),
      );
      return;
    }
    const theme = req.query.theme === "dark" ? "dark" : "light";
    res.send(
      page(`<h1>Settings → API tokens</h1><p>Signed in as ${escapeHtml(USERS[username]!.name)} · <a href="/logout">sign out</a></p>
<div id="tokens"></div>
<script src="${options.tesseraUrl}/embed.js"></script>
<script>
  window.tesseraMessages = [];
  const mint = () => fetch("/embed-session?theme=${theme}").then((r) => r.json()).then((s) => s.url);
  mint().then((url) => {
    const embed = TesseraEmbed.mount(document.getElementById("tokens"), {
      url,
      onMessage: (m) => window.tesseraMessages.push(m),
      onSessionExpired: () => mint().then((next) => embed.update(next)),
    });
  });
</script>`),
    );
  });

  app.post("/login", (req, res) => {
    const { username = "", password = "" } = req.body as { username?: string; password?: string };
    const user = USERS[username];
    if (!user || user.password !== password) {
      res.status(401).send(page('<p>Wrong user or password. <a href="/">Try again</a></p>'));
      return;
    }
    const sid = randomBytes(24).toString("base64url");
    sessions.set(sid, username);
    res.setHeader("set-cookie", `host_session=${sid}; HttpOnly; SameSite=Lax; Path=/`);
    res.redirect(303, "/");
  });

  app.get("/logout", (req, res) => {
    const sid = /(?:^|;\s*)host_session=([^;]+)/.exec(req.headers.cookie ?? "")?.[1];
    if (sid) sessions.delete(sid);
    res.redirect(303, "/");
  });

  // The host's backend mints a Tessera embed session for its signed-in user: one call, per page view.
  app.get("/embed-session", async (req, res, next) => {
    const username = userOf(req);
    if (!username) {
      res.status(401).json({ error: "sign in first" });
      return;
    }
    const user = USERS[username]!;
    try {
      const session = await createEmbedSession({
        url: options.tesseraUrl,
        token: options.rootToken,
        user: { externalId: `user-${username}`, email: `${username}@example.test`, name: user.name },
        organization: TEAM,
        role: user.role,
        theme: req.query.theme === "dark" ? { mode: "dark", accent: "#7c3aed" } : { mode: "light", accent: "#7c3aed" },
      });
      res.json({ url: session.url });
    } catch (error) {
      next(error);
    }
  });

  // The host's own API, protected by Tessera: any token made in the embedded screen works here.
  const verifier = remoteVerifier({ url: options.tesseraUrl, token: options.rootToken });
  app.get("/api/projects", tesseraExpress({ verifier }), (_req, res) => {
    const token = res.locals.tesseraToken as { id: string; ownerId: string | null; orgId: string };
    res.json({ projects: [{ id: "p1", name: "Apollo" }], calledWith: { tokenId: token.id, ownerId: token.ownerId } });
  });

  return app;
}
