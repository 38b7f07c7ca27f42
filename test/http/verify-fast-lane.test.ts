import { Agent, request as httpRequest, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VERIFY_BODY_LIMIT } from "../../src/http/routes/verify-routes.js";
import { createVerifyFastLane } from "../../src/http/verify-fast-lane.js";
import {
  call,
  createToken,
  rootToken,
  seedWorld,
  startTestApp,
  type TestApp,
  type World,
  withLastCharChanged,
} from "../support/harness.js";

/**
 * `POST /v1/verify` has two entry points: the fast lane (real sockets, plain requests) and the Fastify
 * route (app.inject, and every request the fast lane does not take). They must answer alike.
 */
describe("verification fast lane answers like the Fastify route", () => {
  let t: TestApp;
  let w: World;
  let url: string;
  let root: string;
  let secrets: Record<string, string>;

  beforeAll(async () => {
    t = await startTestApp("sqlite");
    w = await seedWorld(t.app);
    root = await rootToken(t.tessera);
    await t.app.listen({ host: "127.0.0.1", port: 0 });
    url = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    const service = await createToken(t.app, w.owner.creds, w.orgId, {
      kind: "service",
      name: "verifier",
      scopes: ["tokens:verify"],
    });
    const noVerify = await createToken(t.app, w.owner.creds, w.orgId, {
      kind: "service",
      name: "reader",
      scopes: ["tokens:read"],
    });
    const personal = await createToken(t.app, w.owner.creds, w.orgId, { name: "personal" });
    const limited = await createToken(t.app, w.owner.creds, w.orgId, {
      name: "limited",
      rateLimit: { limit: 1, windowSeconds: 3600 },
    });
    const other = await createToken(t.app, w.otherOwner.creds, w.otherOrgId, { name: "globex" });
    const revoked = await createToken(t.app, w.owner.creds, w.orgId, {
      kind: "service",
      name: "revoked",
      scopes: ["tokens:verify"],
    });
    await call(t.app, "POST", `/v1/orgs/${w.orgId}/tokens/${revoked.id}/revoke`, w.owner.creds);
    secrets = {
      service: service.secret,
      noVerify: noVerify.secret,
      personal: personal.secret,
      limited: limited.secret,
      other: other.secret,
      revoked: revoked.secret,
    };
  });
  afterAll(() => t?.close());

  type Case = { name: string; bearer: string; body: string };
  const cases = (): Case[] => [
    { name: "valid, root caller", bearer: root, body: JSON.stringify({ token: secrets.personal }) },
    {
      name: "valid with scopes and ip",
      bearer: root,
      body: JSON.stringify({ token: secrets.personal, scopes: ["tokens:read"], ip: "10.0.0.1" }),
    },
    { name: "insufficient scope", bearer: root, body: JSON.stringify({ token: secrets.noVerify, scopes: ["audit:read"] }) },
    { name: "service caller, own org", bearer: secrets.service!, body: JSON.stringify({ token: secrets.personal }) },
    { name: "service caller, other org", bearer: secrets.service!, body: JSON.stringify({ token: secrets.other }) },
    { name: "caller without tokens:verify", bearer: secrets.noVerify!, body: JSON.stringify({ token: secrets.personal }) },
    { name: "personal caller", bearer: secrets.personal!, body: JSON.stringify({ token: secrets.personal }) },
    { name: "revoked caller", bearer: secrets.revoked!, body: JSON.stringify({ token: secrets.personal }) },
    { name: "malformed caller", bearer: "tsr_live_nope", body: JSON.stringify({ token: secrets.personal }) },
    { name: "malformed token", bearer: root, body: JSON.stringify({ token: "not a token" }) },
    { name: "revoked token", bearer: root, body: JSON.stringify({ token: secrets.revoked }) },
    { name: "token of wrong type", bearer: root, body: JSON.stringify({ token: 5 }) },
    { name: "missing token", bearer: root, body: "{}" },
    { name: "empty body", bearer: root, body: "" },
    { name: "unknown field", bearer: root, body: JSON.stringify({ token: secrets.personal, scope: ["x:y"] }) },
    { name: "bad ip", bearer: root, body: JSON.stringify({ token: secrets.personal, ip: "999.1.1.1" }) },
    { name: "invalid JSON", bearer: root, body: '{"token": ' },
    { name: "prototype poisoning", bearer: root, body: '{"token":"x","__proto__":{"a":1}}' },
    { name: "deep nesting", bearer: root, body: `{"token":"x","scopes":${"[".repeat(40)}${"]".repeat(40)}}` },
    { name: "array body", bearer: root, body: "[]" },
    { name: "token over the length limit", bearer: root, body: JSON.stringify({ token: "x".repeat(4097) }) },
    { name: "token at the length limit", bearer: root, body: JSON.stringify({ token: "x".repeat(4096) }) },
    { name: "null body", bearer: root, body: "null" },
    { name: "byte order mark", bearer: root, body: `\uFEFF${JSON.stringify({ token: secrets.personal })}` },
    { name: "constructor key", bearer: root, body: '{"token":"x","constructor":{"prototype":{}}}' },
    { name: "duplicate key", bearer: root, body: `{"token":"x","token":${JSON.stringify(secrets.personal)}}` },
  ];

  const HEADERS = [
    "content-type",
    "www-authenticate",
    "retry-after",
    "cache-control",
    "x-content-type-options",
    "x-frame-options",
    "content-security-policy",
    "referrer-policy",
  ];
  const normalise = (status: number, headers: Record<string, unknown>, text: string) => {
    let body: Record<string, unknown> | undefined;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {}
    if (body) delete body.traceId;
    return { status, body, headers: Object.fromEntries(HEADERS.map((h) => [h, headers[h] ?? null])) };
  };

  it("gives the same status, body and headers for every case", async () => {
    for (const c of cases()) {
      const headers = { authorization: `Bearer ${c.bearer}`, "content-type": "application/json" };
      const viaRoute = await t.app.inject({ method: "POST", url: "/v1/verify", headers, payload: c.body });
      const viaLane = await fetch(`${url}/v1/verify`, { method: "POST", headers, body: c.body });
      const laneHeaders = Object.fromEntries(viaLane.headers.entries());
      expect(laneHeaders["x-trace-id"], c.name).toMatch(/^[0-9a-f]{32}$/);
      expect(normalise(viaLane.status, laneHeaders, await viaLane.text()), c.name).toEqual(
        normalise(viaRoute.statusCode, viaRoute.headers as Record<string, unknown>, viaRoute.body),
      );
    }
  });

  it("enforces a token's rate limit and counts usage the same way", async () => {
    const headers = { authorization: `Bearer ${root}`, "content-type": "application/json" };
    const body = JSON.stringify({ token: secrets.limited });
    const first = await (await fetch(`${url}/v1/verify`, { method: "POST", headers, body })).json();
    const second = await t.app.inject({ method: "POST", url: "/v1/verify", headers, payload: body });
    expect(first).toMatchObject({ valid: true, ratelimit: { limit: 1, remaining: 0 } });
    expect(JSON.parse(second.body)).toMatchObject({ valid: false, code: "RATE_LIMITED" });
  });

  it("takes the W3C trace id and leaves requests it does not take to Fastify", async () => {
    const traced = await fetch(`${url}/v1/verify`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${root}`,
        "content-type": "application/json",
        traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      },
      body: JSON.stringify({ token: secrets.personal }),
    });
    expect(traced.headers.get("x-trace-id")).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    // No credentials, a cookie session, a query string: all through the Fastify route.
    const anonymous = await fetch(`${url}/v1/verify`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token: secrets.personal }),
    });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toBe('Bearer realm="tessera"');
    const session = await fetch(`${url}/v1/verify?x=1`, {
      method: "POST",
      headers: {
        cookie: `tessera_session=${w.owner.creds.session}; tessera_csrf=${w.owner.creds.csrf}`,
        "x-csrf-token": w.owner.creds.csrf,
        "content-type": "application/json",
      },
      body: JSON.stringify({ token: secrets.personal }),
    });
    expect(session.status).toBe(403);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(
      /tessera_http_request_duration_seconds_count\{method="POST",route="\/v1\/verify",status="200"\} [1-9]/,
    );
  });

  it("takes only the plain call", () => {
    const lane = createVerifyFastLane(t.tessera, () => t.app.log);
    const request = (headers: Record<string, string>, method = "POST", url = "/v1/verify") =>
      ({ method, url, headers }) as unknown as IncomingMessage;
    const plain = { "content-type": "application/json", "content-length": "20", authorization: "Bearer x", "user-agent": "ua" };
    expect(lane.take(request(plain))).toEqual({
      length: 20,
      authorization: "Bearer x",
      traceparent: undefined,
      userAgent: "ua",
      oversize: false,
    });
    expect(
      lane.take(request({ "content-type": "application/json; charset=utf-8", "content-length": "2", authorization: "bearer y" })),
    ).toMatchObject({ authorization: "bearer y" });
    const refused: [string, IncomingMessage][] = [
      ["GET", request(plain, "GET")],
      ["query string", request(plain, "POST", "/v1/verify?x=1")],
      ["other path", request(plain, "POST", "/v1/verify/")],
      ["not bearer", request({ ...plain, authorization: "Basic eA==" })],
      ["no authorization", request({ "content-type": "application/json", "content-length": "2" })],
      ["not JSON", request({ ...plain, "content-type": "application/jsonx" })],
      ["chunked", request({ ...plain, "transfer-encoding": "chunked" })],
      ["no length", request({ "content-type": "application/json", authorization: "Bearer x" })],
      // Over the limit: only what is refused from the headers alone, as the route would.
      ["large body, session cookie", request({ "content-length": "999999", cookie: "tessera_session=x" })],
      ["large body, not bearer", request({ ...plain, "content-length": "999999", authorization: "Basic eA==" })],
      ["large body, embed bearer", request({ ...plain, "content-length": "999999", authorization: "Bearer tse.x" })],
      ["large body, not JSON", request({ ...plain, "content-length": "999999", "content-type": "text/plain" })],
      ["large body, chunked", request({ ...plain, "content-length": "999999", "transfer-encoding": "chunked" })],
    ];
    for (const [name, req] of refused) expect(lane.take(req), name).toBeUndefined();
    const large = String(VERIFY_BODY_LIMIT + 1);
    expect(lane.take(request({ ...plain, "content-length": large }))).toMatchObject({
      oversize: true,
      authorization: "Bearer x",
    });
    expect(lane.take(request({ "content-length": large }))).toMatchObject({ oversize: true, authorization: undefined });
  });

  it("refuses a body over the limit from its headers alone, like the route, and closes the connection", async () => {
    const body = JSON.stringify({ token: "x", scopes: Array(Math.ceil(VERIFY_BODY_LIMIT / 2)).fill(1) });
    const callers: [string, Record<string, string>][] = [
      ["anonymous", { "content-type": "application/json" }],
      ["anonymous, other type", { "content-type": "text/plain" }],
      ["root", { authorization: `Bearer ${root}`, "content-type": "application/json" }],
      ["revoked caller", { authorization: `Bearer ${secrets.revoked}`, "content-type": "application/json" }],
      ["malformed caller", { authorization: "Bearer tsr_live_nope", "content-type": "application/json" }],
    ];
    for (const [name, headers] of callers) {
      const viaRoute = await t.app.inject({ method: "POST", url: "/v1/verify", headers, payload: body });
      const viaLane = await fetch(`${url}/v1/verify`, { method: "POST", headers, body });
      const laneHeaders = Object.fromEntries(viaLane.headers.entries());
      expect(viaLane.status, name).toBe(name.startsWith("anonymous") || name.includes("caller") ? 401 : 413);
      expect(laneHeaders.connection, name).toBe("close");
      expect(normalise(viaLane.status, laneHeaders, await viaLane.text()), name).toEqual(
        normalise(viaRoute.statusCode, viaRoute.headers as Record<string, unknown>, viaRoute.body),
      );
    }
  });

  it("re-decides a connection's repeated bearer on every request: revocation between two calls applies", async () => {
    const caller = await createToken(t.app, w.owner.creds, w.orgId, {
      kind: "service",
      name: "kept-alive",
      scopes: ["tokens:verify"],
    });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const post = (bearer: string) =>
      new Promise<{ status: number; code: string; reused: boolean }>((resolve, reject) => {
        const body = JSON.stringify({ token: secrets.personal });
        const req = httpRequest(
          `${url}/v1/verify`,
          {
            method: "POST",
            agent,
            headers: {
              authorization: `Bearer ${bearer}`,
              "content-type": "application/json",
              "content-length": Buffer.byteLength(body),
            },
          },
          (res) => {
            let text = "";
            res.on("data", (chunk: Buffer) => {
              text += chunk.toString();
            });
            res.on("end", () => {
              const parsed = JSON.parse(text) as { code?: string };
              resolve({ status: res.statusCode!, code: parsed.code ?? "", reused: req.reusedSocket });
            });
          },
        );
        req.on("error", reject);
        req.end(body);
      });
    try {
      expect(await post(caller.secret)).toMatchObject({ status: 200, code: "VALID", reused: false });
      expect(await post(caller.secret)).toMatchObject({ status: 200, code: "VALID", reused: true });
      await call(t.app, "POST", `/v1/orgs/${w.orgId}/tokens/${caller.id}/revoke`, w.owner.creds);
      expect(await post(caller.secret)).toMatchObject({ status: 401, reused: true });
      // Another bearer on the same connection is checked as itself, and a malformed one is refused.
      expect(await post(root)).toMatchObject({ status: 200, code: "VALID", reused: true });
      expect(await post(withLastCharChanged(root))).toMatchObject({ status: 401, reused: true });
      expect(await post(root)).toMatchObject({ status: 200, code: "VALID", reused: true });
    } finally {
      agent.destroy();
    }
  });
});
