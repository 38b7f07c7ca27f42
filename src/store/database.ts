import type SqliteDatabase from "better-sqlite3";
import {
  CompiledQuery,
  type DatabaseConnection,
  type DialectAdapter,
  type Driver,
  Kysely,
  type KyselyConfig,
  Migrator,
  PostgresDialect,
  SqliteAdapter,
  SqliteDialect,
  type SqliteDialectConfig,
  SqliteDriver,
  sql,
  type Transaction,
} from "kysely";
import type pg from "pg";
import { migrationProvider } from "./migrations/index.js";
import { pgDriver } from "./pg-driver.js";
import { boundedPool, DEFAULT_DB_TIMEOUT_MS } from "./pg-pool.js";
import type { Database } from "./schema.js";
import { openSqliteFile } from "./sqlite-file.js";

export type Db = Kysely<Database> | Transaction<Database>;
export type Dialect = "sqlite" | "postgres";

export interface StoreOptions {
  /** `postgres://…` selects PostgreSQL; otherwise embedded SQLite under `dataDir`. */
  databaseUrl?: string | undefined;
  dataDir: string;
  /** PostgreSQL pool size. */
  poolSize?: number;
  /**
   * PostgreSQL: longest wait for a connection and for each statement, in ms (`TESSERA_DB_TIMEOUT_MS`,
   * default 2000; 0 unbounded). A hung database then answers 503 instead of holding requests forever.
   */
  timeoutMs?: number;
}

/** The one place that knows SQLite from PostgreSQL. */
export interface Store {
  db: Kysely<Database>;
  dialect: Dialect;
  /** The PostgreSQL URL in use (for LISTEN/NOTIFY), when the dialect is postgres. */
  databaseUrl: string | undefined;
  /** Statements executed so far, and how many of them wrote (tests prove the warm path does neither). */
  stats: { queries: number; writes: number };
  /** The bound on each wait for PostgreSQL, in ms (0: none). */
  timeoutMs: number;
  /** SQLite: the database file (the usage writer opens its own connection to it); undefined on PostgreSQL. */
  sqliteFile?: string | undefined;
  /**
   * SQLite: non-zero while a statement of this connection that writes runs (it may be waiting for the
   * write lock); the usage writer's thread starts no transaction meanwhile (see sqlite-usage-writer.ts).
   */
  sqliteWriting?: Int32Array | undefined;
  /** Throws when storage is unreachable (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export const SQLITE_FILE = "tessera.db";

/** How long a SQLite connection waits for another one's write lock (another process, or the usage writer). */
export const SQLITE_BUSY_TIMEOUT_MS = 5000;

const INT8_OID = 20;

const WRITE_RE = /^\s*(insert|update|delete|create|alter|drop)\b/i;

/** Kysely's query log, used only to count statements (cheap: one regex per statement). */
function counting(stats: Store["stats"]): KyselyConfig["log"] {
  return (event) => {
    stats.queries++;
    if (WRITE_RE.test(event.query.sql)) stats.writes++;
  };
}

export function createStore(options: StoreOptions): Store {
  const url = options.databaseUrl;
  const timeoutMs = options.timeoutMs ?? DEFAULT_DB_TIMEOUT_MS;
  if (url && /^postgres(ql)?:\/\//.test(url)) {
    const bounded = boundedPool({
      connectionString: url,
      max: options.poolSize ?? 10,
      timeoutMs,
      // Times and counters are bigint columns holding values well within 2^53: read them as numbers.
      types: {
        getTypeParser: ((oid: number, format?: "text" | "binary") =>
          oid === INT8_OID
            ? (v: string) => Number(v)
            : pgDriver().types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
      },
    });
    const stats = { queries: 0, writes: 0 };
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: bounded }), log: counting(stats) });
    return {
      db,
      dialect: "postgres",
      databaseUrl: url,
      stats,
      timeoutMs,
      ping: async () => {
        await sql`select 1`.execute(db);
      },
      close: () => db.destroy(),
    };
  }
  if (url) throw new Error("TESSERA_DATABASE_URL must start with postgres:// or postgresql://");
  const sqlite = openSqliteFile(options.dataDir, SQLITE_FILE);
  // Another process holding the write lock (a CLI command, a backup step, an instance starting at the same
  // moment) is waited for, up to 5 s; set first, so that switching the journal mode waits too.
  sqlite.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
  sqlite.pragma("journal_mode = WAL");
  // NORMAL is durable across process crashes (kill -9) in WAL mode; only an OS crash may lose the last commits.
  sqlite.pragma("synchronous = NORMAL");
  sqlite.pragma("foreign_keys = ON");
  const stats = { queries: 0, writes: 0 };
  const writing = new Int32Array(new SharedArrayBuffer(4));
  const db = new Kysely<Database>({
    dialect: new ImmediateSqliteDialect({ database: reusingStatements(sqlite, writing) }),
    log: counting(stats),
  });
  return {
    db,
    dialect: "sqlite",
    databaseUrl: undefined,
    stats,
    timeoutMs,
    sqliteFile: sqlite.name,
    sqliteWriting: writing,
    ping: async () => {
      await sql`select 1`.execute(db);
    },
    close: () => db.destroy(),
  };
}

