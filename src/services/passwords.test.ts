import { randomBytes, scryptSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { burnPasswordCheck, hashPassword, needsRehash, verifyPassword } from "./passwords.js";

/** A hash as Tessera wrote them before argon2 (scrypt N=2^15, r=8, p=1). */
function legacyScryptHash(password: string): string {
  const salt = randomBytes(16);
  const key = scryptSync(password, salt, 32, { N: 32768, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
  return `scrypt$32768$8$1$${salt.toString("base64url")}$${key.toString("base64url")}`;
}

describe("passwords", () => {
  it("hash with argon2id at OWASP's parameters (m=19456 KiB, t=2, p=1), salted", async () => {
    const a = await hashPassword("correct horse battery staple");
    const b = await hashPassword("correct horse battery staple");
    expect(a).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$[^$]+\$[^$]+$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword("correct horse battery staple", a)).toBe(true);
    expect(await verifyPassword("correct horse battery stapl", a)).toBe(false);
    expect(needsRehash(a)).toBe(false);
  });

  it("still verify legacy scrypt hashes, which need a rehash", async () => {
    const old = legacyScryptHash("an old password!");
    expect(await verifyPassword("an old password!", old)).toBe(true);
    expect(await verifyPassword("an old password?", old)).toBe(false);
    expect(needsRehash(old)).toBe(true);
  });

  it("ask for a rehash of weaker argon2 parameters or variants, and match nothing against garbage", async () => {
    const argon2 = (await import("argon2")).default;
    expect(needsRehash(await argon2.hash("x", { type: argon2.argon2id, memoryCost: 8192, timeCost: 2, parallelism: 1 }))).toBe(
      true,
    );
    expect(needsRehash(await argon2.hash("x", { type: argon2.argon2i, memoryCost: 19_456, timeCost: 2, parallelism: 1 }))).toBe(
      true,
    );
    for (const garbage of ["", "$argon2id$v=19$m=19456,t=2,p=1$bad", "scrypt$1$1$1$$", "plain"]) {
      expect(await verifyPassword("whatever password", garbage), garbage).toBe(false);
    }
    expect(needsRehash("scrypt$1$1$1$$")).toBe(true);
  });

  it("spend about the same time on an unknown account as on a known one", async () => {
    const stored = await hashPassword("correct horse battery staple");
    await burnPasswordCheck("warm-up");
    const time = async (fn: () => Promise<unknown>) => {
      const t0 = performance.now();
      await fn();
      return performance.now() - t0;
    };
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 5; i++) {
      known.push(await time(() => verifyPassword("wrong password!!", stored)));
      unknown.push(await time(() => burnPasswordCheck("wrong password!!")));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[2]!;
    const ratio = median(unknown) / median(known);
    expect(ratio).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThan(2);
  });
});
