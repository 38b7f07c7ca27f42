import { BlockList, isIP } from "node:net";

export const MAX_ALLOWED_IPS = 100;

/** Strips the IPv4-mapped IPv6 form (`::ffff:1.2.3.4`) that dual-stack sockets report. */
export function normalizeIp(ip: string): string {
  return ip.startsWith("::ffff:") && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

/**
 * Parses `a.b.c.d/n`, `x::y/n` or a bare address (a single host), in canonical notation only: no leading
 * zeros in an IPv4 octet (`010.0.0.1` is octal to some parsers, decimal to others) or in the prefix
 * (`/000` would read as `/0`, every address), no IPv6 zone id (`fe80::1%eth0` names an interface of
 * the machine that wrote it, meaningless here), a prefix within the family's range. Null when invalid.
 */
export function parseCidr(value: string): { address: string; prefix: number; family: "ipv4" | "ipv6" } | null {
  if (typeof value !== "string" || value.length > 64 || value.includes("%")) return null;
  const slash = value.indexOf("/");
  const address = slash === -1 ? value : value.slice(0, slash);
  // node:net already refuses leading zeros in IPv4 octets.
  const version = isIP(address);
  if (version === 0) return null;
  const max = version === 4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const bits = value.slice(slash + 1);
    if (!/^(?:0|[1-9]\d{0,2})$/.test(bits)) return null;
    prefix = Number(bits);
    if (prefix > max) return null;
  }
  return { address, prefix, family: version === 4 ? "ipv4" : "ipv6" };
}

/** Whether `value` is a single IPv4 or IPv6 address (no zone id, no prefix): what may be stored as an address. */
export function isPlainIp(value: string | null | undefined): value is string {
  return typeof value === "string" && value.length <= 45 && !value.includes("%") && isIP(value) !== 0;
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
