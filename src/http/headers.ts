/** Response headers Tessera always sends, by kind of response. */

const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  // The component library sets inline style attributes.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** Pages (the console, /docs). */
export const PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "content-security-policy": CONSOLE_CSP,
});

/**
 * API responses: JSON, never rendered, so a minimal CSP; never cached. X-Frame-Options too: browsers
 * without CSP level 2 ignore frame-ancestors, and scanners look for it.
 */
export const API_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
  "cache-control": "no-store",
});

/** Sent on every response over HTTPS. */
export const HSTS = "max-age=31536000; includeSubDomains";

/**
 * The embedded tokens screen (`/embed`, SPEC §9): the console's headers, except that the host origins in
 * `TESSERA_EMBED_ORIGINS` may frame it (`frame-ancestors`; with none listed, nobody may). No
 * X-Frame-Options: it has no "these origins" form, and browsers that know frame-ancestors ignore it.
 */
export function embedPageHeaders(origins: readonly string[]): Readonly<Record<string, string>> {
  const ancestors = origins.length > 0 ? origins.join(" ") : "'none'";
  const { "x-frame-options": _deny, ...rest } = PAGE_HEADERS;
  return Object.freeze({
    ...rest,
    "content-security-policy": CONSOLE_CSP.replace("frame-ancestors 'none'", `frame-ancestors ${ancestors}`),
  });
}
