import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BASE62_ALPHABET } from "./base62.js";
import { checksumOf, generateToken, isWellFormedToken } from "./token-format.js";
import { findTokens, type LineHit, looksBinary, SCAN_LOOKAHEAD, SCAN_LOOKBEHIND, TokenScanner } from "./token-scan.js";

/**
 * False positives, computed: a string of token shape whose checksum is invalid is never reported as
 * itself. The scanner may also try shorter prefixes and bodies inside it (a token glued to other text);
 * in a 38-character body delimited by spaces that is at most 7 prefixes × 3 body lengths = 21 tries, each
 * passing by chance with probability 62⁻⁶ ≈ 1.8 × 10⁻¹¹ (6 base62 checksum characters compared as one
 * number), so ≈ 3.7 × 10⁻¹⁰ per string: over this file's few thousand strings, a spurious failure is a
 * one-in-a-million event, and the assertion is exact (zero findings).
 */

const lower = fc.stringMatching(/^[a-z]{2,8}$/);
const env = fc.constantFrom("live", "test");
const base62 = (min: number, max: number) =>
  fc.array(fc.constantFrom(...BASE62_ALPHABET), { minLength: min, maxLength: max }).map((a) => a.join(""));

/** A valid token of any prefix, environment and entropy length the format accepts (30–64). */
const validToken = fc.tuple(lower, env, base62(30, 64)).map(([prefix, e, entropy]) => {
  const body = `${prefix}_${e}_${entropy}`;
  return body + checksumOf(body);
});

/** Text a token may sit in: words, punctuation, newlines, non-ASCII, but no letters glued to the token. */
const filler = fc
  .array(fc.constantFrom("const", " ", "\n", "=", '"', "x_live_", "ab_test_1", "é", "\t", "{", "}", "42", "_"), { maxLength: 40 })
  .map((a) => a.join(""));

function scanAll(text: Buffer, windowSize: number, cuts: number[]): LineHit[] {
  const hits: LineHit[] = [];
  const scanner = new TokenScanner((h) => hits.push(h), windowSize);
  let at = 0;
  for (const cut of [...cuts.map((c) => c % (text.length + 1)).sort((a, b) => a - b), text.length]) {
    if (cut > at) scanner.write(text.subarray(at, cut));
    at = Math.max(at, cut);
  }
  scanner.end();
  return hits;
}

describe("token scan", () => {
  it("finds every planted token with its line, whatever the window size and read boundaries", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(filler, validToken), { minLength: 1, maxLength: 6 }),
        filler,
        fc.integer({ min: 1, max: 300 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (parts, tail, windowSize, cuts) => {
          let text = "";
          const expected: LineHit[] = [];
          for (const [before, token] of parts) {
            text += `${before} `;
            expected.push({ line: text.split("\n").length, token });
            text += `${token} `;
          }
          text += tail;
          const bytes = Buffer.from(text);
          expect(scanAll(bytes, windowSize, cuts)).toEqual(expected);
          expect(findTokens(bytes).map((h) => h.token)).toEqual(expected.map((e) => e.token));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("finds a token glued to other text: a URL-encoded query, letters before, base62 after", () => {
    const { secret } = generateToken("acme", "live");
    for (const text of [`?key%3D${secret}&x=1`, `Bearer${secret}`, `${secret}Q2xZ`, `zzzzzzzzzz${secret}zz9`, `"${secret}"`]) {
      expect(findTokens(Buffer.from(text)).map((h) => h.token)).toEqual([secret]);
    }
  });

  it("reports nothing for token-shaped strings whose checksum (computed by the real function) is invalid", () => {
    fc.assert(
      fc.property(lower, env, base62(32, 32), base62(6, 6), filler, (prefix, e, entropy, tail, around) => {
        const body = `${prefix}_${e}_${entropy}`;
        fc.pre(checksumOf(body) !== tail);
        const candidate = body + tail;
        expect(isWellFormedToken(candidate)).toBe(false);
        expect(findTokens(Buffer.from(`${around} ${candidate} ${around}`))).toEqual([]);
      }),
      { numRuns: 5000 },
    );
  });

  it("reports nothing for a token with one character changed (CRC32 catches every single-character error)", () => {
    fc.assert(
      fc.property(validToken, fc.nat(), fc.integer({ min: 1, max: 61 }), (token, where, shift) => {
        const at = token.indexOf("_", token.indexOf("_") + 1) + 1 + (where % (token.length - token.lastIndexOf("_") - 1));
        const changed = BASE62_ALPHABET[(BASE62_ALPHABET.indexOf(token[at]!) + shift) % 62]!;
        const typo = token.slice(0, at) + changed + token.slice(at + 1);
        expect(findTokens(Buffer.from(` ${typo} `))).toEqual([]);
      }),
      { numRuns: 2000 },
    );
  });

  it("reports nothing in random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 4096 }), (bytes) => {
        expect(findTokens(Buffer.from(bytes))).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });

  it("keeps enough of each window for a token cut anywhere", () => {
    expect(SCAN_LOOKBEHIND + SCAN_LOOKAHEAD).toBeGreaterThanOrEqual("abcdefgh_live_".length + 70);
    const { secret } = generateToken("tsr", "test");
    const text = Buffer.from(`${"a\n".repeat(500)}${secret}\n`);
    for (let cut = 990; cut < 1000 + secret.length + 1; cut++) {
      expect(scanAll(text, 64, [cut])).toEqual([{ line: 501, token: secret }]);
    }
  });

  it("calls a file binary when a NUL byte is among its first 8,000 bytes", () => {
    expect(looksBinary(Buffer.from("text\0more"))).toBe(true);
    expect(looksBinary(Buffer.from("plain text\n"))).toBe(false);
    expect(looksBinary(Buffer.concat([Buffer.alloc(8000, 0x61), Buffer.from([0])]))).toBe(false);
  });
});
