import { describe, expect, it } from "vitest";
import { compileAllowlist, isPlainIp, normalizeIp, parseCidr } from "./ip.js";

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

  it("accepts only canonical notation: no leading zeros, no zone ids, prefixes in range (issue 16 finding 6)", () => {
    for (const bad of [
      "1.2.3.4/000",
      "1.2.3.4/00",
      "1.2.3.4/08",
      "01.2.3.4",
      "1.2.3.04/32",
      "fe80::1%eth0",
      "fe80::1%eth0/64",
      "fe80::/010",
      "::/128 ",
      "1.2.3.4/32/1",
      "1.2.3.4/+8",
      "1.2.3.4/0x8",
      "2001:db8::/1280",
    ]) {
      expect(parseCidr(bad), bad).toBeNull();
    }
    expect(parseCidr("0.0.0.0/0")).toEqual({ address: "0.0.0.0", prefix: 0, family: "ipv4" });
    expect(parseCidr("::/0")).toEqual({ address: "::", prefix: 0, family: "ipv6" });
    expect(parseCidr("2001:db8::/128")).toMatchObject({ prefix: 128 });
    expect(parseCidr("10.0.0.0/32")).toMatchObject({ prefix: 32 });
  });

  it("tells a plain address from anything else", () => {
    for (const good of ["203.0.113.5", "::1", "2001:db8::7", "::ffff:10.0.0.1"]) expect(isPlainIp(good), good).toBe(true);
    for (const bad of ["", "unknown", "203.0.113.5:443", "10.0.0.0/8", "fe80::1%eth0", "01.2.3.4", "<script>", null, undefined]) {
      expect(isPlainIp(bad), String(bad)).toBe(false);
    }
  });
});
