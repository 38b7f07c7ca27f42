import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serve } from "@hono/node-server";
import express from "express";
import Fastify from "fastify";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { requireToken, tesseraExpress, tesseraHono } from "../../src/index.js";
import { inProcessVerifier, remoteVerifier, type TokenVerifier } from "../../src/sdk/verifier-client.js";
import { type RunningServer, startServer } from "../../src/server.js";
import { systemMeta } from "../../src/services/request-meta.js";
import type { VerifiedToken } from "../../src/services/verification-view.js";

type Started = { url: string; close: () => Promise<void> };

/** Each framework protects GET /messages with `messages:send` and echoes the verified token. */
const frameworks: Record<string, (verifier: TokenVerifier) => Promise<Started>> = {
  async fastify(verifier) {
    const app = Fastify();
    app.get("/messages", { preHandler: requireToken({ verifier, scopes: ["messages:send"] }) }, async (request) => ({
      token: request.tesseraToken,
    }));
    await app.listen({ host: "127.0.0.1", port: 0 });
    return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, close: () => app.close() };
  },
  async express(verifier) {
    const app = express();
    app.get("/messages", tesseraExpress({ verifier, scopes: ["messages:send"] }), (req, res) => {
      res.json({ token: (req as unknown as { tesseraToken: VerifiedToken }).tesseraToken });
    });
    const server = await new Promise<ReturnType<typeof app.listen>>((resolve) => {
      const s = app.listen(0, "127.0.0.1", () => resolve(s));
    });
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () => new Promise((resolve) => server.close(() => resolve())),
    };
  },
  async hono(verifier) {
    const app = new Hono<{ Variables: { tesseraToken: VerifiedToken } }>();
    app.get("/messages", tesseraHono({ verifier, scopes: ["messages:send"] }), (c) => c.json({ token: c.get("tesseraToken") }));
    const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const s = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, () => resolve(s));
    });
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () => new Promise((resolve) => server.close(() => resolve())),
    };
  },
};

