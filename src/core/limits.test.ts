import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  limitSpecs,
  loosensLimits,
  type NamedRateLimit,
  normaliseRateLimits,
  refillPeriodStart,
  type TokenCredits,
  validateRateLimits,
  windowOf,
} from "./limits.js";
import { decideLimitsChange, type PolicyActor } from "./policy.js";
import { rolePermissions, seesAllTokens } from "./roles.js";
import { scopeSet } from "./scopes.js";

const credits = (remaining: number, refill: TokenCredits["refill"] = null): TokenCredits => ({
  remaining,
  refill,
  refilledAt: null,
  gen: 1,
  seq: 0,
});
const minute = (limit: number, name = "m"): NamedRateLimit => ({ name, limit, windowSeconds: 60 });

describe("limits (pure)", () => {
  it("windows are fixed and aligned to the epoch: every instant of a window maps to the same start", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 86_400 }), fc.integer({ min: 0, max: 4_102_444_800_000 }), (seconds, now) => {
        const w = windowOf(seconds, now);
        expect(w.start % (seconds * 1000)).toBe(0);
        expect(now - w.start).toBeLessThan(w.ms);
        expect(windowOf(seconds, w.start + w.ms - 1).start).toBe(w.start);
      }),
    );
  });

  it("refill periods start at the UTC day or month", () => {
    const at = Date.UTC(2026, 11, 31, 23, 59, 59);
    expect(refillPeriodStart("day", at)).toBe(Date.UTC(2026, 11, 31));
    expect(refillPeriodStart("month", at)).toBe(Date.UTC(2026, 11, 1));
    expect(refillPeriodStart("month", at + 1000)).toBe(Date.UTC(2027, 0, 1));
  });

  it("the legacy single limit is `default`, first; names are unique and at most five", () => {
    expect(normaliseRateLimits({ limit: 5, windowSeconds: 1 }, [minute(9)])).toEqual([
      { name: "default", limit: 5, windowSeconds: 1 },
      minute(9),
    ]);
    expect(normaliseRateLimits(undefined, undefined)).toBeUndefined();
    expect(validateRateLimits([minute(1, "a"), minute(2, "a")], "rateLimits")).toHaveLength(1);
    expect(
      validateRateLimits(
        [1, 2, 3, 4, 5, 6].map((i) => minute(i, `l${i}`)),
        "rateLimits",
      ),
    ).toHaveLength(1);
    expect(validateRateLimits([minute(1, "Bad")], "rateLimits")[0]?.field).toBe("rateLimits/0/name");
  });

  it("organisation limits follow the token's, as org:<name>, on their own counters", () => {
    const specs = limitSpecs({ id: "tok_1", orgId: "org_1", rateLimits: [minute(10, "own")], credits: credits(3) }, [
      minute(100, "plan"),
    ]);
    expect(specs.limits.map((l) => [l.key, l.name])).toEqual([
      ["t:tok_1:own", "own"],
      ["o:org_1:plan", "org:plan"],
    ]);
    expect(specs.credits).toEqual({ tokenId: "tok_1", gen: 1, refill: null });
  });

  it("tells loosening from tightening", () => {
    const before = { rateLimits: [minute(10)], credits: credits(50, { amount: 50, interval: "month" }) };
    const table: [Parameters<typeof loosensLimits>[1], { rateLimits: boolean; credits: boolean }][] = [
      [{ rateLimits: [minute(5)] }, { rateLimits: false, credits: false }],
      [{ rateLimits: [minute(10), minute(1, "extra")] }, { rateLimits: false, credits: false }],
      [{ rateLimits: [{ name: "m", limit: 10, windowSeconds: 120 }] }, { rateLimits: false, credits: false }],
      [{ rateLimits: [minute(11)] }, { rateLimits: true, credits: false }],
      [{ rateLimits: [{ name: "m", limit: 10, windowSeconds: 30 }] }, { rateLimits: true, credits: false }],
      [{ rateLimits: [] }, { rateLimits: true, credits: false }],
      [{ credits: { remaining: 10 } }, { rateLimits: false, credits: false }],
      [{ credits: { remaining: 51 } }, { rateLimits: false, credits: true }],
      [{ credits: null }, { rateLimits: false, credits: true }],
      [{ credits: { remaining: 10, refill: { amount: 60, interval: "month" } } }, { rateLimits: false, credits: true }],
      [{ credits: { remaining: 10, refill: { amount: 50, interval: "day" } } }, { rateLimits: false, credits: true }],
      [{ credits: { remaining: 10, refill: null } }, { rateLimits: false, credits: false }],
    ];
    for (const [after, expected] of table) expect(loosensLimits(before, after), JSON.stringify(after)).toEqual(expected);
    // Credits on a token that had none (unlimited) are a tightening.
    expect(loosensLimits({ rateLimits: [], credits: null }, { credits: { remaining: 1_000_000 } }).credits).toBe(false);
  });

  it("members may tighten, only owners, admins and organisation-level callers may loosen", () => {
    const person = (role: "owner" | "admin" | "member"): PolicyActor => ({
      kind: "person",
      personId: "usr_me",
      role,
      permissions: rolePermissions(role),
      seesAllTokens: seesAllTokens(role),
    });
    const service: PolicyActor = {
      kind: "service",
      personId: null,
      role: null,
      permissions: scopeSet(["tokens:write", "tokens:read"]),
      seesAllTokens: true,
    };
    const own = { kind: "personal" as const, ownerId: "usr_me", scopes: [] };
    const loosen = { rateLimits: false, credits: true };
    const tighten = { rateLimits: false, credits: false };
    expect(decideLimitsChange(person("member"), own, tighten).allowed).toBe(true);
    expect(decideLimitsChange(person("member"), own, loosen).allowed).toBe(false);
    expect(decideLimitsChange(person("member"), own, { rateLimits: true, credits: false }).allowed).toBe(false);
    for (const actor of [person("owner"), person("admin"), service])
      expect(decideLimitsChange(actor, own, loosen).allowed).toBe(true);
    // Someone else's personal token: not even visible to a member.
    expect(decideLimitsChange(person("member"), { ...own, ownerId: "usr_other" }, tighten)).toMatchObject({
      allowed: false,
      code: "not_found",
    });
  });
});
