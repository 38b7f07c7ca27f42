import type SqliteDatabase from "better-sqlite3";
import {
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  Kysely,
  type KyselyConfig,
  Migrator,
  PostgresDialect,
  SqliteDialect,
  type SqliteDialectConfig,
  SqliteDriver,
  sql,
  type Transaction,
} from "kysely";
import pg from "pg";
import { migrationProvider } from "./migrations/index.js";
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
}

/** The one place that knows SQLite from PostgreSQL. */
export interface Store {
  db: Kysely<Database>;
  dialect: Dialect;
  /** The PostgreSQL URL in use (for LISTEN/NOTIFY), when the dialect is postgres. */
  databaseUrl: string | undefined;
  /** Statements executed so far, and how many of them wrote (tests prove the warm path does neither). */
  stats: { queries: number; writes: number };
  /** Throws when storage is unreachable (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export const SQLITE_FILE = "tessera.db";

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
  if (url && /^postgres(ql)?:\/\//.test(url)) {
    const pool = new pg.Pool({
      connectionString: url,
      max: options.poolSize ?? 10,
      // Connecting (or waiting for a free client) gives up after 3 s: an unreachable PostgreSQL (or an
      // exhausted pool) answers 503 within seconds instead of holding the request (pg's default: forever).
      connectionTimeoutMillis: 3_000,
      // Times and counters are bigint columns holding values well within 2^53: read them as numbers.
      types: {
        getTypeParser: ((oid: number, format?: "text" | "binary") =>
          oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
      },
    });
    // An idle client losing its connection must not crash the process; the next query reconnects.
    pool.on("error", () => {});
    // A connection that drops mid-query also emits 'error' on its client; unheard, that would end the
    // process. The query itself fails (→ 503) and the pool discards the client.
    pool.on("connect", (client) => client.on("error", () => {}));
    const stats = { queries: 0, writes: 0 };
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), log: counting(stats) });
    return {
      db,
      dialect: "postgres",
      databaseUrl: url,
      stats,
      ping: async () => {
        await sql`select 1`.execute(db);
      },
      close: () => db.destroy(),
    };
  }
  if (url) throw new Error("TESSERA_DATABASE_URL must start with postgres:// or postgresql://");
  const sqlite = openSqliteFile(options.dataDir, SQLITE_FILE);
  sqlite.pragma("journal_mode = WAL");
  // NORMAL is durable across process crashes (kill -9) in WAL mode; only an OS crash may lose the last commits.
  sqlite.pragma("synchronous = NORMAL");
  sqlite.pragma("busy_timeout = 5000");
  sqlite.pragma("foreign_keys = ON");
  const stats = { queries: 0, writes: 0 };
  const db = new Kysely<Database>({
    dialect: new ImmediateSqliteDialect({ database: reusingStatements(sqlite) }),
    log: counting(stats),
  });
  return {
    db,
    dialect: "sqlite",
    databaseUrl: undefined,
    stats,
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

class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;
  constructor(config: SqliteDialectConfig) {
    super(config);
    this.#config = config;
  }
  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config);
  }
}

/** Prepared statements kept per SQL text (Kysely prepares every query afresh). */
const STATEMENT_CACHE_SIZE = 500;

/**
 * The SQLite connection as Kysely sees it, with prepared statements reused by SQL text: preparing costs
 * more than running a point query (a cold verification spent most of its 60 µs there). Bounded, least
 * recently used first out; a statement still being iterated is never handed out twice.
 */
function reusingStatements(sqlite: SqliteDatabase.Database): SqliteDialectConfig["database"] {
  const statements = new Map<string, SqliteDatabase.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(query: string) {
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
    },
  };
}

/** Applies every pending migration; throws with the failing migration's error. */
export async function migrate(db: Kysely<Database>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}
