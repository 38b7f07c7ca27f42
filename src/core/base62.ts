import { randomBytes, randomFillSync } from "node:crypto";

/** The base62 alphabet, in ASCII order so that fixed-width encodings sort like the numbers they encode. */
export const BASE62_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

const BASE62_RE = /^[0-9A-Za-z]*$/;

export function isBase62(value: string): boolean {
  return BASE62_RE.test(value);
}

/** Encodes a non-negative safe integer as base62, left-padded with "0" to `width` characters. */
export function encodeBase62(value: number, width: number): string {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError("base62: value must be a non-negative safe integer");
  let out = "";
  let rest = value;
  do {
    out = BASE62_ALPHABET[rest % 62] + out;
    rest = Math.floor(rest / 62);
  } while (rest > 0);
  if (out.length > width) throw new RangeError(`base62: ${value} does not fit in ${width} characters`);
  return out.padStart(width, "0");
}

const DIGIT_VALUES: Int8Array = (() => {
  const values = new Int8Array(128).fill(-1);
  for (let i = 0; i < BASE62_ALPHABET.length; i++) values[BASE62_ALPHABET.charCodeAt(i)] = i;
  return values;
})();

/**
 * The number written in base62 in `value[start, end)` (the inverse of {@link encodeBase62}), or -1 if a
 * character there is not base62. Keep `end - start` ≤ 8 so the result stays a safe integer.
 */
export function decodeBase62(value: string, start = 0, end = value.length): number {
  let out = 0;
  for (let i = start; i < end; i++) {
    const code = value.charCodeAt(i);
    const digit = code < 128 ? DIGIT_VALUES[code]! : -1;
    if (digit < 0) return -1;
    out = out * 62 + digit;
  }
  return out;
}

/** A source of CSPRNG bytes: `randomBytes` by default (see {@link pooledRandomBytes} for ids and trace ids). */
export type RandomSource = (size: number) => Buffer;

/**
 * `length` uniformly distributed base62 characters from the CSPRNG. Bytes ≥ 248 are rejected
 * (248 = 4 × 62) so that every character has exactly log2(62) ≈ 5.95 bits of entropy, with no modulo bias.
 * Secrets use the default source: fresh bytes per call, none left over in memory for later secrets.
 */
export function randomBase62(length: number, random: RandomSource = randomBytes): string {
  let out = "";
  while (out.length < length) {
    const bytes = random(Math.ceil((length - out.length) * 1.1) + 4);
    for (const byte of bytes) {
      if (byte >= 248) continue;
      out += BASE62_ALPHABET[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

/**
 * A {@link RandomSource} that draws from a 4 KiB buffer refilled from the CSPRNG when spent: one call
 * into OpenSSL per few hundred values instead of one each (a `randomBytes` call costs several
 * microseconds; ids are made on every flush of the request history). For identifiers, not secrets:
 * bytes wait in memory until drawn. Each call returns bytes never returned before, as a view of the pool
 * that the next refill overwrites: read it at once.
 */
export function pooledRandomBytes(poolSize = 4096): RandomSource {
  const pool = Buffer.alloc(poolSize);
  let offset = poolSize;
  return (size) => {
    if (size > poolSize) return randomBytes(size);
    if (offset + size > poolSize) {
      randomFillSync(pool);
      offset = 0;
    }
    const bytes = pool.subarray(offset, offset + size);
    offset += size;
    return bytes;
  };
}
