import { BlockList, isIP } from "node:net";

export const MAX_ALLOWED_IPS = 100;

/** Strips the IPv4-mapped IPv6 form (`::ffff:1.2.3.4`) that dual-stack sockets report. */
export function normalizeIp(ip: string): string {
  return ip.startsWith("::ffff:") && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

/** Parses `a.b.c.d/n`, `x::y/n` or a bare address (a single host). Null when invalid. */
export function parseCidr(value: string): { address: string; prefix: number; family: "ipv4" | "ipv6" } | null {
  if (typeof value !== "string" || value.length > 64) return null;
  const slash = value.indexOf("/");
  const address = slash === -1 ? value : value.slice(0, slash);
  const version = isIP(address);
  if (version === 0) return null;
  const max = version === 4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const bits = value.slice(slash + 1);
    if (!/^\d{1,3}$/.test(bits)) return null;
    prefix = Number(bits);
    if (prefix > max) return null;
  }
  return { address, prefix, family: version === 4 ? "ipv4" : "ipv6" };
}

/** A compiled allowlist; an empty list allows every address. */
export interface IpAllowlist {
  allows(ip: string | null | undefined): boolean;
}

export const ALLOW_ALL: IpAllowlist = { allows: () => true };

export function compileAllowlist(cidrs: readonly string[] | null | undefined): IpAllowlist {
  if (!cidrs || cidrs.length === 0) return ALLOW_ALL;
  const list = new BlockList();
  for (const cidr of cidrs) {
    const parsed = parseCidr(cidr);
    if (parsed) list.addSubnet(parsed.address, parsed.prefix, parsed.family);
  }
  return {
    allows(ip) {
      if (!ip) return false;
      const address = normalizeIp(ip);
      const version = isIP(address);
      if (version === 0) return false;
      return list.check(address, version === 4 ? "ipv4" : "ipv6");
    },
  };
}
