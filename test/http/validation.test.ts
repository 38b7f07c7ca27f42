import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dialects } from "../support/databases.js";
import {
  type Call,
  type Credentials,
  call,
  createToken,
  headersFor,
  joinOrg,
  seedWorld,
  startTestApp,
  type TestApp,
  type World,
} from "../support/harness.js";

/** Bad and hostile input (issue 2 "Bad input", issue 5 point 2): always a problem, never a 5xx, nothing half-written. */

const DAY = 86_400_000;

function expectProblem(res: Call, status: number, code: string) {
  expect(res.status, res.raw).toBe(status);
  expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status, code, type: `urn:tessera:problem:${code}` });
  expect(res.raw).not.toMatch(/\n\s+at /); // no stack trace
}

function expectInvalid(res: Call, field: string) {
  expectProblem(res, 400, "validation_failed");
  const fields = (res.body.errors ?? []).map((e: { field: string }) => e.field);
  expect(fields, res.raw).toContain(field);
}

describe.each(await dialects())("bad input on %s", (dialect) => {
  let t: TestApp;
  let w: World;
  let owner: Credentials;

  beforeAll(async () => {
    t = await startTestApp(dialect);
    w = await seedWorld(t.app);
    owner = w.owner.creds;
    await call(t.app, "PUT", `/v1/orgs/${w.orgId}/scopes`, owner, [
      { name: "messages:send", description: "Send messages" },
      { name: "messages:read", description: "Read messages" },
    ]);
  });
  afterAll(() => t?.close());

  const create = (body: unknown, creds: Credentials = owner, orgId = w.orgId) =>
    call(t.app, "POST", `/v1/orgs/${orgId}/tokens`, creds, body);

  /** A fresh organisation owned by Acme's owner, with the given token policy. */
  async function policyOrg(settings: Record<string, unknown>): Promise<string> {
    const org = await call(t.app, "POST", "/v1/orgs", owner, { name: "Policy" });
    expect(org.status).toBe(201);
    const patched = await call(t.app, "PATCH", `/v1/orgs/${org.body.id}`, owner, { settings });
    expect(patched.status, patched.raw).toBe(200);
    return org.body.id as string;
  }

  it("refuses unknown scopes and scopes beyond the creator's permissions", async () => {
    expectInvalid(await create({ name: "x", scopes: ["nope:nope"] }), "scopes");
    expectInvalid(await create({ name: "x", scopes: ["messages:send", "Messages:Send"] }), "scopes");
    expectInvalid(await create({ name: "x", scopes: ["nope:*"] }), "scopes");
    expectInvalid(await create({ name: "x", scopes: ["audit:read"] }, w.member.creds), "scopes");
    expectInvalid(await create({ name: "x", scopes: ["members:write"] }, w.member.creds), "scopes");
    // …and the same on edit.
    const mine = await createToken(t.app, w.member.creds, w.orgId, { name: "member's" });
    const edit = await call(t.app, "PATCH", `/v1/orgs/${w.orgId}/tokens/${mine.id}`, w.member.creds, { scopes: ["org:write"] });
    expectInvalid(edit, "scopes");
  });

  it("refuses a past expiry, a zero-day preset and both forms at once", async () => {
    expectInvalid(await create({ name: "x", expiresAt: new Date(Date.now() - DAY).toISOString() }), "expiresAt");
    expectInvalid(await create({ name: "x", expiresInDays: 0 }), "expiresInDays");
    expectInvalid(await create({ name: "x", expiresAt: "next tuesday" }), "expiresAt");
    expectInvalid(await create({ name: "x", expiresAt: "2030-02-30T00:00:00Z" }), "expiresAt");
    expectInvalid(
      await create({ name: "x", expiresAt: new Date(Date.now() + DAY).toISOString(), expiresInDays: 30 }),
      "expiresAt",
    );
  });

  it("holds the organisation's expiry policy: maxExpiryDays and requireExpiry", async () => {
    const capped = await policyOrg({ maxExpiryDays: 30 });
    expectInvalid(await create({ name: "x", expiresInDays: 31 }, owner, capped), "expiresInDays");
    expectInvalid(
      await create({ name: "x", expiresAt: new Date(Date.now() + 60 * DAY).toISOString() }, owner, capped),
      "expiresAt",
    );
    expect((await create({ name: "x", expiresInDays: 30 }, owner, capped)).status).toBe(201);

    const required = await policyOrg({ requireExpiry: true });
    expectInvalid(await create({ name: "x" }, owner, required), "expiresAt");
    expectInvalid(await create({ name: "x", expiresAt: null }, owner, required), "expiresAt");
    expect((await create({ name: "x", expiresInDays: 90 }, owner, required)).status).toBe(201);
    // A default expiry satisfies the requirement when the request names none.
    await call(t.app, "PATCH", `/v1/orgs/${required}`, owner, { defaultExpiryDays: 7 });
    const defaulted = await create({ name: "x" }, owner, required);
    expect(defaulted.status).toBe(201);
    expect(Date.parse(defaulted.body.token.expiresAt)).toBeGreaterThan(Date.now() + 6 * DAY);
  });

  it("refuses bad CIDRs, naming the entry", async () => {
    expectInvalid(await create({ name: "x", allowedIps: ["10.0.0.0/33"] }), "allowedIps[0]");
    expectInvalid(await create({ name: "x", allowedIps: ["10.0.0.0/8", "not-an-ip"] }), "allowedIps[1]");
    expectInvalid(await create({ name: "x", allowedIps: ["::1/129"] }), "allowedIps[0]");
    expectInvalid(await create({ name: "x", allowedIps: ["256.1.1.1"] }), "allowedIps[0]");
    expectInvalid(await create({ name: "x", allowedIps: [""] }), "allowedIps[0]");
    const ok = await create({ name: "x", allowedIps: ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"] });
    expect(ok.status, ok.raw).toBe(201);
    expect(ok.body.token.allowedIps).toEqual(["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]);
  });

  it("refuses metadata over 4 KiB and accepts it at the limit", async () => {
    expectInvalid(await create({ name: "x", metadata: { blob: "x".repeat(4100) } }), "metadata");
    // {"blob":"…"} is 11 bytes of JSON around the value.
    const atLimit = await create({ name: "x", metadata: { blob: "x".repeat(4096 - 11) } });
    expect(atLimit.status, atLimit.raw).toBe(201);
    expectInvalid(await create({ name: "x", metadata: "not an object" }), "metadata");
    expectInvalid(await create({ name: "x", metadata: [1, 2] }), "metadata");
  });

  it("refuses names that are missing, empty, blank or over 100 characters", async () => {
    expectInvalid(await create({}), "name");
    expectInvalid(await create({ name: "" }), "name");
    expectInvalid(await create({ name: "   " }), "name");
    expectInvalid(await create({ name: "n".repeat(101) }), "name");
    expect((await create({ name: "n".repeat(100) })).status).toBe(201);
    const mine = await createToken(t.app, owner, w.orgId, { name: "renamed" });
    expectInvalid(await call(t.app, "PATCH", `/v1/orgs/${w.orgId}/tokens/${mine.id}`, owner, { name: "" }), "name");
  });

  it("refuses wrong types without coercing them", async () => {
    expectInvalid(await create({ name: 5 }), "name");
    expectInvalid(await create({ name: ["x"] }), "name");
    expectInvalid(await create({ name: "x", scopes: "tokens:read" }), "scopes");
    expectInvalid(await create({ name: "x", expiresInDays: "30" }), "expiresInDays");
    expectInvalid(await create({ name: "x", expiresInDays: 1.5 }), "expiresInDays");
    expectInvalid(await create({ name: "x", rateLimit: { limit: 0, windowSeconds: 60 } }), "rateLimit.limit");
    expectInvalid(await create({ name: "x", environment: "prod" }), "environment");
    expectInvalid(await create({ name: "x", kind: "root" }), "kind");
    expectInvalid(await create({ name: "x", allowedIps: [42] }), "allowedIps[0]");
    expectInvalid(await create(null), "body");
    expectInvalid(await create([{ name: "x" }]), "body");
    expectInvalid(await create("name"), "body");
  });

  it("answers 413 for a body over 1 MiB, 400 for malformed or deeply nested JSON, 415 for non-JSON", async () => {
    const raw = (payload: string, contentType = "application/json") =>
      t.app.inject({
        method: "POST",
        url: `/v1/orgs/${w.orgId}/tokens`,
        headers: { ...headersFor(owner), "content-type": contentType },
        payload,
      });
    const asCall = (res: Awaited<ReturnType<typeof raw>>): Call => ({
      status: res.statusCode,
      body: JSON.parse(res.body),
      headers: res.headers,
      raw: res.body,
    });
    const big = JSON.stringify({ name: "big", description: "x".repeat(1024 * 1024) });
    expectProblem(asCall(await raw(big)), 413, "payload_too_large");
    expectInvalid(asCall(await raw('{"name": "x",')), "body");
    expectInvalid(asCall(await raw("{'name': 'x'}")), "body");
    expectInvalid(asCall(await raw(`${'{"a":'.repeat(1000)}1${"}".repeat(1000)}`)), "body");
    expectInvalid(asCall(await raw(`${"[".repeat(200_000)}${"]".repeat(200_000)}`)), "body");
    for (const poisoned of [
      '{"name":"x","__proto__":{"admin":true}}',
      '{"name":"x","metadata":{"constructor":{"prototype":{}}}}',
    ]) {
      const refused = asCall(await raw(poisoned));
      expectInvalid(refused, "body");
      expect(refused.body.detail, "names the refused key rather than calling the JSON invalid").toMatch(/__proto__/);
    }
    expectProblem(asCall(await raw("name=x", "application/x-www-form-urlencoded")), 415, "unsupported_media_type");
  });

  it("answers 409 invalid_state for transitions the state machine forbids", async () => {
    const { id } = await createToken(t.app, owner, w.orgId, { name: "machine" });
    const path = `/v1/orgs/${w.orgId}/tokens/${id}`;
    const post = (action: string, body?: unknown) => call(t.app, "POST", `${path}/${action}`, owner, body);
    expectProblem(await post("activate"), 409, "invalid_state");
    expectProblem(await post("resume"), 409, "invalid_state");
    expect((await post("suspend")).status).toBe(200);
    expectProblem(await post("deactivate"), 409, "invalid_state");
    expectProblem(await post("suspend"), 409, "invalid_state");
    expect((await post("revoke")).status).toBe(200);
    for (const action of ["revoke", "resume", "suspend", "activate", "deactivate"]) {
      expectProblem(await post(action), 409, "invalid_state");
    }
    expectProblem(await call(t.app, "DELETE", path, owner), 409, "invalid_state");
    expectProblem(await post("regenerate", {}), 409, "invalid_state");
    expectProblem(await call(t.app, "PATCH", path, owner, { name: "after revocation" }), 409, "invalid_state");
  });

  it("requires suspension before revocation when the organisation says so", async () => {
    const org = await policyOrg({ revokeRequiresSuspension: true });
    const { id, secret } = await createToken(t.app, owner, org, { name: "two-step" });
    const path = `/v1/orgs/${org}/tokens/${id}`;
    expectProblem(await call(t.app, "POST", `${path}/revoke`, owner, { reason: "r" }), 409, "invalid_state");
    expectProblem(await call(t.app, "DELETE", path, owner), 409, "invalid_state");
    expect((await call(t.app, "GET", path, owner)).body.status).toBe("active");
    expect((await call(t.app, "POST", `${path}/suspend`, owner)).status).toBe(200);
    const revoked = await call(t.app, "POST", `${path}/revoke`, owner, { reason: "r" });
    expect(revoked.status, revoked.raw).toBe(200);
    expect(revoked.body.status).toBe("revoked");
    const me = await call(t.app, "GET", "/v1/me", { bearer: secret });
    expect(me.status).toBe(401);
  });

  it("writes nothing when a request fails", async () => {
    const snapshot = async () => ({
      tokens: (await call(t.app, "GET", `/v1/orgs/${w.orgId}/tokens?limit=100`, owner)).body,
      audit: (await call(t.app, "GET", `/v1/orgs/${w.orgId}/audit?limit=100`, owner)).body,
      org: (await call(t.app, "GET", `/v1/orgs/${w.orgId}`, owner)).body,
      members: (await call(t.app, "GET", `/v1/orgs/${w.orgId}/members`, owner)).body,
      invitations: (await call(t.app, "GET", `/v1/orgs/${w.orgId}/invitations`, owner)).body,
    });
    const { id } = await createToken(t.app, owner, w.orgId, { name: "untouched", allowedIps: ["10.0.0.0/8"] });
    const before = await snapshot();
    const failures = [
      await create({ name: "half", allowedIps: ["10.0.0.0/8", "bad"] }),
      await create({ name: "half", metadata: { blob: "x".repeat(5000) } }),
      await create({ name: "half", scopes: ["nope:nope"] }),
      await create({ name: "half", expiresAt: "2001-01-01T00:00:00Z" }),
      await create({ name: "half", scopes: ["audit:read"] }, w.member.creds),
      // An edit that is partly valid changes nothing at all.
      await call(t.app, "PATCH", `/v1/orgs/${w.orgId}/tokens/${id}`, owner, { name: "renamed", allowedIps: ["bad"] }),
      await call(t.app, "PATCH", `/v1/orgs/${w.orgId}/tokens/${id}`, owner, { description: "d", scopes: ["nope:nope"] }),
      await call(t.app, "PATCH", `/v1/orgs/${w.orgId}`, owner, {
        name: "Renamed",
        settings: { maxExpiryDays: 5, defaultExpiryDays: 10 },
      }),
      await call(t.app, "PATCH", `/v1/orgs/${w.orgId}`, owner, { name: "Renamed", tokenPrefix: "NOPE" }),
      await call(t.app, "PATCH", `/v1/orgs/${w.orgId}/members/${w.owner.id}`, owner, { role: "member" }),
      // An admin may not invite an owner: no invitation is written.
      await call(t.app, "POST", `/v1/orgs/${w.orgId}/invitations`, w.admin.creds, { email: "new@acme.test", role: "owner" }),
      await call(t.app, "PUT", `/v1/orgs/${w.orgId}/scopes`, owner, [{ name: "ok:fine" }, { name: "Not A Scope" }]),
    ];
    for (const res of failures) expect([400, 403, 409], res.raw).toContain(res.status);
    expect(await snapshot()).toEqual(before);
    const scopes = await call(t.app, "GET", `/v1/orgs/${w.orgId}/scopes`, owner);
    expect(scopes.body.map((s: { name: string }) => s.name)).not.toContain("ok:fine");
  });

  it("stores unicode and SQL-looking strings verbatim", async () => {
    const strings = [
      "Robert'); DROP TABLE tokens;--",
      "名前 🚀",
      "' OR '1'='1",
      "100% _done_ \\ back\\slash",
      "Ünïcödé — “quotes” ‘single’ «guillemets»",
      "emoji 👩‍👩‍👧‍👦 family, ZWJ and 🇮🇹 flag",
      "right-to-left \u202e txet",
      "<script>alert(1)</script>",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal placeholder is the point of this input
      "$1 $$ ${x} {{y}}",
    ];
    for (const name of strings) {
      const created = await create({
        name,
        description: name,
        issuedFor: name,
        metadata: { [name]: name, nested: { value: name } },
      });
      expect(created.status, created.raw).toBe(201);
      const detail = await call(t.app, "GET", `/v1/orgs/${w.orgId}/tokens/${created.body.token.id}`, owner);
      expect(detail.body).toMatchObject({
        name,
        description: name,
        issuedFor: name,
        metadata: { [name]: name, nested: { value: name } },
      });
      const found = await call(t.app, "GET", `/v1/orgs/${w.orgId}/tokens?q=${encodeURIComponent(name)}`, owner);
      expect(found.status).toBe(200);
      expect(found.body.items.map((x: { id: string }) => x.id)).toContain(created.body.token.id);
      expect(found.body.items.every((x: { name: string }) => x.name.toLowerCase().includes(name.toLowerCase()))).toBe(true);
    }
    // LIKE metacharacters are matched literally.
    const percent = await call(t.app, "GET", `/v1/orgs/${w.orgId}/tokens?q=${encodeURIComponent("%")}&limit=100`, owner);
    expect(percent.body.items.every((x: { name: string }) => x.name.includes("%"))).toBe(true);
    const underscore = await call(t.app, "GET", `/v1/orgs/${w.orgId}/tokens?q=_&limit=100`, owner);
    expect(underscore.body.items.every((x: { name: string }) => x.name.includes("_"))).toBe(true);
    // The audit trail and other names keep them too; the tokens table survived.
    const audit = await call(t.app, "GET", `/v1/orgs/${w.orgId}/audit?action=token.created&limit=100`, owner);
    expect(audit.body.items.map((e: { target: { name: string } }) => e.target.name)).toEqual(expect.arrayContaining(strings));
    const org = await call(t.app, "POST", "/v1/orgs", owner, { name: strings[0] });
    expect(org.body.name).toBe(strings[0]);
    const member = await joinOrg(t.app, owner, w.orgId, { email: "bobby@acme.test", name: strings[1]!, role: "viewer" });
    const members = await call(t.app, "GET", `/v1/orgs/${w.orgId}/members`, owner);
    expect(members.body.items).toContainEqual(expect.objectContaining({ id: member.id, name: strings[1] }));
    expect((await call(t.app, "GET", `/v1/orgs/${w.orgId}/tokens?limit=1`, owner)).status).toBe(200);
  });

  it("never answers 5xx for a NUL character, wherever it is sent", async () => {
    // SQLite stores U+0000; PostgreSQL text cannot hold it, so it is refused as bad input there.
    const acceptedOrRefused = (res: Call, verbatim?: () => void) => {
      expect(res.status, res.raw).toBeLessThan(500);
      if (res.status === 400) expectProblem(res, 400, "validation_failed");
      else verbatim?.();
    };
    const named = await create({ name: "a\u0000b", description: "c\u0000d" });
    acceptedOrRefused(named, () => expect(named.body.token).toMatchObject({ name: "a\u0000b", description: "c\u0000d" }));
    const meta = await create({ name: "meta", metadata: { "k\u0000": "v\u0000" } });
    expect(meta.status, meta.raw).toBe(201);
    expect(meta.body.token.metadata).toEqual({ "k\u0000": "v\u0000" });
    for (const url of [
      `/v1/orgs/${w.orgId}/tokens?q=a%00b`,
      `/v1/orgs/${w.orgId}/tokens?cursor=a%00b`,
      `/v1/orgs/${w.orgId}/tokens/tok_%00`,
      `/v1/orgs/org_%00`,
      `/v1/orgs/${w.orgId}/audit?action=a%00b`,
      `/v1/orgs/${w.orgId}/members/usr_%00`,
    ]) {
      acceptedOrRefused(await call(t.app, "GET", url, owner));
    }
    const login = await call(t.app, "POST", "/v1/auth/login", null, {
      email: "owner@acme.test\u0000",
      password: "whatever it is",
    });
    expectProblem(login, 401, "unauthorized");
  });

  it.todo("answers problem+json for a path with invalid percent-encoding (GET /v1/orgs/%ff: Fastify's FST_ERR_BAD_URL today)");

  it("property: any JSON as a create-token body is a 201 or a 4xx problem, never a 5xx", async () => {
    const org = (await call(t.app, "POST", "/v1/orgs", owner, { name: "Fuzz" })).body.id as string;
    const anyJson = fc.jsonValue({ maxDepth: 3, stringUnit: "binary" });
    const plausible = fc.record(
      {
        name: fc.oneof(fc.string({ unit: "binary", maxLength: 120 }), anyJson),
        description: fc.oneof(fc.string({ maxLength: 50 }), fc.constant(null), anyJson),
        kind: fc.oneof(fc.constantFrom("personal", "service", "root"), anyJson),
        issuedFor: fc.oneof(fc.string({ maxLength: 50 }), fc.constant(null), anyJson),
        scopes: fc.oneof(
          fc.array(fc.constantFrom("tokens:read", "messages:send", "messages:*", "nope:nope", "audit:read", ":", "*:*", "")),
          anyJson,
        ),
        expiresAt: fc.oneof(
          fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
          fc.constant(null),
          fc.string(),
          anyJson,
        ),
        expiresInDays: fc.oneof(fc.integer({ min: -10, max: 5000 }), fc.double(), fc.constant(null), anyJson),
        environment: fc.oneof(fc.constantFrom("live", "test"), anyJson),
        allowedIps: fc.oneof(
          fc.array(fc.oneof(fc.ipV4(), fc.ipV6(), fc.constantFrom("10.0.0.0/8", "::/0", "1.2.3.4/40", "x"), fc.string())),
          anyJson,
        ),
        rateLimit: fc.oneof(
          fc.record({ limit: fc.integer({ min: -5, max: 2_000_000_000 }), windowSeconds: fc.integer({ min: -5, max: 100_000 }) }),
          fc.constant(null),
          anyJson,
        ),
        metadata: fc.oneof(fc.dictionary(fc.string({ unit: "binary" }), anyJson, { maxKeys: 5 }), anyJson),
      },
      { requiredKeys: [] },
    );
    const body = fc.oneof({ weight: 4, arbitrary: plausible }, { weight: 1, arbitrary: anyJson });
    await fc.assert(
      fc.asyncProperty(body, async (payload) => {
        const res = await create(payload, owner, org);
        if (res.status >= 500) throw new Error(`${res.status} for ${JSON.stringify(payload)}: ${res.raw}`);
        if (res.status === 201) {
          expect(res.body.secret).toMatch(/^[a-z]{2,8}_(live|test)_[0-9A-Za-z]+$/);
          return;
        }
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
        expect(typeof res.body.code).toBe("string");
        if (res.status === 400) expect(res.body.errors?.length ?? 0).toBeGreaterThan(0);
      }),
      { numRuns: 200 },
    );
  });

  it("property: any query string or path parameter is a 2xx or a 4xx problem, never a 5xx", async () => {
    const text = fc.string({ unit: "binary", maxLength: 80 });
    const cases = fc.oneof(
      fc
        .record({ key: fc.constantFrom("q", "status", "kind", "ownerId", "limit", "cursor"), value: text })
        .map(({ key, value }) => `/v1/orgs/${w.orgId}/tokens?${key}=${encodeURIComponent(value)}`),
      fc
        .record({ key: fc.constantFrom("action", "actorId", "targetId", "from", "to", "limit", "cursor"), value: text })
        .map(({ key, value }) => `/v1/orgs/${w.orgId}/audit?${key}=${encodeURIComponent(value)}`),
      text.map((id) => `/v1/orgs/${w.orgId}/tokens/${encodeURIComponent(id)}`),
      text.map((id) => `/v1/orgs/${encodeURIComponent(id)}/members`),
      fc
        .record({ key: fc.constantFrom("from", "to", "interval"), value: text })
        .map(({ key, value }) => `/v1/orgs/${w.orgId}/tokens/tok_none/usage?${key}=${encodeURIComponent(value)}`),
    );
    await fc.assert(
      fc.asyncProperty(cases, async (url) => {
        const res = await call(t.app, "GET", url, owner);
        if (res.status >= 500) throw new Error(`${res.status} for GET ${url}: ${res.raw}`);
        if (res.status >= 400) {
          expect(res.headers["content-type"], url).toMatch(/^application\/problem\+json/);
          expect(typeof res.body.code).toBe("string");
        }
      }),
      { numRuns: 200 },
    );
  });
});
