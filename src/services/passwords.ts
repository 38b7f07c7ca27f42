import { scrypt, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";
import argon2 from "argon2";

const scryptAsync = promisify(scrypt) as (password: string, salt: Buffer, keylen: number, options: object) => Promise<Buffer>;

/**
 * argon2id with OWASP's first recommended configuration (Password Storage Cheat Sheet, 2024): 19 MiB
 * of memory (19456 KiB), 2 passes, 1 lane; ~20–40 ms here. The parameters travel in the PHC string
 * (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`), so they can be raised later and old hashes still verify;
 * {@link needsRehash} tells the login to upgrade them.
 */
export const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/** Legacy scrypt hashes (`scrypt$N$r$p$salt$hash`) need this much memory at N=2^15, r=8 (~32 MiB). */
const SCRYPT_MAX_MEM = 64 * 1024 * 1024;

export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 1024;

export async function hashPassword(password: string): Promise<string> {
  return argon2.hash(password, ARGON2_OPTIONS);
}

/**
 * Whether `password` matches `stored`: an argon2id PHC string, or a legacy `scrypt$N$r$p$salt$hash`
 * written before argon2 (verified as such until the next sign-in rewrites it). False for anything else.
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  if (stored.startsWith("$argon2")) {
    try {
      return await argon2.verify(stored, password);
    } catch {
      return false; // a corrupt hash matches nothing
    }
  }
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [n, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  const salt = Buffer.from(parts[4]!, "base64url");
  const expected = Buffer.from(parts[5]!, "base64url");
  try {
    const key = await scryptAsync(password, salt, expected.length, { N: n, r, p, maxmem: SCRYPT_MAX_MEM });
    return timingSafeEqual(key, expected);
  } catch {
    return false;
  }
}

/** Whether a stored hash is weaker than today's (scrypt, or argon2 with other parameters): rewrite it at the next sign-in. */
export function needsRehash(stored: string): boolean {
  if (!stored.startsWith("$argon2id$")) return true;
  try {
    return argon2.needsRehash(stored, ARGON2_OPTIONS);
  } catch {
    return true;
  }
}

let dummyHash: Promise<string> | undefined;

/** Spends the same work as a real check, so that unknown accounts answer in the same time as known ones. */
export async function burnPasswordCheck(password: string): Promise<void> {
  dummyHash ??= hashPassword("tessera-timing-equaliser");
  await verifyPassword(password, await dummyHash);
}
