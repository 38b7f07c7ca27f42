import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { type EmbedConfig, parseEmbedConfig } from "./config-embed.js";
import { parseCidr } from "./core/ip.js";
import { forbiddenNameCharacter } from "./core/names.js";
import { DEFAULT_QUOTAS, QUOTA_CEILING, QUOTA_ENV, QUOTA_NAMES, type Quotas } from "./core/quotas.js";
import { DEFAULT_RETRY_SCHEDULE_MS } from "./core/webhook-retry.js";

/**
 * `TESSERA_TRUST_PROXY` as parsed: false (no proxy: the socket's address is the client), a hop count (that
 * many proxies in front, whatever their addresses), or the proxies' addresses and CIDRs.
 */
export type TrustProxy = false | number | readonly string[];

/** More proxies than this in front of one server is a mistake, not a deployment. */
const MAX_PROXY_HOPS = 32;

/** Tessera's configuration, parsed and validated once at start-up. */
export interface Config extends EmbedConfig {
  /** Where embedded SQLite keeps its file (`TESSERA_DATA_DIR`, default `./tessera-data`). */
  dataDir: string;
  /** `TESSERA_DATABASE_URL`: a `postgres://` URL selects PostgreSQL. */
  databaseUrl: string | undefined;
  /**
   * `TESSERA_DB_TIMEOUT_MS` (default 2000): PostgreSQL's longest wait for a connection and for each
   * statement; past it the request answers 503 and the connection is dropped.
   */
  dbTimeoutMs: number;
  /** `TESSERA_REDIS_URL`: cluster-wide rate limits and credits (when set). */
  redisUrl: string | undefined;
  /** `TESSERA_REDIS_PREFIX` (default `tessera:`): every key Tessera writes to Redis starts with it. */
  redisPrefix: string;
  /**
   * `TESSERA_REDIS_TIMEOUT_MS` (default 100, 5–1000): the longest a verification waits on Redis; past
   * it Redis counts as down until a background probe answers (per `limitsOnRedisDown`). A larger value
   * trades that latency bound for fewer fallbacks on a host whose Redis is often slow to be scheduled.
   */
  redisTimeoutMs: number;
  /**
   * `TESSERA_LIMITS_ON_REDIS_DOWN`: `open` (default: per-instance limits in memory, `/readyz` degraded) or
   * `closed` (verifications of tokens with limits or credits answer `RATE_LIMITED`).
   */
  limitsOnRedisDown: "open" | "closed";
  /**
   * `TESSERA_LIMITS_LEASE_UNITS` (default 100, 0–10,000): with Redis, units of a token's own limits and
   * credits one instance may take ahead and spend in memory for up to a second, while they are at least
   * 10,000 units from their end (docs/architecture.md, "Leases"); 0 sends every check to Redis.
   */
  limitsLeaseUnits: number;
  /** `TESSERA_CREDITS_FLUSH_MS` (default 1000): how often live credit balances are written behind to storage. */
  creditsFlushMs: number;
  host: string;
  port: number;
  /** PEM contents read from `TESSERA_TLS_CERT` / `TESSERA_TLS_KEY` (paths). */
  tls: { cert: string; key: string } | undefined;
  /**
   * `TESSERA_TRUST_PROXY`: whom to believe in `X-Forwarded-For` / `-Proto` / `-Host` (see {@link TrustProxy}
   * and src/http/trust-proxy.ts). `true` in the environment is one hop.
   */
  trustProxy: TrustProxy;
  /** `TESSERA_PEPPER`: when set, token hashes are HMAC-SHA-256 with it. Changing it invalidates every token. */
  pepper: string | undefined;
  logLevel: string;
  /** `NODE_ENV=production`: bearer tokens over plain HTTP are refused. */
  production: boolean;
  /** How long a console session lasts (`TESSERA_SESSION_HOURS`, default 12). */
  sessionTtlMs: number;
  /** Built console assets (`TESSERA_CONSOLE_DIR`, default `console/dist` of the package). */
  consoleDir: string;
  /** How often in-memory usage is written to storage (ms). */
  usageFlushIntervalMs: number;
  /** Verifier cache: most tokens kept (`TESSERA_CACHE_SIZE`, default 100000; 0 disables the cache). */
  cacheMaxEntries: number;
  /**
   * Longest a cached token is trusted without hearing of a change (`TESSERA_CACHE_TTL_MS`, default
   * 10000): the staleness bound if a change notification is lost. Changes normally arrive in milliseconds.
   */
  cacheTtlMs: number;
  /**
   * Verifier cache: most "no such token" answers kept (`TESSERA_CACHE_NEGATIVE_SIZE`, default 10000), in
   * their own pool so a flood of made-up tokens never evicts a real one.
   */
  cacheNegativeEntries: number;
  /**
   * Under pressure (`@fastify/under-pressure`): requests other than /healthz and /metrics are answered
   * 503 with Retry-After while the event loop's mean delay over the last sample exceeds this
   * (`TESSERA_MAX_EVENT_LOOP_DELAY_MS`, default 1000; 0 turns the check off). A healthy server, even
   * saturated, stays in the tens of milliseconds; a second on average means every request already
   * waits that long behind the work in front of it. Under `NODE_ENV=test` the default is 0: test
   * suites share a few cores and a slow moment there must not turn into 503s (pressure has its own test).
   */
  maxEventLoopDelayMs: number;
  /** Likewise while the V8 heap in use exceeds this many MiB (`TESSERA_MAX_HEAP_MB`, default 0: off). */
  maxHeapMb: number;
  /** How often pressure is sampled (`TESSERA_PRESSURE_SAMPLE_MS`, default 1000). */
  pressureSampleMs: number;
  /**
   * Failed sign-ins to one account from one address before each further attempt from that address waits
   * 1 s, doubling, at most 15 minutes (`TESSERA_LOGIN_FAILURES_PER_ACCOUNT`, default 5). Never a lock of
   * the account for everybody.
   */
  loginFailuresPerAccount: number;
  /** Failed sign-ins per address per 15 minutes (`TESSERA_LOGIN_FAILURES_PER_ADDRESS`, default 50). */
  loginFailuresPerAddress: number;
  /** Failed bearer authentications per address per minute (`TESSERA_BEARER_FAILURES_PER_MINUTE`, default 120). */
  bearerFailuresPerMinute: number;
  /** `TESSERA_SMTP_URL` (`smtp://` or `smtps://`): invitations and reset links are mailed; unset, they are not. */
  smtpUrl: string | undefined;
  /** `TESSERA_MAIL_FROM`, default `Tessera <tessera@localhost>`. */
  mailFrom: string;
  /**
   * `TESSERA_PUBLIC_URL`: the base of every link Tessera hands out (invitations, resets); never the
   * request's Host header, which a client chooses. Default `http://localhost:<port>` (`https` with TLS).
   */
  publicUrl: string;
  /** Quotas and retention (issue 16), parsed by `limitsConfig`. */
  quotas: Quotas;
  /** How often the notice scheduler runs (`TESSERA_NOTICE_INTERVAL_SECONDS`, default 300; SPEC §10). */
  noticeIntervalMs: number;
  /**
   * `TESSERA_GITHUB_KEYS_URL`: GitHub's secret scanning public keys (SPEC §11), default
   * `https://api.github.com/meta/public_keys/secret_scanning`.
   */
  githubKeysUrl: string;
  /** How often the retention job sweeps (`TESSERA_RETENTION_INTERVAL_SECONDS`, default 3600). */
  retentionIntervalMs: number;
  /** Hourly usage buckets older than this are pruned (`TESSERA_USAGE_RETENTION_DAYS`, default 400). */
  usageRetentionDays: number;
  /** Instance-level audit events (no organisation) older than this are pruned (`TESSERA_INSTANCE_AUDIT_RETENTION_DAYS`, default 90). */
  instanceAuditRetentionDays: number;
  /** OpenID Connect sign-in for the console (`TESSERA_OIDC_*`, SPEC §9); undefined when not configured. */
  oidc: OidcConfig | undefined;
  /** Webhook delivery (SPEC §10, docs/webhooks.md), parsed by `webhookConfig`. */
  webhooks: WebhookConfig;
}

