import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { forbiddenNameCharacter, NAME_PATTERN } from "./names.js";

const FORBIDDEN = [
  ...Array.from({ length: 0x20 }, (_, i) => i),
  ...Array.from({ length: 0x21 }, (_, i) => 0x7f + i),
  0x061c,
  0x200b,
  0x200c,
  0x200d,
  0x200e,
  0x200f,
  0x2028,
  0x2029,
  0x202a,
  0x202b,
  0x202c,
  0x202d,
  0x202e,
  0x2060,
  0x2066,
  0x2067,
  0x2068,
  0x2069,
  0xfeff,
];
const FORBIDDEN_SET = new Set(FORBIDDEN);
const pattern = new RegExp(NAME_PATTERN, "u");

describe("names", () => {
  it("refuses every listed character anywhere in a name, and names it", () => {
    fc.assert(
      fc.property(fc.string(), fc.constantFrom(...FORBIDDEN), fc.string(), (before, code, after) => {
        const name = `${before}${String.fromCodePoint(code)}${after}`;
        expect(forbiddenNameCharacter(name)).not.toBeNull();
        expect(pattern.test(name)).toBe(false);
      }),
    );
    expect(forbiddenNameCharacter("Owner\u200b")).toBe("U+200B");
    expect(forbiddenNameCharacter("a\u202Eexe.txt")).toBe("U+202E");
    expect(forbiddenNameCharacter("line\nbreak")).toBe("U+000A");
  });

  it("accepts any text without them (every script, emoji without joiners), the pattern agreeing", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), (raw) => {
        const name = [...raw].filter((c) => !FORBIDDEN_SET.has(c.codePointAt(0)!)).join("");
        expect(forbiddenNameCharacter(name)).toBeNull();
        expect(pattern.test(name)).toBe(true);
      }),
    );
    for (const fine of ["Olive Owner", "Zoë", "東京チーム", "مرحبا", "שלום", "Café 🚀", "O'Brien-Smith (ops)"]) {
      expect(forbiddenNameCharacter(fine), fine).toBeNull();
    }
  });
});
