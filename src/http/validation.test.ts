import { describe, expect, it } from "vitest";
import { jsonDepthExceeds } from "./validation.js";

const nested = (levels: number, make: (inner: unknown) => unknown): unknown => {
  let value: unknown = 1;
  for (let i = 0; i < levels; i++) value = make(value);
  return value;
};

describe("jsonDepthExceeds", () => {
  it("counts objects and arrays alike, up to and past the limit", () => {
    expect(
      jsonDepthExceeds(
        nested(3, (v) => ({ a: v })),
        3,
      ),
    ).toBe(false);
    expect(
      jsonDepthExceeds(
        nested(4, (v) => ({ a: v })),
        3,
      ),
    ).toBe(true);
    expect(
      jsonDepthExceeds(
        nested(4, (v) => [v]),
        3,
      ),
    ).toBe(true);
    expect(
      jsonDepthExceeds(
        nested(3, (v) => [0, { b: v }][1]),
        3,
      ),
    ).toBe(false);
    expect(jsonDepthExceeds({ a: 1, b: [1, 2, { c: [[]] }] }, 5)).toBe(false);
    expect(jsonDepthExceeds({ a: 1, b: [1, 2, { c: [[]] }] }, 4)).toBe(true);
  });

  it("treats scalars as depth zero and stops early on very deep input", () => {
    for (const scalar of [null, 1, "x", true]) expect(jsonDepthExceeds(scalar, 0)).toBe(false);
    expect(jsonDepthExceeds(JSON.parse(`${"[".repeat(100_000)}${"]".repeat(100_000)}`), 32)).toBe(true);
  });
});