export interface WebhookConfig {
  /** `TESSERA_WEBHOOK_ALLOW_PRIVATE=true`: loopback and private targets are allowed (default false). */
  allowPrivate: boolean;
  /** `TESSERA_WEBHOOK_TIMEOUT_MS` (default 10000): longest one delivery attempt may take. */
  timeoutMs: number;
  /** `TESSERA_WEBHOOK_CONCURRENCY` (default 32): most deliveries in flight per instance. */
  concurrency: number;
  /** `TESSERA_WEBHOOK_POLL_MS` (default 250): how often an idle dispatcher looks for due deliveries. */
  pollMs: number;
  /**
   * `TESSERA_WEBHOOK_RETRY_SCHEDULE_MS` (comma-separated ms; default 5 s, 30 s, 2 min, 10 min, 30 min, 1 h,
   * 2 h, 4 h, 8 h, 8 h, 8 h: over 24 h): the delays between attempts; past the last, a delivery is given up.
   */
  retryScheduleMs: readonly number[];
  /** `TESSERA_WEBHOOK_RETENTION_DAYS` (default 30): finished deliveries older than this are pruned. */
  retentionDays: number;
}

/**
 * OpenID Connect sign-in, parsed by `oidcConfig`. The redirect URL is not configured: it is always
 * `<TESSERA_PUBLIC_URL>/v1/auth/oidc/callback`, the one to register at the provider.
 */