describe("middleware against real servers", () => {
  let dir: string;
  let tessera: RunningServer;
  const secrets: Record<string, string> = {};
  let makeToken: (body: Record<string, unknown>) => Promise<string>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "tessera-sdk-"));
    tessera = await startServer(loadConfig({ TESSERA_DATA_DIR: dir, TESSERA_LOG_LEVEL: "silent", TESSERA_PORT: "0" }));
    const t = tessera.tessera;
    const meta = systemMeta();
    const { organization } = await t.auth.setup(
      { email: "ops@example.test", password: "correct horse battery", name: "Ops", organization: { name: "Shop" } },
      meta,
    );
    const access = await t.orgs.access({ type: "system" }, organization.id);
    await t.orgs.replaceCatalogue(access, [{ name: "messages:send" }, { name: "messages:read" }], meta);
    const make = async (name: string, scopes: string[]) =>
      (await t.tokens.create(access, { name, kind: "service", scopes }, meta)).secret;
    secrets.verifierKey = await make("backend verifier", ["tokens:verify"]);
    secrets.sender = await make("sender", ["messages:send"]);
    secrets.reader = await make("reader", ["messages:read"]);
    const revoked = await t.tokens.create(access, { name: "gone", kind: "service", scopes: ["messages:send"] }, meta);
    await t.tokens.transition(access, revoked.token.id, "revoke", undefined, meta);
    secrets.revoked = revoked.secret;
    makeToken = async (body) =>
      (await t.tokens.create(access, { name: "limited", kind: "service", scopes: ["messages:send"], ...body }, meta)).secret;
  });
  afterAll(async () => {
    await tessera?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const modes: Record<string, () => TokenVerifier> = {
    "in-process": () => inProcessVerifier(tessera.tessera),
    remote: () => remoteVerifier({ url: tessera.url.replace("localhost", "127.0.0.1"), token: secrets.verifierKey! }),
  };

  for (const [framework, start] of Object.entries(frameworks)) {
    for (const [mode, makeVerifier] of Object.entries(modes)) {
      it(`${framework} (${mode}) protects a route per RFC 6750`, async () => {
        const server = await start(makeVerifier());
        try {
          const get = (authorization?: string) =>
            fetch(`${server.url}/messages`, { headers: authorization ? { authorization } : {} });

          const ok = await get(`Bearer ${secrets.sender}`);
          expect(ok.status).toBe(200);
          const body = (await ok.json()) as { token: VerifiedToken };
          expect(body.token).toMatchObject({ name: "sender", kind: "service", scopes: ["messages:send"] });

          const anonymous = await get();
          expect(anonymous.status).toBe(401);
          expect(anonymous.headers.get("www-authenticate")).toMatch(/^Bearer/);
          expect(anonymous.headers.get("content-type")).toContain("application/problem+json");

          const wrongScope = await get(`Bearer ${secrets.reader}`);
          expect(wrongScope.status).toBe(403);
          expect(wrongScope.headers.get("www-authenticate")).toContain('error="insufficient_scope"');

          const revoked = await get(`Bearer ${secrets.revoked}`);
          expect(revoked.status).toBe(401);
          expect(revoked.headers.get("www-authenticate")).toContain('error="invalid_token"');
          const problem = (await revoked.json()) as { code: string; detail: string };
          expect(problem.code).toBe("unauthorized");
          expect(problem.detail).not.toContain(secrets.revoked);

          const garbage = await get("Bearer tsr_live_not-a-token");
          expect(garbage.status).toBe(401);
        } finally {
          await server.close();
        }
      });
    }
  }

  for (const [framework, start] of Object.entries(frameworks)) {
    for (const [mode, makeVerifier] of Object.entries(modes)) {
      it(`${framework} (${mode}) sets RateLimit-* on every answer, Retry-After on 429; credits used up are 429 usage_exceeded`, async () => {
        const limited = await makeToken({ rateLimits: [{ name: "hour", limit: 2, windowSeconds: 3600 }] });
        const metered = await makeToken({ credits: { remaining: 1 } });
        const server = await start(makeVerifier());
        try {
          const get = (token: string) => fetch(`${server.url}/messages`, { headers: { authorization: `Bearer ${token}` } });
          const first = await get(limited);
          expect(first.status).toBe(200);
          expect(first.headers.get("ratelimit-limit")).toBe("2");
          expect(first.headers.get("ratelimit-remaining")).toBe("1");
          const reset = Number(first.headers.get("ratelimit-reset"));
          expect(reset).toBeGreaterThan(0);
          expect(reset).toBeLessThanOrEqual(3600);
          expect((await get(limited)).headers.get("ratelimit-remaining")).toBe("0");
          const refused = await get(limited);
          expect(refused.status).toBe(429);
          expect(((await refused.json()) as { code: string }).code).toBe("rate_limited");
          expect(refused.headers.get("ratelimit-remaining")).toBe("0");
          expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
          expect(Number(refused.headers.get("retry-after"))).toBeLessThanOrEqual(3600);

          const once = await get(metered);
          expect(once.status).toBe(200);
          expect(once.headers.get("ratelimit-limit")).toBeNull();
          const spent = await get(metered);
          expect(spent.status).toBe(429);
          expect(((await spent.json()) as { code: string }).code).toBe("usage_exceeded");
        } finally {
          await server.close();
        }
      });
    }
  }

  it("remote verification with a token lacking tokens:verify fails closed (503) and says why", async () => {
    const reasons: unknown[] = [];
    const verifier = remoteVerifier({ url: tessera.url.replace("localhost", "127.0.0.1"), token: secrets.reader! });
    const app = Fastify();
    app.get(
      "/messages",
      { preHandler: requireToken({ verifier, scopes: ["messages:send"], onUnavailable: (e) => reasons.push(e) }) },
      async () => ({}),
    );
    await app.listen({ host: "127.0.0.1", port: 0 });
    try {
      const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/messages`;
      const res = await fetch(url, { headers: { authorization: `Bearer ${secrets.sender}` } });
      expect(res.status).toBe(503);
      expect(reasons).toHaveLength(1);
      expect(String(reasons[0])).toMatch(/HTTP 403 forbidden: Tessera refused this server's credential .*TESSERA_VERIFY_TOKEN/);
      expect(String(reasons[0])).not.toContain(secrets.reader!);
    } finally {
      await app.close();
    }
  });

  it("a remote verifier without a credential or a URL refuses to be built", () => {
    const url = tessera.url;
    for (const token of ["", "   ", undefined as unknown as string]) {
      expect(() => remoteVerifier({ url, token })).toThrow(/remoteVerifier: no credential\. Pass `token`.*TESSERA_VERIFY_TOKEN/);
    }
    expect(() => remoteVerifier({ url, token: `${secrets.verifierKey}\n` })).toThrow(/whitespace/);
    expect(() => remoteVerifier({ url: "127.0.0.1:7070", token: secrets.verifierKey! })).toThrow(/`url` must be Tessera's http/);
  });
});
