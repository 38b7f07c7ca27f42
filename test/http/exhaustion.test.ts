import { spawn } from "node:child_process";
import { request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newId } from "../../src/core/ids.js";
import { DEFAULT_ORG_SETTINGS } from "../../src/core/settings.js";
import { generateToken } from "../../src/core/token-format.js";
import { insertMembership } from "../../src/store/memberships-repository.js";
import { insertOrg } from "../../src/store/orgs-repository.js";
import { dialects } from "../support/databases.js";
import {
  call,
  createToken,
  headersFor,
  rootToken,
  seedWorld,
  startTestApp,
  type TestApp,
  type World,
} from "../support/harness.js";
import { ROOT, serverEnv } from "../support/processes.js";

/**
 * Issue 16 (CPU and memory): one anonymous client must not stall Tessera for everyone. Hostile bodies are
 * refused before they are read (authentication first, per-route body limits), validators keep nothing,
 * the event loop stays free for /healthz, unknown tokens cannot push real ones out of the verifier cache,
 * and GET /v1/orgs is one query per page.
 */

/** The finding's body: `{"token":"x","scopes":[1,1,…×480000]}`, 938 KiB. */
const HOSTILE_VERIFY = JSON.stringify({ token: "x", scopes: Array(480_000).fill(1) });
/**
 * The same, encoded once: the clients below share the server's process and event loop, and a string
 * body would be re-encoded per request on that loop (≈ 25 ms each), which is the client's cost, not
 * the server's.
 */
const HOSTILE_BYTES = Buffer.from(HOSTILE_VERIFY);

interface Answer {
  status: number;
  /** From the first byte sent to the response's status line. */
  ms: number;
}

