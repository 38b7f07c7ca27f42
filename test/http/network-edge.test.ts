import { request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { createToken, PASSWORD, seedWorld, startTestApp, type TestApp, type World } from "../support/harness.js";

/**
 * The network edge (issue 9 findings 8 and 12, issue 16 finding 6, SPEC §8): who the client is behind
 * proxies (`TESSERA_TRUST_PROXY`), and production refusing plain HTTP. Both entry points: Fastify's
 * routes (app.inject) and the verify fast lane (a real socket). What is decided here lives in memory
 * and in the request, not in storage: SQLite.
 */

interface Answer {
  status: number;
  body: any;
}

/** `POST /v1/verify` over a real socket (the fast lane takes it), with extra headers. */
function verifyOverSocket(base: string, bearer: string, token: string, headers: Record<string, string> = {}): Promise<Answer> {
  const payload = JSON.stringify({ token });
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${base}/v1/verify`,
      {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(payload),
          authorization: `Bearer ${bearer}`,
          ...headers,
        },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          text += c;
        });
        res.on("end", () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

const trustOf = (value: string) => loadConfig({ TESSERA_TRUST_PROXY: value }).trustProxy;

describe("TESSERA_TRUST_PROXY parsing", () => {
  it("reads true as one hop, numbers as hop counts, lists as proxy addresses/CIDRs", () => {
    expect(trustOf("true")).toBe(1);
    expect(trustOf("2")).toBe(2);
    for (const off of ["", "false", "0"]) expect(trustOf(off)).toBe(false);
    expect(loadConfig({}).trustProxy).toBe(false);
    expect(trustOf("10.0.0.0/8, 192.168.1.7,2001:db8::/32")).toEqual(["10.0.0.0/8", "192.168.1.7", "2001:db8::/32"]);
  });

  it("refuses anything else, naming the variable and the value", () => {
    for (const bad of ["yes", "10.0.0.0/8,proxy.local", "1.2.3.4/000", "fe80::1%eth0", "loopback", "10.0.0.0/33", "33", "1,2"]) {
      let error: unknown;
      try {
        loadConfig({ TESSERA_TRUST_PROXY: bad });
      } catch (e) {
        error = e;
      }
      expect(error, bad).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toContain("TESSERA_TRUST_PROXY");
      expect((error as Error).message).toContain(bad);
    }
  });
});

describe.each([
  { label: "a hop count (1)", env: "1", list: false },
  { label: "true (one hop)", env: "true", list: false },
  { label: "a CIDR list", env: "127.0.0.0/8, 10.0.0.0/8", list: true },
])("behind a proxy, TESSERA_TRUST_PROXY=$env ($label)", ({ env, list }) => {
  let t: TestApp;
  let w: World;
  let base: string;
  let pinned: string;
  let plain: string;

  beforeAll(async () => {
    t = await startTestApp("sqlite", { trustProxy: trustOf(env), bearerFailuresPerMinute: 4 });
    w = await seedWorld(t.app);
    pinned = (
      await createToken(t.app, w.owner.creds, w.orgId, {
        name: "office only",
        kind: "service",
        scopes: ["tokens:read", "tokens:verify"],
        allowedIps: ["203.0.113.0/24"],
      })
    ).secret;
    plain = (await createToken(t.app, w.owner.creds, w.orgId, { name: "anywhere", kind: "service", scopes: ["tokens:read"] }))
      .secret;
    await t.app.listen({ host: "127.0.0.1", port: 0 });
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
  });
  afterAll(() => t?.close());

  const read = (xff: string | undefined, from = "127.0.0.1") =>
    t.app.inject({
      method: "GET",
      url: `/v1/orgs/${w.orgId}/tokens`,
      headers: { authorization: `Bearer ${pinned}`, ...(xff === undefined ? {} : { "x-forwarded-for": xff }) },
      remoteAddress: from,
    });

  it("takes the address the proxy saw, never a left-most value the client wrote (issue 9 finding 8)", async () => {
    // The proxy (127.0.0.1) saw 198.51.100.7, which claimed to forward for 203.0.113.5.
    const spoofed = await read("203.0.113.5, 198.51.100.7");
    expect(spoofed.statusCode, spoofed.body).toBe(403);
    expect(JSON.parse(spoofed.body).code).toBe("forbidden");
    const genuine = await read("203.0.113.5");
    expect(genuine.statusCode, genuine.body).toBe(200);
    // The fast lane reads the chain the same way.
    const viaLane = await verifyOverSocket(base, pinned, plain, { "x-forwarded-for": "203.0.113.5, 198.51.100.7" });
    expect(viaLane.status).toBe(403);
    const genuineViaLane = await verifyOverSocket(base, pinned, plain, { "x-forwarded-for": "203.0.113.5" });
    expect(genuineViaLane.status).toBe(200);
    expect(genuineViaLane.body.valid).toBe(true);
  });

  it.runIf(list)("walks back over every listed proxy, and believes nothing from an unlisted peer", async () => {
    expect((await read("203.0.113.5, 10.1.2.3")).statusCode).toBe(200); // through an inner proxy 10.1.2.3
    expect((await read("203.0.113.5, 198.51.100.7, 10.1.2.3")).statusCode).toBe(403);
    // A client connecting directly (not a listed proxy) cannot claim any address.
    expect((await read("203.0.113.5", "198.51.100.9")).statusCode).toBe(403);
    expect((await read(undefined, "203.0.113.77")).statusCode).toBe(200);
  });

  it("keeps per-address limits however the client rotates a spoofed left-most value", async () => {
    const guess = (i: number) =>
      t.app.inject({
        method: "GET",
        url: "/v1/me",
        headers: { authorization: `Bearer tsr_live_guess${i}`, "x-forwarded-for": `192.0.2.${i}, 198.51.100.20` },
      });
    for (let i = 0; i < 4; i++) expect((await guess(i)).statusCode).toBe(401);
    const blocked = await guess(99);
    expect(blocked.statusCode).toBe(429);
    const events = await t.tessera.store.db
      .selectFrom("audit_events")
      .select("ip")
      .where("action", "=", "auth.bearer_throttled")
      .execute();
    expect(events.map((e) => e.ip)).toEqual(["198.51.100.20"]);
  });

  it("never records text that is not an IP address as the client's address (issue 16 finding 6)", async () => {
    for (const junk of ["<script>alert(1)</script>", "unknown", "203.0.113.5:443", "fe80::1%eth0"]) {
      const res = await t.app.inject({
        method: "POST",
        url: "/v1/auth/login",
        payload: { email: "nobody@acme.test", password: "wrong password!!" },
        headers: { "x-forwarded-for": junk },
      });
      expect(res.statusCode).toBe(401);
    }
    const rows = await t.tessera.store.db
      .selectFrom("audit_events")
      .select("ip")
      .where("action", "=", "auth.login_failed")
      .execute();
    expect(rows).toHaveLength(4);
    // The proxy's own address stands in for what it could not vouch for.
    for (const row of rows) expect(row.ip).toBe("127.0.0.1");
  });
});

describe("NODE_ENV=production refuses plain HTTP (SPEC §8)", () => {
  const SETUP = { email: "owner@acme.test", password: PASSWORD, name: "Olive Owner", organization: { name: "Acme" } };

  describe("without TLS or a trusted proxy", () => {
    let t: TestApp;
    let base: string;

    beforeAll(async () => {
      t = await startTestApp("sqlite", { production: true });
      await t.app.listen({ host: "127.0.0.1", port: 0 });
      base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    });
    afterAll(() => t?.close());

    it("answers 426 https_required to setup, login, token creation, verification and page loads", async () => {
      const cases = [
        { method: "POST", url: "/v1/setup", payload: SETUP },
        { method: "POST", url: "/v1/auth/login", payload: { email: SETUP.email, password: PASSWORD } },
        { method: "POST", url: "/v1/orgs/org_x/tokens", payload: { name: "x" } },
        { method: "POST", url: "/v1/verify", payload: { token: "tsr_live_x" }, headers: { authorization: "Bearer tsr_live_x" } },
        { method: "GET", url: "/v1/me" },
        { method: "GET", url: "/", headers: { accept: "text/html" } },
        { method: "GET", url: "/docs" },
      ] as const;
      for (const c of cases) {
        const res = await t.app.inject({
          method: c.method,
          url: c.url,
          payload: "payload" in c ? c.payload : undefined,
          headers: "headers" in c ? c.headers : {},
        });
        expect(res.statusCode, `${c.method} ${c.url}: ${res.body}`).toBe(426);
        expect(JSON.parse(res.body)).toMatchObject({ code: "https_required", status: 426 });
        expect(res.headers["set-cookie"]).toBeUndefined();
      }
      // Nothing was set up.
      expect(await t.tessera.auth.isSetupRequired()).toBe(true);
      const lane = await verifyOverSocket(base, "tsr_live_x", "tsr_live_x");
      expect(lane.status).toBe(426);
      expect(lane.body.code).toBe("https_required");
    });

    it("still answers the health checks", async () => {
      expect((await t.app.inject({ method: "GET", url: "/healthz" })).statusCode).toBe(200);
      expect((await t.app.inject({ method: "GET", url: "/readyz" })).statusCode).toBe(200);
    });
  });

  describe("behind a trusted TLS proxy", () => {
    let t: TestApp;
    let base: string;

    beforeAll(async () => {
      // The proxy is 127.0.0.1, listed by address.
      t = await startTestApp("sqlite", { production: true, trustProxy: trustOf("127.0.0.1") });
      await t.app.listen({ host: "127.0.0.1", port: 0 });
      base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    });
    afterAll(() => t?.close());

    it("works when the proxy reports https, and refuses what it forwards over http", async () => {
      const https = { "x-forwarded-proto": "https" };
      const setup = await t.app.inject({ method: "POST", url: "/v1/setup", payload: SETUP, headers: https });
      expect(setup.statusCode, setup.body).toBe(201);
      const orgId = JSON.parse(setup.body).organization.id as string;
      const plainLogin = await t.app.inject({
        method: "POST",
        url: "/v1/auth/login",
        payload: { email: SETUP.email, password: PASSWORD },
        headers: { "x-forwarded-proto": "http" },
      });
      expect(plainLogin.statusCode).toBe(426);
      const login = await t.app.inject({
        method: "POST",
        url: "/v1/auth/login",
        payload: { email: SETUP.email, password: PASSWORD },
        headers: https,
      });
      expect(login.statusCode).toBe(200);
      const cookies = Object.fromEntries(login.cookies.map((c) => [c.name, c.value]));
      const created = await t.app.inject({
        method: "POST",
        url: `/v1/orgs/${orgId}/tokens`,
        payload: { name: "svc", kind: "service", scopes: ["tokens:verify"] },
        headers: {
          ...https,
          cookie: `tessera_session=${cookies.tessera_session}; tessera_csrf=${cookies.tessera_csrf}`,
          "x-csrf-token": cookies.tessera_csrf!,
        },
      });
      expect(created.statusCode, created.body).toBe(201);
      const secret = JSON.parse(created.body).secret as string;
      expect((await verifyOverSocket(base, secret, secret, https)).body.valid).toBe(true);
      expect((await verifyOverSocket(base, secret, secret)).status).toBe(426);
    });
  });

  describe("with a proxy list that does not include the peer", () => {
    let t: TestApp;
    let base: string;

    beforeAll(async () => {
      t = await startTestApp("sqlite", { production: true, trustProxy: trustOf("10.0.0.0/8") });
      await t.app.listen({ host: "127.0.0.1", port: 0 });
      base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    });
    afterAll(() => t?.close());

    it("does not believe X-Forwarded-Proto from a client that is not a listed proxy, on either entry point", async () => {
      const https = { "x-forwarded-proto": "https" };
      const setup = await t.app.inject({ method: "POST", url: "/v1/setup", payload: SETUP, headers: https });
      expect(setup.statusCode).toBe(426);
      const lane = await verifyOverSocket(base, "tsr_live_x", "tsr_live_x", https);
      expect(lane.status).toBe(426);
    });
  });
});
