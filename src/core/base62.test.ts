import { describe, expect, it } from "vitest";
import { decodeBase62, encodeBase62, isBase62, pooledRandomBytes, randomBase62 } from "./base62.js";

describe("base62", () => {
  it("encodes with fixed width and keeps numeric order", () => {
    expect(encodeBase62(0, 3)).toBe("000");
    expect(encodeBase62(61, 2)).toBe("0z");
    expect(encodeBase62(62, 2)).toBe("10");
    const values = [0, 1, 61, 62, 3843, 3844, 99999];
    const encoded = values.map((v) => encodeBase62(v, 4));
    expect([...encoded].sort()).toEqual(encoded);
  });

  it("refuses values that do not fit", () => {
    expect(() => encodeBase62(62 ** 2, 2)).toThrow(RangeError);
    expect(() => encodeBase62(-1, 2)).toThrow(RangeError);
  });

  it("decodes what it encodes, and refuses characters outside the alphabet", () => {
    for (const v of [0, 1, 61, 62, 3843, 3844, 99999, 2 ** 32 - 1, 62 ** 6 - 1]) {
      expect(decodeBase62(encodeBase62(v, 6))).toBe(v);
      expect(decodeBase62(`ab${encodeBase62(v, 6)}`, 2)).toBe(v);
    }
    expect(decodeBase62("00_000")).toBe(-1);
    expect(decodeBase62("0é")).toBe(-1);
    expect(decodeBase62("")).toBe(0);
  });

  it("draws random strings of the asked length from the whole alphabet", () => {
    const sample = randomBase62(5000);
    expect(sample).toHaveLength(5000);
    expect(isBase62(sample)).toBe(true);
    expect(new Set(sample).size).toBe(62);
  });

  it("draws pooled bytes without ever handing out the same pool bytes twice, refilling when spent", () => {
    const random = pooledRandomBytes(64);
    const first = random(40);
    const copy = Buffer.from(first);
    const second = random(20); // still from the first fill: bytes 40–59
    expect(second.byteOffset - first.byteOffset).toBe(40);
    const third = random(10); // does not fit in the 4 bytes left: a refill, from offset 0
    expect(third.byteOffset).toBe(first.byteOffset);
    expect(Buffer.from(first.subarray(0, 10))).not.toEqual(copy.subarray(0, 10)); // refilled, not reused (2^-80 to fail)
    expect(random(100)).toHaveLength(100); // larger than the pool: fresh bytes
    const sample = randomBase62(5000, pooledRandomBytes());
    expect(sample).toHaveLength(5000);
    expect(new Set(sample).size).toBe(62);
  });
});
