import { describe, expect, it } from "vitest";
import { isId, newId } from "./ids.js";

describe("ids", () => {
  it("are prefixed, well-formed and unique", () => {
    const ids = Array.from({ length: 1000 }, () => newId("token"));
    for (const id of ids) expect(isId("token", id)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(isId("organization", ids[0]!)).toBe(false);
  });

  it("sort in creation order, even within one millisecond", () => {
    const ids = Array.from({ length: 500 }, () => newId("event"));
    expect([...ids].sort()).toEqual(ids);
  });
});
