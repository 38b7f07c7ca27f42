import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dialects } from "../support/databases.js";
import { headersFor, seedWorld, startTestApp, type TestApp, type World } from "../support/harness.js";

/**
 * Authentication before validation on POST /v1/verify (issue 15, item 5): a caller who has not proved who
 * they are learns nothing about the body's shape. Anonymous with an invalid body → 401, not 400; a
 * console session without its CSRF header → 403 before the body is judged; authenticated → 400.
 */
describe.each(await dialects())("POST /v1/verify authenticates before it validates on %s", (dialect) => {
  let t: TestApp;
  let w: World;
  const json = { "content-type": "application/json" };

  beforeAll(async () => {
    t = await startTestApp(dialect);
    w = await seedWorld(t.app);
  });
  afterAll(() => t?.close());

  it("anonymous invalid body → 401; session without CSRF header → 403; a valid caller → 400 naming the field", async () => {
    for (const payload of ["{}", JSON.stringify({ token: 5, extra: true }), "not json"]) {
      const anonymous = await t.app.inject({ method: "POST", url: "/v1/verify", headers: json, payload });
      expect(anonymous.statusCode, anonymous.body).toBe(401);
      expect(JSON.parse(anonymous.body).code).toBe("unauthorized");
      const noCsrf = await t.app.inject({
        method: "POST",
        url: "/v1/verify",
        headers: { ...json, ...headersFor(w.owner.creds, false) },
        payload,
      });
      expect(noCsrf.statusCode, noCsrf.body).toBe(403);
      expect(JSON.parse(noCsrf.body).code).toBe("csrf_failed");
    }
    const badBearer = await t.app.inject({
      method: "POST",
      url: "/v1/verify",
      headers: { ...json, authorization: "Bearer tsr_live_nope" },
      payload: "{}",
    });
    expect(badBearer.statusCode, badBearer.body).toBe(401);
    const root = await t.tessera.tokens.createRoot("verify-order", { ip: null, userAgent: null, traceId: "" });
    const invalid = await t.app.inject({
      method: "POST",
      url: "/v1/verify",
      headers: { ...json, authorization: `Bearer ${root.secret}` },
      payload: "{}",
    });
    expect(invalid.statusCode, invalid.body).toBe(400);
    expect(JSON.parse(invalid.body)).toMatchObject({ code: "validation_failed" });
    expect(invalid.body).toMatch(/token/);
  });
});