/**
 * SQLite transactions that take the write lock when they begin (`BEGIN IMMEDIATE`). Kysely's default
 * `BEGIN` is deferred: a transaction that reads and then writes must upgrade its lock, and when another
 * process (a CLI command beside the server) committed in between, SQLite answers SQLITE_BUSY at once,
 * without waiting for busy_timeout ("database is locked"). Taking the lock first makes a second
 * process wait its turn instead. Every transaction here is a use case that writes.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("begin immediate"));
  }
}

/**
 * SQLite's DDL is transactional, but Kysely's adapter says otherwise, so its Migrator would run each
 * migration bare: two processes starting at once on a fresh file both saw a migration pending and the
 * second failed with "table … already exists". Saying so makes the Migrator read its state and migrate
 * inside one `BEGIN IMMEDIATE` transaction: the file lock lets one process migrate, the next finds nothing to do.
 */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;
  constructor(config: SqliteDialectConfig) {
    super(config);
    this.#config = config;
  }
  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config);
  }
  override createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
}

/** Prepared statements kept per SQL text (Kysely prepares every query afresh). */
const STATEMENT_CACHE_SIZE = 500;

/**
 * The SQLite connection as Kysely sees it, with prepared statements reused by SQL text: preparing costs
 * more than running a point query (a cold verification spent most of its 60 µs there). Bounded, least
 * recently used first out; a statement still being iterated is never handed out twice.
 */
function reusingStatements(sqlite: SqliteDatabase.Database, writing: Int32Array): SqliteDialectConfig["database"] {
  const statements = new Map<string, SqliteDatabase.Statement>();
  const lookup = (query: string): SqliteDatabase.Statement => {
    const cached = statements.get(query);
    if (cached && !cached.busy) {
      statements.delete(query);
      statements.set(query, cached);
      return cached;
    }
    const statement = sqlite.prepare(query);
    if (!cached) {
      statements.set(query, statement);
      if (statements.size > STATEMENT_CACHE_SIZE) statements.delete(statements.keys().next().value!);
    }
    return statement;
  };
  return {
    close: () => sqlite.close(),
    prepare(query: string) {
      const statement = lookup(query);
      return statement.readonly ? statement : signallingWrites(statement, writing);
    },
  };
}

/**
 * A statement that writes (`BEGIN IMMEDIATE` included), flagged in `writing` while it runs: the usage
 * writer's thread then starts no new transaction, so this one, if it waits for the write lock, gets it
 * once the worker's current transaction ends instead of retrying while the worker's next ones run.
 * better-sqlite3 runs a statement synchronously, so the flag covers exactly the wait and the write.
 */
