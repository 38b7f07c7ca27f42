import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, PASSWORD, seedWorld, startTestApp, type TestApp, type World } from "../support/harness.js";

/** Brute-force limits with small numbers, on SQLite (the limits live in memory, not in storage). */
describe("brute-force limits", () => {
  let t: TestApp;
  let w: World;

  beforeAll(async () => {
    t = await startTestApp("sqlite", { loginFailuresPerAccount: 3, loginFailuresPerAddress: 6, bearerFailuresPerMinute: 4 });
    w = await seedWorld(t.app);
  });
  afterAll(() => t?.close());

  const login = (email: string, password: string, ip: string) =>
    t.app.inject({ method: "POST", url: "/v1/auth/login", payload: { email, password }, remoteAddress: ip });

  it("limits failed sign-ins per account, even with the right password afterwards, and audits it", async () => {
    for (let i = 0; i < 3; i++)
      expect((await login("member@acme.test", "wrong password!!", "198.51.100.1")).statusCode).toBe(401);
    const blocked = await login("member@acme.test", PASSWORD, "198.51.100.2");
    expect(blocked.statusCode).toBe(429);
    expect(Number(blocked.headers["retry-after"])).toBeGreaterThan(0);
    expect(JSON.parse(blocked.body).code).toBe("rate_limited");
    const audit = await call(t.app, "GET", `/v1/orgs/${w.orgId}/audit?action=auth.login_throttled`, w.owner.creds);
    expect(audit.body.items.length).toBe(1);
    expect(audit.body.items[0].details).toMatchObject({ email: "member@acme.test", ip: "198.51.100.1" });
    // Another account is not affected.
    expect((await login("admin@acme.test", PASSWORD, "198.51.100.3")).statusCode).toBe(200);
  });

  it("limits failed sign-ins per address across accounts", async () => {
    for (let i = 0; i < 6; i++)
      expect((await login(`nobody${i}@acme.test`, "wrong password!!", "198.51.100.9")).statusCode).toBe(401);
    expect((await login("viewer@acme.test", PASSWORD, "198.51.100.9")).statusCode).toBe(429);
    expect((await login("viewer@acme.test", PASSWORD, "198.51.100.10")).statusCode).toBe(200);
  });

  it("limits failed bearer authentications per address and audits reaching the limit", async () => {
    const bearer = (token: string, ip: string) =>
      t.app.inject({
        method: "GET",
        url: `/v1/orgs/${w.orgId}/tokens`,
        headers: { authorization: `Bearer ${token}` },
        remoteAddress: ip,
      });
    for (let i = 0; i < 4; i++) expect((await bearer(`tsr_live_guess${i}`, "203.0.113.50")).statusCode).toBe(401);
    const blocked = await bearer("tsr_live_guess", "203.0.113.50");
    expect(blocked.statusCode).toBe(429);
    expect(Number(blocked.headers["retry-after"])).toBeGreaterThan(0);
    expect((await bearer("tsr_live_guess", "203.0.113.51")).statusCode).toBe(401);
    const events = await t.tessera.store.db
      .selectFrom("audit_events")
      .selectAll()
      .where("action", "=", "auth.bearer_throttled")
      .execute();
    expect(events).toHaveLength(1);
    expect(events[0]!.ip).toBe("203.0.113.50");
  });

  it("answers unknown and known accounts in about the same time", async () => {
    const time = async (email: string, ip: string) => {
      const start = performance.now();
      await login(email, "wrong password!!", ip);
      return performance.now() - start;
    };
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 5; i++) {
      // Fresh addresses and accounts so that no limit answers early.
      known.push(await time(["owner@acme.test", "admin@acme.test", "member2@acme.test"][i % 3]!, `192.0.2.${10 + i}`));
      unknown.push(await time(`ghost${i}@acme.test`, `192.0.2.${100 + i}`));
    }
    // Both do one scrypt (≈ 50–100 ms); a missing one would make unknown accounts ~10× faster.
    const ratio = median(unknown) / median(known);
    expect(ratio).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThan(2);
  });
});
