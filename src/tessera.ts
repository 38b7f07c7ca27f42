import type { Config } from "./config.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { AccountService } from "./services/account-service.js";
import { AuditChainService } from "./services/audit-chain-service.js";
import { AuthService } from "./services/auth-service.js";
import { type ChangeBus, LocalChangeBus } from "./services/change-bus.js";
import { EmbedService } from "./services/embed-service.js";
import { GitHubKeys, LeakService } from "./services/leak-service.js";
import { type Limits, MemoryLimits } from "./services/limits.js";
import { MailSender } from "./services/mail-outbox.js";
import { createSmtpMailer } from "./services/mailer.js";
import { NoticeScheduler } from "./services/notice-scheduler.js";
import type { OidcService } from "./services/oidc-service.js";
import { OrgService } from "./services/org-service.js";
import { QuotaGuard } from "./services/quotas.js";
import { RetentionJob } from "./services/retention.js";
import { TokenService } from "./services/token-service.js";
import { UsageRecorder } from "./services/usage-recorder.js";
import { Verifier } from "./services/verifier.js";
import { WebhookDispatcher } from "./services/webhook-dispatcher.js";
import { WebhookSecretBox } from "./services/webhook-secrets.js";
import { WebhookService } from "./services/webhook-service.js";
import { createStore, migrate, type Store } from "./store/database.js";
import { readCredits, writeCreditsBehind, writeCreditsBehindMany } from "./store/tokens-repository.js";

/** Everything one Tessera instance holds: storage, the verifier, the use cases. Shared by HTTP and CLI. */
export interface Tessera {
  config: Config;
  store: Store;
  bus: ChangeBus;
  metrics: Metrics;
  usage: UsageRecorder;
  verifier: Verifier;
  /** Rate limits and credits: in Redis (`TESSERA_REDIS_URL`) or in this process's memory. */
  limits: Limits;
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
  /** Webhook endpoints and their delivery log (SPEC §10). */
  webhooks: WebhookService;
  /** Delivers the webhook outbox; started unless `createTessera(…, { dispatch: false })` (CLI commands). */
  dispatcher: WebhookDispatcher;
  /**
   * Requests the HTTP server has received (every route, the verification fast lane included), counted by
   * src/http/app.ts: the dispatcher paces itself while they arrive and the event loop is busy.
   */
  traffic: { requests: number };
  /** Background pruning of expired sessions, old usage and audit events; stopped by `close`. */
  retention: RetentionJob;
  /** Scheduled token notices and the unused-token policy (SPEC §10); stopped by `close`. */
  notices: NoticeScheduler;
  /** Sends the mail outbox (undefined without SMTP); stopped by `close`. */
  mail: MailSender | undefined;
  /** GitHub secret scanning alerts (SPEC §11). */
  leaks: LeakService;
  /** Flushes usage and closes storage. */
  close(): Promise<void>;
}

