import { describe, expect, it } from "vitest";
import { blankToken, type TokenRecord } from "../core/tokens.js";
import { prepareToken } from "../core/verification.js";
import { TokenCache } from "./token-cache.js";

function token(id: string, orgId: string, ownerId: string | null = null): TokenRecord {
  return {
    ...blankToken(0),
    id,
    orgId,
    kind: ownerId ? "personal" : "service",
    name: id,
    ownerId,
    prefix: "tsr",
    last4: "abcd",
    scopes: ["a:b"],
  };
}

const NOW = 1_000_000;
const cacheOf = (maxEntries = 100) => new TokenCache({ maxEntries, ttlMs: 10_000, negativeTtlMs: 10_000 });
const put = (cache: TokenCache, hash: string, t: TokenRecord) =>
  cache.set(hash, prepareToken(t, t.ownerId ? { role: "member", disabled: false } : null), null, NOW, cache.epoch);

describe("TokenCache index", () => {
  it("a token change evicts each of its secrets (two during a regeneration's grace period), and nothing else", () => {
    const cache = cacheOf();
    const a = token("tok_a", "org_1");
    put(cache, "current-a", a);
    put(cache, "previous-a", a);
    put(cache, "b", token("tok_b", "org_1"));
    cache.apply({ type: "token", tokenId: "tok_a" });
    expect(cache.get("current-a", NOW)).toBeUndefined();
    expect(cache.get("previous-a", NOW)).toBeUndefined();
    expect(cache.get("b", NOW)).toBeDefined();
  });

  it("an entry removed one way is no longer reached another way", () => {
    const cache = cacheOf(2);
    put(cache, "a", token("tok_a", "org_1", "usr_1"));
    put(cache, "b", token("tok_b", "org_1", "usr_1"));
    put(cache, "c", token("tok_c", "org_2")); // evicts "a", the least recently used
    expect(cache.get("a", NOW)).toBeUndefined();
    // Re-caching "a" under a new hash and a member change: only the member's entries go.
    put(cache, "a2", token("tok_a", "org_1", "usr_1")); // evicts "b"
    expect(cache.size).toBe(2);
    cache.apply({ type: "member", orgId: "org_1", userId: "usr_1" });
    expect(cache.get("a2", NOW)).toBeUndefined();
    expect(cache.get("c", NOW)).toBeDefined();
    cache.apply({ type: "org", orgId: "org_2" });
    expect(cache.size).toBe(0);
    // A token whose only entry was evicted, then changed: nothing to do, nothing thrown.
    cache.apply({ type: "token", tokenId: "tok_b" });
  });

  it("one secret cached twice is indexed once", () => {
    const cache = cacheOf();
    const a = token("tok_a", "org_1");
    put(cache, "a", a);
    put(cache, "a", a);
    cache.apply({ type: "org", orgId: "org_1" });
    expect(cache.size).toBe(0);
    put(cache, "a", a);
    expect(cache.get("a", NOW)?.prepared?.token.id).toBe("tok_a");
  });
});

describe("TokenCache eviction", () => {
  it("evicts the least recently used entry, across touches, evictions and a clear", () => {
    const cache = cacheOf(3);
    const at = (hash: string, now: number) =>
      cache.set(hash, prepareToken(token(`tok_${hash}`, "org_1"), null), null, now, cache.epoch);
    at("a", NOW);
    at("b", NOW);
    at("c", NOW);
    expect(cache.get("a", NOW + 1001)).toBeDefined(); // touched (recency is kept to the second): now the newest
    at("d", NOW + 1001); // evicts b
    at("e", NOW + 1001); // evicts c
    expect(["a", "b", "c", "d", "e"].filter((h) => cache.get(h, NOW + 1001))).toEqual(["a", "d", "e"]);
    at("f", NOW + 1001); // evicts a
    expect(["a", "d", "e", "f"].filter((h) => cache.get(h, NOW + 1001))).toEqual(["d", "e", "f"]);
    cache.clear();
    at("g", NOW + 2000);
    at("h", NOW + 2000);
    at("i", NOW + 2000);
    at("j", NOW + 2000); // evicts g
    expect(["g", "h", "i", "j"].filter((h) => cache.get(h, NOW + 2000))).toEqual(["h", "i", "j"]);
    // Churn well past the bound: the size stays at it and the newest entries are the ones kept.
    for (let i = 0; i < 1000; i++) at(`k${i}`, NOW + 3000);
    expect(cache.size).toBe(3);
    expect(["k997", "k998", "k999"].every((h) => cache.get(h, NOW + 3000))).toBe(true);
  });
});

describe("TokenCache negative pool", () => {
  it("unknown secrets, however many, evict only each other, never a found token", () => {
    const cache = new TokenCache({ maxEntries: 3, maxNegativeEntries: 2, ttlMs: 10_000, negativeTtlMs: 10_000 });
    put(cache, "real", token("tok_real", "org_1"));
    for (let i = 0; i < 1000; i++) cache.set(`unknown-${i}`, null, null, NOW, cache.epoch);
    expect(cache.get("real", NOW)?.prepared?.token.id).toBe("tok_real");
    expect(cache.negativeSize).toBe(2);
    expect(cache.size).toBe(3);
    // The newest unknowns are the ones kept, and are still answered from memory.
    expect(cache.get("unknown-999", NOW)?.prepared).toBeNull();
    expect(cache.get("unknown-0", NOW)).toBeUndefined();
    // A negative answer later found (the same hash now stored) moves to the positive pool.
    put(cache, "unknown-999", token("tok_new", "org_1"));
    expect(cache.negativeSize).toBe(1);
    expect(cache.get("unknown-999", NOW)?.prepared?.token.id).toBe("tok_new");
    // And it expires with its TTL.
    cache.set("late", null, null, NOW, cache.epoch);
    expect(cache.get("late", NOW + 10_001)).toBeUndefined();
  });
});
