import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { blankToken, type TokenRecord } from "../core/tokens.js";
import { verificationBody, verificationResponse } from "./verification-view.js";
import type { VerifyResult } from "./verifier.js";

const CODES = ["VALID", "RATE_LIMITED", "USAGE_EXCEEDED", "INSUFFICIENT_SCOPE", "NOT_FOUND"] as const;

function token(t: {
  name: string;
  metadata: Record<string, unknown>;
  expiresAt: number | null;
  orgId: string | null;
}): TokenRecord {
  return { ...blankToken(0), id: "tok_1", prefix: "tsr_live_abcdefgh", last4: "wxyz", scopes: ["a:read"], ...t };
}

const limitState = fc.record({
  name: fc.string({ maxLength: 20 }),
  limit: fc.nat({ max: 1e12 }),
  remaining: fc.nat({ max: 1e12 }),
  resetAt: fc.integer({ min: 0, max: 4e12 }),
});

describe("verificationBody", () => {
  it("property: a result with limits or credits is written exactly as JSON.stringify(verificationResponse(r))", () => {
    fc.assert(
      fc.property(
        fc.record({
          name: fc.string({ maxLength: 40 }),
          metadata: fc.dictionary(
            fc.string({ maxLength: 8 }).filter((k) => k !== "__proto__"),
            fc.jsonValue({ maxDepth: 2 }),
          ),
          expiresAt: fc.option(fc.integer({ min: 0, max: 4e12 })),
          orgId: fc.option(fc.constant("org_1")),
        }),
        fc.constantFrom(...CODES),
        fc.array(limitState, { maxLength: 4 }),
        fc.option(fc.record({ remaining: fc.nat({ max: 1e13 }) })),
        fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }),
        (t, code, ratelimits, credits, scopes) => {
          const record = token(t);
          // The same token object twice, with other figures: the cached token part must not leak between them.
          for (const limits of [ratelimits, ratelimits.map((l) => ({ ...l, remaining: l.remaining + 1 }))]) {
            const r: VerifyResult = { valid: code === "VALID", code, token: record, scopes, ratelimits: limits, credits };
            expect(verificationBody(r).text).toBe(JSON.stringify(verificationResponse(r)));
            expect(verificationBody(r).bytes).toBe(Buffer.byteLength(JSON.stringify(verificationResponse(r))));
          }
          // Other scopes for the same token object: a new token part.
          const other: VerifyResult = {
            valid: true,
            code: "VALID",
            token: record,
            scopes: [...scopes, "z:write"],
            ratelimits,
            credits,
          };
          expect(verificationBody(other).text).toBe(JSON.stringify(verificationResponse(other)));
        },
      ),
    );
  });
});