export interface OidcConfig {
  /** `TESSERA_OIDC_ISSUER`, exactly as given: issuer identifiers are compared as strings. */
  issuer: string;
  /** `TESSERA_OIDC_CLIENT_ID`. */
  clientId: string;
  /** `TESSERA_OIDC_CLIENT_SECRET`; without it the client is public (PKCE alone, no client authentication). */
  clientSecret: string | undefined;
  /** `TESSERA_OIDC_NAME`: what the button says ("Sign in with <name>"), default the issuer's host. */
  name: string;
  /** `TESSERA_OIDC_SCOPES`, default `openid email profile`; `openid` is required. */
  scopes: string[];
  /** `TESSERA_OIDC_ONLY=true`: password sign-in, reset and choosing a password are refused (`passwords_disabled`). */
  only: boolean;
}

/** A setting that cannot work: names the variable and its value (passwords masked); the CLI exits 2. */
export class ConfigError extends Error {}

/** pino's levels, and `silent`. */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** A value as it may be shown: a URL's password is masked, and an over-long value is cut. */
function shown(value: string): string {
  const masked = value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#:@]*:)[^@/?#]*@/i, "$1***@");
  return JSON.stringify(masked.length > 200 ? `${masked.slice(0, 200)}…` : masked);
}

function invalid(name: string, value: string, why: string): ConfigError {
  return new ConfigError(`${name}=${shown(value)}: ${why}`);
}

/** Decimal digits only: `Number()` would also take `0x1C96`, `1e3`, ` 12 ` and `12.0`. */
function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = /^\d{1,16}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw invalid(name, raw, `must be a whole number from ${min} to ${max} (decimal digits only)`);
  }
  return value;
}

function oneOf<T extends string>(env: NodeJS.ProcessEnv, name: string, values: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!(values as readonly string[]).includes(raw)) throw invalid(name, raw, `must be one of ${values.join(", ")}`);
  return raw as T;
}

/** A URL with one of `protocols` and a host; the error never shows its password. */
function serviceUrl(env: NodeJS.ProcessEnv, name: string, protocols: readonly string[]): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  const expected = `a ${protocols.map((p) => `${p}//`).join(" or ")} URL with a host, e.g. ${protocols[0]}//user:password@host:port/name`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid(name, raw, `is not a valid URL: expected ${expected} (special characters in the password percent-encoded)`);
  }
  if (!protocols.includes(url.protocol)) throw invalid(name, raw, `expected ${expected}`);
  if (url.hostname === "" && !url.searchParams.has("host")) throw invalid(name, raw, `has no host: expected ${expected}`);
  try {
    decodeURIComponent(url.password);
    decodeURIComponent(url.username);
  } catch {
    throw invalid(name, raw, "has a user or password with a malformed percent-encoding");
  }
  return raw;
}

