import { describe, expect, it } from "vitest";
import { compileAllowlist, normalizeIp, parseCidr } from "./ip.js";

describe("ip allowlists", () => {
  it("parses v4 and v6 CIDRs and bare addresses", () => {
    expect(parseCidr("10.0.0.0/8")).toEqual({ address: "10.0.0.0", prefix: 8, family: "ipv4" });
    expect(parseCidr("2001:db8::/32")).toEqual({ address: "2001:db8::", prefix: 32, family: "ipv6" });
    expect(parseCidr("192.168.1.7")).toMatchObject({ prefix: 32 });
    for (const bad of ["10.0.0.0/33", "10.0.0/8", "::/129", "nope", "1.2.3.4/", "1.2.3.4/-1", ""]) {
      expect(parseCidr(bad)).toBeNull();
    }
  });

  it("matches addresses, including IPv4-mapped IPv6", () => {
    const list = compileAllowlist(["10.0.0.0/8", "2001:db8::/32", "203.0.113.5"]);
    expect(list.allows("10.1.2.3")).toBe(true);
    expect(list.allows("::ffff:10.1.2.3")).toBe(true);
    expect(list.allows("11.0.0.1")).toBe(false);
    expect(list.allows("2001:db8::1")).toBe(true);
    expect(list.allows("2001:db9::1")).toBe(false);
    expect(list.allows("203.0.113.5")).toBe(true);
    expect(list.allows(undefined)).toBe(false);
    expect(list.allows("garbage")).toBe(false);
    expect(compileAllowlist([]).allows(undefined)).toBe(true);
    expect(normalizeIp("::ffff:127.0.0.1")).toBe("127.0.0.1");
  });
});