export async function createTessera(
  config: Config,
  /**
   * `warnLimits`: say at start-up when limits are per instance (the server; not every CLI command).
   * `dispatch: false`: no webhook dispatcher (CLI commands; the server delivers).
   */
  options: { migrate?: boolean; warnLimits?: boolean; dispatch?: boolean } = {},
): Promise<Tessera> {
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
    const { PgChangeBus } = await import("./store/pg-change-bus.js");
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
    () => limits.stats,
  );
  const usage = new UsageRecorder(store, config.usageFlushIntervalMs);
  const quiet = config.logLevel === "silent";
  const log = (message: string) => {
    if (!quiet) process.stderr.write(`tessera: ${message}\n`);
  };
  const creditsStore = {
    read: (tokenId: string) => readCredits(store.db, tokenId),
    write: (snapshot: Parameters<typeof writeCreditsBehind>[1]) => writeCreditsBehind(store.db, snapshot),
    writeMany: (snapshots: Parameters<typeof writeCreditsBehindMany>[1]) => writeCreditsBehindMany(store.db, snapshots),
  };
  let limits: Limits;
  if (config.redisUrl) {
    // ioredis loads only when Redis is configured (a CLI command's start-up is mostly loading code).
    const { RedisLimits } = await import("./services/redis-limits.js");
    const redisLimits = new RedisLimits(creditsStore, {
      url: config.redisUrl,
      prefix: config.redisPrefix,
      timeoutMs: config.redisTimeoutMs,
      onDown: config.limitsOnRedisDown,
      flushMs: config.creditsFlushMs,
      leaseUnits: config.limitsLeaseUnits,
      log,
    });
    await redisLimits.start();
    if (redisLimits.health.degraded)
      log(`warning: ${redisLimits.health.degraded} (TESSERA_REDIS_URL); retrying in the background`);
    limits = redisLimits;
  } else {
    limits = new MemoryLimits(creditsStore, { flushMs: config.creditsFlushMs });
    if (store.dialect === "postgres" && options.warnLimits === true) {
      log(
        "warning: PostgreSQL without TESSERA_REDIS_URL: rate limits and credits are kept per instance; with several instances each applies them on its own (set TESSERA_REDIS_URL to make them exact across instances)",
      );
    }
  }
  const verifier = new Verifier({
    store,
    pepper: config.pepper,
    limits,
    usage,
    bus,
    cache: {
      maxEntries: config.cacheMaxEntries,
      maxNegativeEntries: config.cacheNegativeEntries,
      ttlMs: config.cacheTtlMs,
      negativeTtlMs: config.cacheTtlMs,
    },
  });
  // nodemailer (inside createSmtpMailer), openid-client and pg load only when configured: they are a good
  // part of a CLI command's start-up.
  const mailer = config.smtpUrl ? createSmtpMailer(config.smtpUrl, config.mailFrom) : undefined;
  const oidc = config.oidc
    ? new (await import("./services/oidc-service.js")).OidcService(store, {
        config: config.oidc,
        redirectUrl: `${config.publicUrl}/v1/auth/oidc/callback`,
        publicUrl: config.publicUrl,
        sessionTtlMs: config.sessionTtlMs,
        failuresPerAddress: config.loginFailuresPerAddress,
      })
    : undefined;
  const quotas = new QuotaGuard(config.quotas, store.dialect);
  const audit = new AuditChainService(store, config.pepper);
  const retention = new RetentionJob(store, {
    beforeAuditPrune: audit.beforeAuditPrune,
    intervalMs: config.retentionIntervalMs,
    usageRetentionDays: config.usageRetentionDays,
    webhookRetentionDays: config.webhooks.retentionDays,
    instanceAuditRetentionDays: config.instanceAuditRetentionDays,
    onError: (error) => {
      if (config.logLevel !== "silent") process.stderr.write(`tessera: retention sweep failed: ${String(error)}\n`);
    },
  });
  retention.start();
  const tokens = new TokenService(store, bus, config.pepper, quotas, limits);
  const mail = mailer
    ? new MailSender(store, mailer, {
        intervalMs: 10_000,
        onError: (error) => {
          if (config.logLevel !== "silent") process.stderr.write(`tessera: mail loop failed: ${String(error)}\n`);
        },
      })
    : undefined;
  mail?.start();
  const noticeOptions = { mail: mailer !== undefined, publicUrl: config.publicUrl, onMailQueued: () => mail?.poke() };
  const notices = new NoticeScheduler(store, tokens, {
    ...noticeOptions,
    intervalMs: config.noticeIntervalMs,
    onError: (error) => {
      if (config.logLevel !== "silent") process.stderr.write(`tessera: notice run failed: ${String(error)}\n`);
    },
  });
  notices.start();
  const leaks = new LeakService(store, tokens, bus, new GitHubKeys(config.githubKeysUrl), {
    ...noticeOptions,
    pepper: config.pepper,
  });
  const box = new WebhookSecretBox(config.pepper);
  const traffic = { requests: 0 };
  const dispatcher = new WebhookDispatcher(store, {
    box,
    traffic,
    allowPrivate: config.webhooks.allowPrivate,
    timeoutMs: config.webhooks.timeoutMs,
    concurrency: config.webhooks.concurrency,
    pollMs: config.webhooks.pollMs,
    retryScheduleMs: config.webhooks.retryScheduleMs,
    mail: mailer ? { publicUrl: config.publicUrl, onMailQueued: () => mail?.poke() } : undefined,
    onError: (error) => {
      if (config.logLevel !== "silent") process.stderr.write(`tessera: webhook dispatcher: ${String(error)}\n`);
    },
  });
  if (options.dispatch !== false) dispatcher.start();
  let closed = false;
  return {
    config,
    store,
    bus,
    metrics,
    usage,
    verifier,
    limits,
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
    oidc,
    orgs: new OrgService(store, bus, quotas),
    embed: new EmbedService(store, bus, { publicUrl: config.publicUrl, sessionTtlMs: config.embedSessionTtlMs, quotas }),
    tokens,
    quotas,
    audit,
    retention,
    notices,
    mail,
    leaks,
    webhooks: new WebhookService(store, {
      box,
      quotas,
      allowPrivate: config.webhooks.allowPrivate,
      kick: () => dispatcher.kick(),
    }),
    dispatcher,
    traffic,
    async close() {
      if (closed) return;
      closed = true;
      try {
        await dispatcher.close();
        await retention.close();
        await notices.close();
        await mail?.close();
        await usage.close();
        await limits.close().catch((error: unknown) => log(`credits write-behind failed at close: ${String(error)}`));
      } finally {
        verifier.close();
        mailer?.close();
        await bus.close();
        await store.close();
      }
    },
  };
}
