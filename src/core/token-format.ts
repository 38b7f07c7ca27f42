import { createHmac, hash } from "node:crypto";
import { crc32 } from "node:zlib";
import { decodeBase62, encodeBase62, randomBase62 } from "./base62.js";

/**
 * Token format (SPEC §3): `<prefix>_<env>_<entropy><checksum>`.
 * - prefix: 2–8 lowercase letters (the organisation's `tokenPrefix`, default `tsr`)
 * - env: `live` or `test`
 * - entropy: 32 base62 chars from the CSPRNG (≈ 190 bits; the spec asks for ≥ 30 / 178 bits)
 * - checksum: CRC32 of everything before it, as 6 base62 chars (62^6 > 2^32)
 */
export const ENTROPY_LENGTH = 32;
export const CHECKSUM_LENGTH = 6;
/** Characters of entropy shown in the display prefix (`tsr_live_` + 6). */
export const DISPLAY_ENTROPY_CHARS = 6;
export const DEFAULT_TOKEN_PREFIX = "tsr";

export type Environment = "live" | "test";
export const ENVIRONMENTS: readonly Environment[] = ["live", "test"];

export const TOKEN_PREFIX_RE = /^[a-z]{2,8}$/;
/** Accepts 30–64 entropy characters so that older or future lengths still parse; ours are 32. */
const TOKEN_RE = /^([a-z]{2,8})_(live|test)_([0-9A-Za-z]{36,70})$/;
/** {@link TOKEN_RE} without captures, for the hot path's yes/no. */
const TOKEN_SHAPE_RE = /^[a-z]{2,8}_(?:live|test)_[0-9A-Za-z]{36,70}$/;
/** Longest string worth looking at: anything longer is malformed without further work. */
export const MAX_TOKEN_LENGTH = 8 + 1 + 4 + 1 + 70;

export interface GeneratedToken {
  /** The plaintext. Exists only in the create/regenerate response; never stored or logged. */
  secret: string;
  /** `tsr_live_` + the first 6 entropy characters. */
  displayPrefix: string;
  last4: string;
}

export interface ParsedToken {
  prefix: string;
  environment: Environment;
  displayPrefix: string;
  last4: string;
}

export function checksumOf(body: string): string {
  return encodeBase62(crc32(body), CHECKSUM_LENGTH);
}

export function generateToken(prefix: string, environment: Environment): GeneratedToken {
  if (!TOKEN_PREFIX_RE.test(prefix)) throw new RangeError("token prefix must be 2-8 lowercase letters");
  const body = `${prefix}_${environment}_${randomBase62(ENTROPY_LENGTH)}`;
  const secret = body + checksumOf(body);
  return { secret, displayPrefix: displayPrefixOf(prefix, environment, secret), last4: secret.slice(-4) };
}

function displayPrefixOf(prefix: string, environment: Environment, secret: string): string {
  const head = `${prefix}_${environment}_`;
  return head + secret.slice(head.length, head.length + DISPLAY_ENTROPY_CHARS);
}

/**
 * Length, charset and checksum, without touching storage and without allocating a result: the first
 * step of every verification (a malformed or mistyped token stops here).
 */
export function isWellFormedToken(value: string): boolean {
  if (typeof value !== "string" || value.length > MAX_TOKEN_LENGTH || !TOKEN_SHAPE_RE.test(value)) return false;
  const cut = value.length - CHECKSUM_LENGTH;
  // Compared as numbers: the same test as checksumOf(body) === tail, without building either string.
  return crc32(value.slice(0, cut)) === decodeBase62(value, cut, value.length);
}

/** Checks the token like {@link isWellFormedToken} and splits it into its parts. Null when malformed. */
export function parseToken(value: string): ParsedToken | null {
  if (!isWellFormedToken(value)) return null;
  const match = TOKEN_RE.exec(value)!;
  const prefix = match[1]!;
  const environment = match[2] as Environment;
  return { prefix, environment, displayPrefix: displayPrefixOf(prefix, environment, value), last4: value.slice(-4) };
}

/** `tsr_live_5fJk9a…9aB2`: what the console and API show in place of the secret. */
export function maskToken(displayPrefix: string, last4: string): string {
  return `${displayPrefix}…${last4}`;
}

/**
 * The only form in which a token is stored: SHA-256 of the whole token, or HMAC-SHA-256 with the server
 * pepper when one is configured (a stolen database then cannot be checked against guessed tokens).
 */
export function hashToken(secret: string, pepper?: string): string {
  return pepper ? createHmac("sha256", pepper).update(secret).digest("hex") : hash("sha256", secret, "hex");
}