function signallingWrites(statement: SqliteDatabase.Statement, writing: Int32Array): SqliteDatabase.Statement {
  const flagged =
    <A extends unknown[], R>(run: (...args: A) => R) =>
    (...args: A): R => {
      Atomics.store(writing, 0, 1);
      try {
        return run(...args);
      } finally {
        Atomics.store(writing, 0, 0);
        Atomics.notify(writing, 0);
      }
    };
  return {
    reader: statement.reader,
    readonly: statement.readonly,
    busy: statement.busy,
    run: flagged((...args: unknown[]) => statement.run(...args)),
    all: flagged((...args: unknown[]) => statement.all(...args)),
    get: flagged((...args: unknown[]) => statement.get(...args)),
    iterate: (...args: unknown[]) => statement.iterate(...args),
  } as unknown as SqliteDatabase.Statement;
}

/** Every instance takes this PostgreSQL advisory lock around its schema check and migrations. */
const MIGRATION_LOCK_KEY = 7_305_118_001;

/** This build's migrations, in order. */
async function knownMigrations(): Promise<string[]> {
  return Object.keys(await migrationProvider.getMigrations()).sort();
}

/** Migrations recorded in the database, in order; none on a fresh database. */
async function executedMigrations(db: Kysely<Database>): Promise<string[]> {
  const tables = await db.introspection.getTables({ withInternalKyselyTables: true });
  if (!tables.some((t) => t.name === "kysely_migration")) return [];
  const rows = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(db);
  return rows.rows.map((r) => r.name);
}

/** The database was migrated by a newer Tessera than this one. */
export class SchemaTooNewError extends Error {
  constructor(readonly unknown: string[]) {
    super(
      `The database schema is newer than this Tessera: it has migration(s) ${unknown.join(", ")} that this version does not know. ` +
        "Run the Tessera version that migrated it (or a newer one); this one refuses to start rather than misread the data.",
    );
  }
}

export interface MigrationState {
  /** Known to this build, not yet applied, in the order they would run. */
  pending: string[];
  /** Applied to the database but unknown to this build (the database is newer: start refused). */
  unknown: string[];
}

async function migrationState(db: Kysely<Database>): Promise<MigrationState> {
  const known = await knownMigrations();
  const executed = new Set(await executedMigrations(db));
  return {
    pending: known.filter((name) => !executed.has(name)),
    unknown: [...executed].filter((name) => !known.includes(name)),
  };
}

/** What `migrate` would do, without doing it (`tessera migrate --dry-run`). */
export function migrationStatus(store: Store): Promise<MigrationState> {
  return migrationState(store.db);
}

async function migrateNow(db: Kysely<Database>): Promise<string[]> {
  const state = await migrationState(db);
  if (state.unknown.length > 0) throw new SchemaTooNewError(state.unknown);
  if (state.pending.length === 0) return [];
  const migrator = new Migrator({ db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}

/**
 * Applies every pending migration; throws with the failing migration's error, or {@link SchemaTooNewError}
 * when the database knows migrations this build does not.
 *
 * Given the store on PostgreSQL, several instances starting at once on a fresh database migrate exactly
 * once: each waits for an advisory lock (held by a connection of its own, released when it ends), then
 * checks and migrates on a connection without statement timeout (DDL on a large table may take minutes).
 * On SQLite, migrations run in `BEGIN IMMEDIATE` transactions, which the file lock serialises.
 */
export async function migrate(target: Store | Kysely<Database>): Promise<string[]> {
  if (target instanceof Kysely) return migrateNow(target);
  if (target.dialect !== "postgres" || !target.databaseUrl) return migrateNow(target.db);
  const connectionTimeoutMillis = target.timeoutMs;
  const lock = new (pgDriver().Client)({ connectionString: target.databaseUrl, connectionTimeoutMillis });
  lock.on("error", () => {});
  await lock.connect();
  try {
    await lock.query("select pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
    const db = new Kysely<Database>({
      dialect: new PostgresDialect({
        pool: new (pgDriver().Pool)({ connectionString: target.databaseUrl, max: 1, connectionTimeoutMillis }),
      }),
    });
    try {
      return await migrateNow(db);
    } finally {
      await db.destroy();
    }
  } finally {
    await lock.end().catch(() => {});
  }
}