/** One request over a real socket (its own connection), timed to the response headers. */
function send(port: number, method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<Answer> {
  return new Promise((resolve) => {
    const started = performance.now();
    const req = httpRequest({ host: "127.0.0.1", port, method, path, headers, agent: false }, (res) => {
      const ms = performance.now() - started;
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, ms }));
      res.on("error", () => resolve({ status: res.statusCode ?? 0, ms }));
    });
    // The server may answer and close before a refused body is fully written (that is the point), so a
    // reset counts as an answer with status 0; callers say which statuses they accept.
    req.on("error", () => resolve({ status: 0, ms: performance.now() - started }));
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

describe.each(await dialects())("resource exhaustion on %s", (dialect) => {
  let t: TestApp;
  let w: World;
  let root: string;
  let port: number;

  beforeAll(async () => {
    // A small cache, so that a flood of unknown tokens would evict real ones if the pools were shared, and
    // a long TTL, so that on a slow machine an entry cannot go stale between uses: only eviction is measured.
    t = await startTestApp(dialect, { cacheMaxEntries: 1000, cacheTtlMs: 300_000 });
    w = await seedWorld(t.app);
    root = await rootToken(t.tessera);
    await t.app.listen({ host: "127.0.0.1", port: 0 });
    port = (t.app.server.address() as AddressInfo).port;
  });
  afterAll(() => t?.close());

  const json = { "content-type": "application/json" };

  it("refuses the 938 KiB anonymous verification in under 50 ms (401, body never read), and 413 for a caller", async () => {
    expect(Buffer.byteLength(HOSTILE_VERIFY)).toBeGreaterThan(900 * 1024);
    // Warm the route once: the first request through Fastify compiles its serializers.
    await t.app.inject({ method: "POST", url: "/v1/verify", headers: json, payload: "{}" });
    for (const [headers, status] of [
      [json, 401],
      [{ ...json, authorization: `Bearer ${root}` }, 413],
    ] as const) {
      const started = performance.now();
      const res = await t.app.inject({ method: "POST", url: "/v1/verify", headers, payload: HOSTILE_VERIFY });
      const ms = performance.now() - started;
      expect(res.statusCode, res.body).toBe(status);
      expect(ms, `inject ${status}`).toBeLessThan(50);
      // Over a socket: once to open the path, then the median of three (the machine is shared).
      await send(port, "POST", "/v1/verify", headers, HOSTILE_BYTES);
      const overSocket: Answer[] = [];
      for (let i = 0; i < 3; i++) overSocket.push(await send(port, "POST", "/v1/verify", headers, HOSTILE_BYTES));
      for (const a of overSocket) expect(a.status).toBe(status);
      const median = overSocket.map((a) => a.ms).sort((a, b) => a - b)[1]!;
      expect(median, `socket ${status}`).toBeLessThan(50);
    }
  });

  it("authenticates (and checks CSRF) before validating, on authenticated routes; public routes still validate", async () => {
    const bad = JSON.stringify({ name: 5, nonsense: true });
    const tokens = `/v1/orgs/${w.orgId}/tokens`;
    const anonymous = await t.app.inject({ method: "POST", url: tokens, headers: json, payload: bad });
    expect(anonymous.statusCode, anonymous.body).toBe(401);
    expect(JSON.parse(anonymous.body).code).toBe("unauthorized");
    const noCsrf = await t.app.inject({
      method: "POST",
      url: tokens,
      headers: { ...json, ...headersFor(w.member.creds, false) },
      payload: bad,
    });
    expect(noCsrf.statusCode, noCsrf.body).toBe(403);
    expect(JSON.parse(noCsrf.body).code).toBe("csrf_failed");
    const badBearer = await t.app.inject({
      method: "PUT",
      url: `/v1/orgs/${w.orgId}/scopes`,
      headers: { ...json, authorization: "Bearer tsr_live_nope" },
      payload: "[1,2,3]",
    });
    expect(badBearer.statusCode).toBe(401);
    // Once the caller is known, the body is validated as before, naming the field.
    const signedIn = await call(t.app, "POST", tokens, w.member.creds, { name: 5 });
    expect(signedIn.status).toBe(400);
    expect(signedIn.body.errors).toEqual([{ field: "name", message: expect.any(String) }]);
    // Public routes take no credentials and validate at once.
    const login = await call(t.app, "POST", "/v1/auth/login", null, { email: 5 });
    expect(login.status).toBe(400);
    // The handler's own authenticate() reuses what onRequest decided: one verification per request.
    const { secret } = await createToken(t.app, w.owner.creds, w.orgId, { name: "me" });
    await call(t.app, "GET", "/v1/me", { bearer: secret });
    const before = t.tessera.verifier.stats;
    await call(t.app, "GET", "/v1/me", { bearer: secret });
    const after = t.tessera.verifier.stats;
    expect(after.hits + after.misses - before.hits - before.misses).toBe(1);
  });

  it("keeps /healthz answering within 200 ms while 8 hostile requests run in parallel", async () => {
    const bearer = { ...json, authorization: `Bearer ${root}` };
    const flood = () =>
      Array.from({ length: 8 }, (_, i) =>
        send(port, "POST", i % 2 === 0 ? "/v1/verify" : `/v1/orgs/${w.orgId}/tokens`, i % 4 < 2 ? json : bearer, HOSTILE_BYTES),
      );
    // One round to warm every path (the old code took seconds per round, warm or not), then measured.
    await Promise.all([...flood(), send(port, "GET", "/healthz", {})]);
    const hostile = flood();
    const probes: Answer[] = [];
    for (let i = 0; i < 5; i++) probes.push(await send(port, "GET", "/healthz", {}));
    const answers = await Promise.all(hostile);
    // 0: the connection was reset after the refusal, before the client finished sending the body.
    for (const a of answers) expect([401, 413, 0]).toContain(a.status);
    for (const probe of probes) {
      expect(probe.status).toBe(200);
      expect(probe.ms).toBeLessThan(200);
    }
  });

  it("heap after GC returns to its baseline after 50 hostile requests (child process with --expose-gc)", async () => {
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        ["--expose-gc", "--import", "tsx", join(ROOT, "test/support/heap-probe.ts"), dialect, "50"],
        {
          cwd: ROOT,
          env: serverEnv({}),
          stdio: ["ignore", "pipe", "inherit"],
        },
      );
      let out = "";
      child.stdout.on("data", (chunk: Buffer) => {
        out += chunk.toString();
      });
      child.on("error", reject);
      child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`heap probe exited ${code}: ${out}`))));
    });
    const { before, after, statuses } = JSON.parse(output.trim().split("\n").pop()!) as {
      before: number;
      after: number;
      statuses: number[];
    };
    expect(statuses).toEqual([400, 401, 413]);
    // The old code grew by about 360 MiB here.
    expect((after - before) / 1024 / 1024).toBeLessThan(20);
  }, 120_000);

  it("20,000 unknown tokens through /v1/verify do not evict a warm real token (served from memory after)", async () => {
    const { secret } = await createToken(t.app, w.owner.creds, w.orgId, { name: "warm" });
    const verify = (token: string) => call(t.app, "POST", "/v1/verify", { bearer: root }, { token });
    expect((await verify(secret)).body.code).toBe("VALID");
    const unknown = Array.from({ length: 20_000 }, () => generateToken("tsr", "live").secret);
    const start = t.tessera.verifier.stats;
    for (let i = 0; i < unknown.length; i += 200) {
      const answers = await Promise.all(unknown.slice(i, i + 200).map(verify));
      for (const a of answers) expect(a.body.code).toBe("NOT_FOUND");
      // The real token stays in use, as a backend's would: every 2,000 unknowns (twice the cache's size).
      if (i % 2000 === 0) expect((await verify(secret)).body.code).toBe("VALID");
    }
    const stats = t.tessera.verifier.stats;
    expect(stats.misses - start.misses, "only the unknown tokens read storage").toBe(20_000);
    expect(stats.negatives).toBeLessThanOrEqual(1000);
    expect(stats.size).toBeLessThanOrEqual(2000);
    const again = await verify(secret);
    expect(again.body.code).toBe("VALID");
    const after = t.tessera.verifier.stats;
    expect(after.misses, "the warm token and the root bearer came from memory").toBe(stats.misses);
    expect(after.hits).toBe(stats.hits + 2);
    const metrics = (await call(t.app, "GET", "/metrics")).raw;
    expect(metrics).toMatch(/^tessera_verifier_cache_negative_entries \d+/m);
  }, 180_000);

  it("GET /v1/orgs pages 2,000+ memberships quickly, one query per page, without stalling /healthz", async () => {
    const { db } = t.tessera.store;
    const now = Date.now();
    await db.transaction().execute(async (trx) => {
      for (let i = 0; i < 2000; i++) {
        const id = newId("organization");
        await insertOrg(trx, { id, name: `Org ${i}`, settings: DEFAULT_ORG_SETTINGS, createdAt: now, updatedAt: now });
        await insertMembership(trx, id, w.viewer.id, "viewer", now);
      }
    });
    const seen = new Set<string>();
    let cursor: string | null = null;
    let pages = 0;
    const times: number[] = [];
    const probes: number[] = [];
    do {
      const started = performance.now();
      // A /healthz probe over a real socket beside every page: it must not wait behind the listing.
      const probe = send(port, "GET", "/healthz", {});
      const page = await call(t.app, "GET", `/v1/orgs?limit=100${cursor ? `&cursor=${cursor}` : ""}`, w.viewer.creds);
      times.push(performance.now() - started);
      probes.push((await probe).ms);
      expect(page.status, page.raw).toBe(200);
      expect(page.body.items.length).toBeLessThanOrEqual(100);
      for (const org of page.body.items) seen.add(org.id);
      cursor = page.body.nextCursor;
      pages++;
    } while (cursor);
    expect(seen.size).toBe(2001); // Acme and the 2,000
    expect(pages).toBe(21);
    // Median page time (one slow moment of a shared machine aside); the old code answered all 2,001 in
    // one response after one query per membership.
    expect(times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!).toBeLessThan(100);
    // /healthz is not held behind the paging (the old single response took 0.3–0.5 s of loop here): the
    // median probe, so that one slow moment of a loaded CI machine is not taken for a stall.
    expect(probes.sort((a, b) => a - b)[Math.floor(probes.length / 2)]!).toBeLessThan(500);
    // The default page is 50, and the limit is capped at 100.
    const first = await call(t.app, "GET", "/v1/orgs", w.viewer.creds);
    expect(first.body.items).toHaveLength(50);
    expect(first.body.items[0].role).toBe("viewer");
    expect((await call(t.app, "GET", "/v1/orgs?limit=101", w.viewer.creds)).status).toBe(400);
    expect((await call(t.app, "GET", "/v1/orgs?cursor=nope", w.viewer.creds)).status).toBe(400);
    // Another person's list is theirs alone.
    const other = await call(t.app, "GET", "/v1/orgs", w.otherOwner.creds);
    expect(other.body.items.map((o: { id: string }) => o.id)).toEqual([w.otherOrgId]);
    expect(other.body.nextCursor).toBeNull();
  }, 120_000);

  it("sends /docs/static/index.html with a query string to /docs/, not to itself", async () => {
    for (const url of ["/docs/static/index.html?x", "/docs/static/index.html"]) {
      const res = await t.app.inject({ method: "GET", url });
      expect(res.statusCode).toBe(302);
      expect(res.headers.location).toBe("/docs/");
    }
  });
});

