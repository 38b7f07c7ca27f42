/**
 * Tessera in the benchmark process: opening an instance on a data set, the one-time setup (organisation
 * and root token), bulk-loading service tokens straight into storage, and throw-away PostgreSQL databases.
 *
 * Everything is imported from the compiled build (`dist/`, made by `npm run build:server` at the start of
 * the run), so the in-process scenarios run exactly the code the server child processes run.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { newId } from "../../dist/core/ids.js";
import { createTessera, generateToken, hashToken, loadConfig, type Tessera } from "../../dist/index.js";
import { systemMeta } from "../../dist/services/request-meta.js";
import type { NewTokenRow } from "../../dist/store/schema.js";
import { onCleanup } from "./cleanup.js";

export type { Tessera };

/** Where throw-away databases are created (`BENCH_PG_URL`); the benchmark only ever connects to 127.0.0.1. */
export const ADMIN_PG_URL = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export interface OpenOptions {
  dataDir: string;
  databaseUrl?: string | undefined;
  /** `TESSERA_CACHE_SIZE` (0 disables the verifier cache). */
  cacheSize?: number;
  /** `TESSERA_DB_TIMEOUT_MS`: bulk loads of a million rows in one statement need longer than the default 2 s. */
  dbTimeoutMs?: number;
}

/** A Tessera instance in this process (migrations applied); closed by the cleanup registry at the latest. */
export async function openTessera(opts: OpenOptions): Promise<Tessera & { dispose(): Promise<void> }> {
  const env: NodeJS.ProcessEnv = { TESSERA_DATA_DIR: opts.dataDir, TESSERA_LOG_LEVEL: "silent" };
  if (opts.cacheSize !== undefined) env.TESSERA_CACHE_SIZE = String(opts.cacheSize);
  if (opts.dbTimeoutMs !== undefined) env.TESSERA_DB_TIMEOUT_MS = String(opts.dbTimeoutMs);
  const tessera = await createTessera(loadConfig(env, { databaseUrl: opts.databaseUrl }));
  const dispose = onCleanup("in-process tessera", () => tessera.close());
  return Object.assign(tessera, { dispose });
}

export interface Seeded {
  orgId: string;
  /** A root token's secret: the caller's bearer for `POST /v1/verify` and the management API. */
  rootToken: string;
}

/** First-run setup (user + organisation, as `tessera setup` does) and a root token (as `tessera root-token create`). */
export async function seedInstance(tessera: Tessera): Promise<Seeded> {
  const { organization } = await tessera.auth.setup(
    { email: "bench@example.test", password: "correct horse battery staple", name: "Bench", organization: { name: "Bench" } },
    systemMeta(),
  );
  const root = await tessera.tokens.createRoot("bench-root", systemMeta());
  return { orgId: organization.id, rootToken: root.secret };
}

/** Service tokens created through the service, one by one (for small counts: audit events and all). */
export async function createServiceTokens(tessera: Tessera, orgId: string, count: number): Promise<string[]> {
  const access = await tessera.orgs.access({ type: "system" }, orgId);
  const secrets: string[] = [];
  for (let i = 0; i < count; i++) {
    const { secret } = await tessera.tokens.create(
      access,
      { name: `bench-${i}`, kind: "service", scopes: ["tokens:read"] },
      systemMeta(),
    );
    secrets.push(secret);
  }
  return secrets;
}

// Bound-variable limits: SQLite 32766 per statement, PostgreSQL 65535. `tokens` has 29 columns.
const TOKEN_COLUMNS = 29;
const SECRET_COLUMNS = 4;
const ROWS_PER_TRANSACTION = 50_000;

/**
 * Inserts `count` active service tokens of `orgId` directly into `tokens` and `token_secrets` — the same
 * rows `TokenService.create` writes (minus the audit event), with real secrets from `generateToken` and
 * hashes from `hashToken` — in large multi-row INSERTs, 50,000 tokens per transaction. Going through the
 * service would cost a transaction, an audit row and a re-read per token: hours for a million.
 * Returns the plaintext secrets, in insertion order.
 */
export async function bulkInsertServiceTokens(
  tessera: Tessera,
  orgId: string,
  count: number,
  onProgress?: (done: number) => void,
): Promise<string[]> {
  const limit = tessera.store.dialect === "sqlite" ? 32_766 : 65_535;
  const tokensPerInsert = Math.floor(limit / TOKEN_COLUMNS);
  const secretsPerInsert = Math.floor(limit / SECRET_COLUMNS);
  const pepper = tessera.config.pepper;
  const secrets = new Array<string>(count);
  for (let start = 0; start < count; start += ROWS_PER_TRANSACTION) {
    const end = Math.min(count, start + ROWS_PER_TRANSACTION);
    const now = Date.now();
    const tokenRows: NewTokenRow[] = [];
    const secretRows: { hash: string; token_id: string; created_at: number; expires_at: null }[] = [];
    for (let i = start; i < end; i++) {
      const generated = generateToken("tsr", "live");
      const id = newId("token");
      secrets[i] = generated.secret;
      tokenRows.push({
        id,
        org_id: orgId,
        kind: "service",
        name: `bench-${i}`,
        description: null,
        issued_for: null,
        owner_id: null,
        created_by_id: null,
        created_by_name: "system",
        prefix: generated.displayPrefix,
        last4: generated.last4,
        environment: "live",
        scopes: '["tokens:read"]',
        expires_at: null,
        deactivated_at: null,
        suspended_at: null,
        revoked_at: null,
        revoked_by_id: null,
        revoked_by_name: null,
        revoke_reason: null,
        allowed_ips: "[]",
        rate_limit: null,
        metadata: "{}",
        regenerated_at: null,
        previous_secret_expires_at: null,
        last_used_at: null,
        last_used_ip: null,
        created_at: now,
        updated_at: now,
      });
      secretRows.push({ hash: hashToken(generated.secret, pepper), token_id: id, created_at: now, expires_at: null });
    }
    await tessera.store.db.transaction().execute(async (trx) => {
      for (let i = 0; i < tokenRows.length; i += tokensPerInsert) {
        await trx
          .insertInto("tokens")
          .values(tokenRows.slice(i, i + tokensPerInsert))
          .execute();
      }
      for (let i = 0; i < secretRows.length; i += secretsPerInsert) {
        await trx
          .insertInto("token_secrets")
          .values(secretRows.slice(i, i + secretsPerInsert))
          .execute();
      }
    });
    onProgress?.(end);
  }
  return secrets;
}

export interface PgDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** Whether the PostgreSQL server at ADMIN_PG_URL answers. */
export async function postgresAvailable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: ADMIN_PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query("select 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

async function admin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_PG_URL });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/** A fresh database `tessera_bench_<random>`, dropped by `drop()` or, at the latest, by the cleanup registry. */
export async function createPgDatabase(): Promise<PgDatabase> {
  const name = `tessera_bench_${randomBytes(6).toString("hex")}`;
  await admin((c) => c.query(`create database ${name}`));
  const url = new URL(ADMIN_PG_URL);
  url.pathname = `/${name}`;
  // WITH (FORCE) (PostgreSQL 13+) ends connections a crashed server may have left behind.
  const drop = onCleanup(`database ${name}`, () =>
    admin((c) => c.query(`drop database if exists ${name} with (force)`)).then(() => {}),
  );
  return { url: url.toString(), name, drop };
}
