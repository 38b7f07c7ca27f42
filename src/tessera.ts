import type { Config } from "./config.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { AccountService } from "./services/account-service.js";
import { AuditChainService } from "./services/audit-chain-service.js";
import { AuthService } from "./services/auth-service.js";
import { type ChangeBus, LocalChangeBus } from "./services/change-bus.js";
import { EmbedService } from "./services/embed-service.js";
import { createSmtpMailer } from "./services/mailer.js";
import { OidcService } from "./services/oidc-service.js";
import { OrgService } from "./services/org-service.js";
import { QuotaGuard } from "./services/quotas.js";
import { MemoryRateLimiter } from "./services/rate-limiter.js";
import { RetentionJob } from "./services/retention.js";
import { TokenService } from "./services/token-service.js";
import { UsageRecorder } from "./services/usage-recorder.js";
import { Verifier } from "./services/verifier.js";
import { createStore, migrate, type Store } from "./store/database.js";
import { PgChangeBus } from "./store/pg-change-bus.js";

/** Everything one Tessera instance holds: storage, the verifier, the use cases. Shared by HTTP and CLI. */
export interface Tessera {
  config: Config;
  store: Store;
  bus: ChangeBus;
  metrics: Metrics;
  usage: UsageRecorder;
  verifier: Verifier;
  auth: AuthService;
  orgs: OrgService;
  tokens: TokenService;
  /** Invitations, password reset and change, a person's own sessions. */
  accounts: AccountService;
  /** OpenID Connect sign-in (`TESSERA_OIDC_*`); undefined when not configured. */
  oidc: OidcService | undefined;
  /** Host-provisioned identity and the embedded tokens screen's sessions (SPEC §9). */
  embed: EmbedService;
  /** Instance-wide quotas (`config.quotas`), asked inside use cases' transactions. */
  quotas: QuotaGuard;
  /** The audit hash chain: verification, retention checkpoints, export. */
  audit: AuditChainService;
  /** Background pruning of expired sessions, old usage and audit events; stopped by `close`. */
  retention: RetentionJob;
  /** Flushes usage and closes storage. */
  close(): Promise<void>;
}

export async function createTessera(config: Config, options: { migrate?: boolean } = {}): Promise<Tessera> {
  const store = createStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, timeoutMs: config.dbTimeoutMs });
  try {
    if (options.migrate !== false) await migrate(store);
  } catch (error) {
    await store.close();
    throw error;
  }
  let bus: ChangeBus;
  if (store.dialect === "postgres" && store.databaseUrl) {
    const quiet = config.logLevel === "silent";
    const pgBus = new PgChangeBus(
      store.databaseUrl,
      (error) => {
        if (!quiet) process.stderr.write(`tessera: change bus: ${String(error)}\n`);
      },
      config.dbTimeoutMs,
    );
    try {
      await pgBus.start();
    } catch (error) {
      await pgBus.close();
      await store.close();
      throw error;
    }
    bus = pgBus;
  } else {
    bus = new LocalChangeBus();
  }
  const metrics = createMetrics(
    () => verifier.outcomes,
    () => verifier.stats,
  );
  const usage = new UsageRecorder(store, config.usageFlushIntervalMs);
  const verifier = new Verifier({
    store,
    pepper: config.pepper,
    rateLimiter: new MemoryRateLimiter(),
    usage,
    bus,
    cache: {
      maxEntries: config.cacheMaxEntries,
      maxNegativeEntries: config.cacheNegativeEntries,
      ttlMs: config.cacheTtlMs,
      negativeTtlMs: config.cacheTtlMs,
    },
  });
  const mailer = config.smtpUrl ? createSmtpMailer(config.smtpUrl, config.mailFrom) : undefined;
  const quotas = new QuotaGuard(config.quotas, store.dialect);
  const audit = new AuditChainService(store, config.pepper);
  const retention = new RetentionJob(store, {
    beforeAuditPrune: audit.beforeAuditPrune,
    intervalMs: config.retentionIntervalMs,
    usageRetentionDays: config.usageRetentionDays,
    instanceAuditRetentionDays: config.instanceAuditRetentionDays,
    onError: (error) => {
      if (config.logLevel !== "silent") process.stderr.write(`tessera: retention sweep failed: ${String(error)}\n`);
    },
  });
  retention.start();
  let closed = false;
  return {
    config,
    store,
    bus,
    metrics,
    usage,
    verifier,
    auth: new AuthService(
      store,
      config.sessionTtlMs,
      { perAccountAndAddress: config.loginFailuresPerAccount, perAddress: config.loginFailuresPerAddress, windowMs: 15 * 60_000 },
      config.bearerFailuresPerMinute,
      !config.oidc?.only,
    ),
    accounts: new AccountService(store, bus, {
      publicUrl: config.publicUrl,
      sessionTtlMs: config.sessionTtlMs,
      mailer,
      quotas,
      passwords: !config.oidc?.only,
    }),
    oidc: config.oidc
      ? new OidcService(store, {
          config: config.oidc,
          redirectUrl: `${config.publicUrl}/v1/auth/oidc/callback`,
          publicUrl: config.publicUrl,
          sessionTtlMs: config.sessionTtlMs,
          failuresPerAddress: config.loginFailuresPerAddress,
        })
      : undefined,
    orgs: new OrgService(store, bus, quotas),
    embed: new EmbedService(store, bus, { publicUrl: config.publicUrl, sessionTtlMs: config.embedSessionTtlMs, quotas }),
    tokens: new TokenService(store, bus, config.pepper, quotas),
    quotas,
    audit,
    retention,
    async close() {
      if (closed) return;
      closed = true;
      try {
        await retention.close();
        await usage.close();
      } finally {
        verifier.close();
        mailer?.close();
        await bus.close();
        await store.close();
      }
    },
  };
}