describe("under pressure", () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp("sqlite", { maxEventLoopDelayMs: 100, pressureSampleMs: 300 });
  });
  afterAll(() => t?.close());

  it("answers 503 service_unavailable with Retry-After while the loop is late; /healthz and /metrics still answer", async () => {
    await new Promise((r) => setTimeout(r, 400));
    expect((await call(t.app, "GET", "/v1/openapi.json")).status).toBe(200);
    // Keep the loop late, as hostile requests used to: 250 ms blocks with only a moment between them, so
    // every 300 ms sample is mostly late; ask after each block until the refusal shows (at most ~3 s).
    let refusedOnce = false;
    for (let i = 0; i < 12 && !refusedOnce; i++) {
      const until = Date.now() + 250;
      while (Date.now() < until) {
        // busy
      }
      await new Promise((r) => setTimeout(r, 1));
      refusedOnce = (await call(t.app, "GET", "/v1/openapi.json")).status === 503;
    }
    expect(refusedOnce, "a request was refused while the loop was late").toBe(true);
    const [refused, ready, health, metrics] = await Promise.all([
      call(t.app, "GET", "/v1/openapi.json"),
      call(t.app, "GET", "/readyz"),
      call(t.app, "GET", "/healthz"),
      call(t.app, "GET", "/metrics"),
    ]);
    expect(refused.status, refused.raw.slice(0, 200)).toBe(503);
    expect(refused.body.code).toBe("service_unavailable");
    expect(Number(refused.headers["retry-after"])).toBeGreaterThan(0);
    expect(ready.status).toBe(503);
    expect(health.status).toBe(200);
    expect(metrics.status).toBe(200);
    expect(metrics.raw).toMatch(/^tessera_under_pressure 1$/m);
    expect(metrics.raw).toMatch(/^tessera_process_nodejs_eventloop_lag_p99_seconds \d/m);
    // Once the loop is on time again, requests are served.
    await new Promise((r) => setTimeout(r, 800));
    expect((await call(t.app, "GET", "/v1/openapi.json")).status).toBe(200);
  });
});
