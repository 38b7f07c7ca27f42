import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ENTROPY_LENGTH, generateToken, hashToken, maskToken, parseToken } from "./token-format.js";

describe("token format", () => {
  it("generates tokens of the documented shape that parse back", () => {
    const { secret, displayPrefix, last4 } = generateToken("tsr", "live");
    expect(secret).toMatch(/^tsr_live_[0-9A-Za-z]{38}$/);
    expect(secret.length).toBe("tsr_live_".length + ENTROPY_LENGTH + 6);
    expect(displayPrefix).toBe(secret.slice(0, 15));
    expect(last4).toBe(secret.slice(-4));
    expect(parseToken(secret)).toEqual({ prefix: "tsr", environment: "live", displayPrefix, last4 });
    expect(maskToken(displayPrefix, last4)).toBe(`${displayPrefix}…${last4}`);
  });

  it("uses the organisation prefix and environment", () => {
    const { secret } = generateToken("acme", "test");
    expect(secret.startsWith("acme_test_")).toBe(true);
    expect(parseToken(secret)?.environment).toBe("test");
    expect(() => generateToken("ACME", "live")).toThrow();
    expect(() => generateToken("a", "live")).toThrow();
  });

  it("refuses every single-character typo through the checksum", () => {
    const { secret } = generateToken("tsr", "live");
    const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    for (let i = "tsr_live_".length; i < secret.length; i++) {
      const replacement = alphabet[(alphabet.indexOf(secret[i]!) + 1) % 62]!;
      const typo = secret.slice(0, i) + replacement + secret.slice(i + 1);
      expect(parseToken(typo)).toBeNull();
    }
  });

  it("refuses malformed input", () => {
    for (const bad of ["", "tsr_live_", "tsr_prod_abc", "Bearer x", "tsr_live_!!!", "x".repeat(10000)]) {
      expect(parseToken(bad)).toBeNull();
    }
  });

  it("never accepts random strings (property)", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 120 }), (s) => {
        const parsed = parseToken(s);
        if (parsed) expect(s).toMatch(/^[a-z]{2,8}_(live|test)_/);
      }),
    );
  });

  it("hashes with SHA-256, or HMAC when a pepper is set", () => {
    const { secret } = generateToken("tsr", "live");
    expect(hashToken(secret)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashToken(secret, "pepper")).not.toBe(hashToken(secret));
    expect(hashToken(secret, "pepper")).toBe(hashToken(secret, "pepper"));
  });
});