function readPem(name: string, path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw invalid(name, path, `cannot read the file (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
}

function parseTrustProxy(raw: string | undefined): TrustProxy {
  const value = raw?.trim();
  if (value === undefined || value === "" || value === "false" || value === "0") return false;
  if (value === "true") return 1;
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    if (hops > MAX_PROXY_HOPS) {
      throw new ConfigError(`TESSERA_TRUST_PROXY="${raw}": a hop count must be from 0 to ${MAX_PROXY_HOPS}`);
    }
    return hops;
  }
  const list = value.split(",").map((s) => s.trim());
  for (const entry of list) {
    if (!parseCidr(entry)) {
      throw new ConfigError(
        `TESSERA_TRUST_PROXY="${raw}": "${entry}" is not an IP address or CIDR (use true, a hop count, or a comma-separated list of proxy addresses/CIDRs)`,
      );
    }
  }
  return list;
}

function mailConfig(env: NodeJS.ProcessEnv): Pick<Config, "smtpUrl" | "mailFrom" | "publicUrl"> {
  const smtpUrl = env.TESSERA_SMTP_URL || undefined;
  if (smtpUrl !== undefined) {
    let ok = false;
    try {
      const url = new URL(smtpUrl);
      ok = (url.protocol === "smtp:" || url.protocol === "smtps:") && url.hostname !== "";
    } catch {}
    if (!ok) throw invalid("TESSERA_SMTP_URL", smtpUrl, "must be an smtp:// or smtps:// URL with a host");
  }
  const mailFrom = env.TESSERA_MAIL_FROM || "Tessera <tessera@localhost>";
  if (/[\r\n]/.test(mailFrom)) throw invalid("TESSERA_MAIL_FROM", mailFrom, "must be one line");
  const tls = Boolean(env.TESSERA_TLS_CERT);
  let publicUrl = env.TESSERA_PUBLIC_URL || `${tls ? "https" : "http"}://localhost:${env.TESSERA_PORT || 7070}`;
  try {
    const url = new URL(publicUrl);
    if ((url.protocol !== "http:" && url.protocol !== "https:") || url.search || url.hash) throw new Error();
    publicUrl = url.href.replace(/\/+$/, "");
  } catch {
    throw invalid("TESSERA_PUBLIC_URL", publicUrl, "must be an http:// or https:// URL without query or fragment");
  }
  return { smtpUrl, mailFrom, publicUrl };
}

export const GITHUB_KEYS_URL = "https://api.github.com/meta/public_keys/secret_scanning";

function redisPrefix(env: NodeJS.ProcessEnv): string {
  const raw = env.TESSERA_REDIS_PREFIX;
  if (raw === undefined || raw === "") return "tessera:";
  if (!/^[A-Za-z0-9:_.{}-]{1,64}$/.test(raw)) {
    throw invalid("TESSERA_REDIS_PREFIX", raw, "must be 1 to 64 letters, digits or : _ . - { }");
  }
  return raw;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const certPath = env.TESSERA_TLS_CERT;
  const keyPath = env.TESSERA_TLS_KEY;
  if (Boolean(certPath) !== Boolean(keyPath)) {
    throw new ConfigError("TESSERA_TLS_CERT and TESSERA_TLS_KEY go together: set both (PEM file paths) or neither");
  }
  const config: Config = {
    dataDir: resolve(env.TESSERA_DATA_DIR || "./tessera-data"),
    databaseUrl: serviceUrl(env, "TESSERA_DATABASE_URL", ["postgres:", "postgresql:"]),
    redisUrl: serviceUrl(env, "TESSERA_REDIS_URL", ["redis:", "rediss:"]),
    redisPrefix: redisPrefix(env),
    redisTimeoutMs: int(env, "TESSERA_REDIS_TIMEOUT_MS", 100, 5, 1000),
    limitsOnRedisDown: oneOf(env, "TESSERA_LIMITS_ON_REDIS_DOWN", ["open", "closed"] as const, "open"),
    limitsLeaseUnits: int(env, "TESSERA_LIMITS_LEASE_UNITS", 100, 0, 10_000),
    creditsFlushMs: int(env, "TESSERA_CREDITS_FLUSH_MS", 1000, 50, 60_000),
    dbTimeoutMs: int(env, "TESSERA_DB_TIMEOUT_MS", 2000, 100, 600_000),
    host: env.TESSERA_HOST || "127.0.0.1",
    // 0 asks the system for a free port (tests); the listening line says which.
    port: int(env, "TESSERA_PORT", 7070, 0, 65535),
    tls:
      certPath && keyPath ? { cert: readPem("TESSERA_TLS_CERT", certPath), key: readPem("TESSERA_TLS_KEY", keyPath) } : undefined,
    trustProxy: parseTrustProxy(env.TESSERA_TRUST_PROXY),
    pepper: env.TESSERA_PEPPER || undefined,
    logLevel: oneOf(env, "TESSERA_LOG_LEVEL", LOG_LEVELS, "info"),
    production: env.NODE_ENV === "production",
    sessionTtlMs: int(env, "TESSERA_SESSION_HOURS", 12, 1, 24 * 30) * 3600 * 1000,
    consoleDir: resolve(env.TESSERA_CONSOLE_DIR || new URL("../console/dist", import.meta.url).pathname),
    usageFlushIntervalMs: int(env, "TESSERA_USAGE_FLUSH_MS", 1000, 50, 2000),
    cacheMaxEntries: int(env, "TESSERA_CACHE_SIZE", 100_000, 0, 10_000_000),
    cacheTtlMs: int(env, "TESSERA_CACHE_TTL_MS", 10_000, 100, 300_000),
    cacheNegativeEntries: int(env, "TESSERA_CACHE_NEGATIVE_SIZE", 10_000, 0, 1_000_000),
    maxEventLoopDelayMs: int(env, "TESSERA_MAX_EVENT_LOOP_DELAY_MS", env.NODE_ENV === "test" ? 0 : 1000, 0, 60_000),
    maxHeapMb: int(env, "TESSERA_MAX_HEAP_MB", 0, 0, 1_000_000),
    pressureSampleMs: int(env, "TESSERA_PRESSURE_SAMPLE_MS", 1000, 10, 60_000),
    loginFailuresPerAccount: int(env, "TESSERA_LOGIN_FAILURES_PER_ACCOUNT", 5, 1, 1_000_000),
    loginFailuresPerAddress: int(env, "TESSERA_LOGIN_FAILURES_PER_ADDRESS", 50, 1, 1_000_000),
    bearerFailuresPerMinute: int(env, "TESSERA_BEARER_FAILURES_PER_MINUTE", 120, 1, 10_000_000),
    ...mailConfig(env),
    ...limitsConfig(env),
    noticeIntervalMs: int(env, "TESSERA_NOTICE_INTERVAL_SECONDS", 300, 1, 86_400) * 1000,
    githubKeysUrl: serviceUrl(env, "TESSERA_GITHUB_KEYS_URL", ["https:", "http:"]) ?? GITHUB_KEYS_URL,
    oidc: oidcConfig(env),
    webhooks: webhookConfig(env),
    ...parseEmbedConfig(env, (message) => {
      throw new ConfigError(message);
    }),
  };
  return { ...config, ...overrides };
}

/** Quotas and retention periods: instance-wide, from the environment, with generous defaults. */
function limitsConfig(
  env: NodeJS.ProcessEnv,
): Pick<Config, "quotas" | "retentionIntervalMs" | "usageRetentionDays" | "instanceAuditRetentionDays"> {
  const quotas = Object.fromEntries(
    QUOTA_NAMES.map((name) => [name, int(env, QUOTA_ENV[name], DEFAULT_QUOTAS[name], 1, QUOTA_CEILING[name])]),
  ) as Quotas;
  return {
    quotas,
    retentionIntervalMs: int(env, "TESSERA_RETENTION_INTERVAL_SECONDS", 3600, 1, 7 * 86_400) * 1000,
    // 400 days: a year of usage graphs plus a month to compare against.
    usageRetentionDays: int(env, "TESSERA_USAGE_RETENTION_DAYS", 400, 1, 36_500),
    instanceAuditRetentionDays: int(env, "TESSERA_INSTANCE_AUDIT_RETENTION_DAYS", 90, 1, 36_500),
  };
}

function webhookConfig(env: NodeJS.ProcessEnv): WebhookConfig {
  const allow = env.TESSERA_WEBHOOK_ALLOW_PRIVATE?.trim() ?? "";
  if (!["", "true", "false"].includes(allow)) {
    throw new ConfigError(`TESSERA_WEBHOOK_ALLOW_PRIVATE must be true or false (got ${allow})`);
  }
  const scheduleRaw = env.TESSERA_WEBHOOK_RETRY_SCHEDULE_MS?.trim();
  let retryScheduleMs: readonly number[] = DEFAULT_RETRY_SCHEDULE_MS;
  if (scheduleRaw) {
    const parts = scheduleRaw.split(",").map((p) => p.trim());
    if (parts.length > 50 || parts.some((p) => !/^[1-9]\d{0,9}$/.test(p))) {
      throw new ConfigError(
        `TESSERA_WEBHOOK_RETRY_SCHEDULE_MS must be up to 50 comma-separated positive integers (ms) (got ${scheduleRaw})`,
      );
    }
    retryScheduleMs = parts.map(Number);
  }
  return {
    allowPrivate: allow === "true",
    timeoutMs: int(env, "TESSERA_WEBHOOK_TIMEOUT_MS", 10_000, 100, 120_000),
    concurrency: int(env, "TESSERA_WEBHOOK_CONCURRENCY", 32, 1, 1_000),
    pollMs: int(env, "TESSERA_WEBHOOK_POLL_MS", 250, 10, 60_000),
    retryScheduleMs,
    retentionDays: int(env, "TESSERA_WEBHOOK_RETENTION_DAYS", 30, 1, 36_500),
  };
}

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);
/** RFC 6749 §3.3 scope-token. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/** OpenID Connect sign-in: everything or nothing, so that a half-configured provider fails at start-up. */
function oidcConfig(env: NodeJS.ProcessEnv): OidcConfig | undefined {
  const onlyRaw = env.TESSERA_OIDC_ONLY?.trim() ?? "";
  if (!["", "true", "false"].includes(onlyRaw)) throw new ConfigError(`TESSERA_OIDC_ONLY must be true or false (got ${onlyRaw})`);
  const only = onlyRaw === "true";
  const issuer = env.TESSERA_OIDC_ISSUER?.trim() || undefined;
  if (issuer === undefined) {
    for (const name of ["TESSERA_OIDC_CLIENT_ID", "TESSERA_OIDC_CLIENT_SECRET", "TESSERA_OIDC_NAME", "TESSERA_OIDC_SCOPES"]) {
      if (env[name]) throw new ConfigError(`${name} is set but TESSERA_OIDC_ISSUER is not`);
    }
    if (only) throw new ConfigError("TESSERA_OIDC_ONLY=true needs TESSERA_OIDC_ISSUER: without a provider nobody could sign in");
    return undefined;
  }
  let url: URL | undefined;
  try {
    url = new URL(issuer);
  } catch {}
  // Plain HTTP only on loopback (a provider on the same machine, tests): anywhere else the ID token's keys
  // and the token endpoint's answers could be changed on the way.
  const secure = url?.protocol === "https:" || (url?.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname));
  if (!url || !secure || url.search || url.hash || url.username) {
    throw new ConfigError(
      `TESSERA_OIDC_ISSUER must be an https:// URL (http:// only on a loopback address) without query or fragment (got ${issuer})`,
    );
  }
  const clientId = env.TESSERA_OIDC_CLIENT_ID?.trim();
  if (!clientId) throw new ConfigError("TESSERA_OIDC_CLIENT_ID is required with TESSERA_OIDC_ISSUER");
  const name = env.TESSERA_OIDC_NAME?.trim() || url.host;
  if (name.length > 60 || forbiddenNameCharacter(name)) {
    throw new ConfigError(
      `TESSERA_OIDC_NAME must be at most 60 characters, without control or invisible characters (got ${name})`,
    );
  }
  const scopesRaw = env.TESSERA_OIDC_SCOPES?.trim() || "openid email profile";
  const scopes = [...new Set(scopesRaw.split(/[\s,]+/).filter(Boolean))];
  const bad = scopes.find((s) => !SCOPE_TOKEN.test(s));
  if (bad !== undefined || !scopes.includes("openid")) {
    throw new ConfigError(`TESSERA_OIDC_SCOPES must be space-separated scopes including openid (got ${scopesRaw})`);
  }
  return { issuer, clientId, clientSecret: env.TESSERA_OIDC_CLIENT_SECRET || undefined, name, scopes, only };
}
