import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createToken, PASSWORD, seedWorld, startTestApp, type TestApp, type World } from "../support/harness.js";

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

  const instanceEvents = (action: string) =>
    t.tessera.store.db.selectFrom("audit_events").selectAll().where("action", "=", action).orderBy("id").execute();

  it("slows down an account only from the address that failed; its owner still signs in from elsewhere (issue 9 finding 7)", async () => {
    for (let i = 0; i < 3; i++)
      expect((await login("member@acme.test", "wrong password!!", "198.51.100.1")).statusCode).toBe(401);
    // The guesser's address waits now, even with the right password (no oracle)…
    const blocked = await login("member@acme.test", PASSWORD, "198.51.100.1");
    expect(blocked.statusCode).toBe(429);
    expect(blocked.headers["retry-after"]).toBe("1");
    expect(JSON.parse(blocked.body).code).toBe("rate_limited");
    // …but the account is not locked: the right password from another address is accepted.
    expect((await login("member@acme.test", PASSWORD, "198.51.100.2")).statusCode).toBe(200);
    // Reaching the delay is audited once, at instance level, on the account.
    const throttled = await instanceEvents("auth.login_throttled");
    expect(throttled).toHaveLength(1);
    expect(throttled[0]).toMatchObject({ org_id: null, target_type: "user", ip: "198.51.100.1" });
    expect(JSON.parse(throttled[0]!.details)).toMatchObject({ email: "member@acme.test", ip: "198.51.100.1" });
    // The wait doubles with each further failure from that address.
    await new Promise((r) => setTimeout(r, 1100));
    expect((await login("member@acme.test", "wrong password!!", "198.51.100.1")).statusCode).toBe(401);
    expect((await login("member@acme.test", "wrong password!!", "198.51.100.1")).headers["retry-after"]).toBe("2");
    // Another account from the same address is not affected.
    expect((await login("admin@acme.test", PASSWORD, "198.51.100.1")).statusCode).toBe(200);
  });

  it("limits failed sign-ins per address across accounts", async () => {
    for (let i = 0; i < 6; i++)
      expect((await login(`nobody${i}@acme.test`, "wrong password!!", "198.51.100.9")).statusCode).toBe(401);
    expect((await login("viewer@acme.test", PASSWORD, "198.51.100.9")).statusCode).toBe(429);
    expect((await login("viewer@acme.test", PASSWORD, "198.51.100.10")).statusCode).toBe(200);
  });

  const bearer = (token: string, ip: string, url = `/v1/orgs/${w.orgId}/tokens`) =>
    t.app.inject({ method: "GET", url, headers: { authorization: `Bearer ${token}` }, remoteAddress: ip });

  it("limits failed bearer authentications per address and audits reaching the limit", async () => {
    for (let i = 0; i < 4; i++) expect((await bearer(`tsr_live_guess${i}`, "203.0.113.50")).statusCode).toBe(401);
    const blocked = await bearer("tsr_live_guess", "203.0.113.50");
    expect(blocked.statusCode).toBe(429);
    expect(Number(blocked.headers["retry-after"])).toBeGreaterThan(0);
    expect((await bearer("tsr_live_guess", "203.0.113.51")).statusCode).toBe(401);
    const events = await instanceEvents("auth.bearer_throttled");
    expect(events).toHaveLength(1);
    expect(events[0]!.ip).toBe("203.0.113.50");
  });

  it("keeps serving a valid token from an address that others' failures throttled, without a storage read (issue 9 finding 7)", async () => {
    const { secret } = await createToken(t.app, w.owner.creds, w.orgId, {
      name: "backend behind a shared NAT",
      kind: "service",
      scopes: ["tokens:read", "tokens:verify"],
    });
    const { secret: cold } = await createToken(t.app, w.owner.creds, w.orgId, {
      name: "never used yet",
      kind: "service",
      scopes: ["tokens:read"],
    });
    const nat = "203.0.113.60";
    expect((await bearer(secret, nat)).statusCode).toBe(200); // warm now
    for (let i = 0; i < 4; i++) expect((await bearer(`tsr_live_guess${i}`, nat)).statusCode).toBe(401);
    expect((await bearer("tsr_live_guess", nat)).statusCode).toBe(429);

    const misses = t.tessera.verifier.stats.misses;
    const served = await bearer(secret, nat);
    expect(served.statusCode, served.body).toBe(200);
    const verified = await t.app.inject({
      method: "POST",
      url: "/v1/verify",
      headers: { authorization: `Bearer ${secret}` },
      payload: { token: secret },
      remoteAddress: nat,
    });
    expect(verified.statusCode, verified.body).toBe(200);
    expect(JSON.parse(verified.body).valid).toBe(true);
    expect(t.tessera.verifier.stats.misses).toBe(misses);

    // Storage stays protected: a token the verifier does not hold is refused before any lookup.
    const coldAnswer = await bearer(cold, nat);
    expect(coldAnswer.statusCode).toBe(429);
    expect(t.tessera.verifier.stats.misses).toBe(misses);
    // The same token is fine from anywhere else.
    expect((await bearer(cold, "203.0.113.61")).statusCode).toBe(200);
    // A well-formed unknown token known to be unknown (a warm negative entry) is no way around the limit.
    const unknown = `tsr_live_${"a".repeat(40)}`;
    await bearer(unknown, "203.0.113.62");
    expect((await bearer(unknown, nat)).statusCode).toBe(429);
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
    // Both do one argon2id check (≈ 20–60 ms); a missing one would make unknown accounts ~10× faster.
    const ratio = median(unknown) / median(known);
    expect(ratio).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThan(2);
  });
});
