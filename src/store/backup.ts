import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import SqliteDatabase from "better-sqlite3";
import { type Db, SQLITE_FILE } from "./database.js";
import { migrationProvider } from "./migrations/index.js";

/** What a backup holds, read from the file itself. */
export interface BackupInfo {
  file: string;
  bytes: number;
  tokens: number;
  /** The latest audit event in it (epoch ms), or null: anything after it is not in the backup. */
  lastEventAt: number | null;
  migrations: string[];
}

/** A backup or restore that cannot be done; the message says why and what to do. */
export class BackupError extends Error {}

/** Pages per step: all of them, so the copy is one read transaction (one consistent snapshot). */
const ALL_PAGES = 0x7fffffff;

/**
 * A consistent online backup of the embedded SQLite database, taken with SQLite's backup API while
 * Tessera (another process) keeps writing. The copy is made in one step under one read transaction: in
 * WAL mode readers never block writers, so the server keeps serving; a write committed by another
 * connection before the step restarts the step on the fresh state. Written to a temporary file beside
 * the target and renamed, so `to` is either the whole backup or absent.
 */
export async function backupSqlite(dataDir: string, to: string): Promise<BackupInfo> {
  const source = join(dataDir, SQLITE_FILE);
  if (!existsSync(source)) throw new BackupError(`No Tessera database at ${source} (TESSERA_DATA_DIR)`);
  const target = resolve(to);
  if (existsSync(target)) throw new BackupError(`${target} already exists; choose a new file (a backup never overwrites)`);
  if (!existsSync(dirname(target))) throw new BackupError(`The directory ${dirname(target)} does not exist`);
  const partial = `${target}.partial-${process.pid}`;
  const db = new SqliteDatabase(source, { fileMustExist: true });
  try {
    db.pragma("busy_timeout = 5000");
    await db.backup(partial, { progress: () => ALL_PAGES });
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  } finally {
    db.close();
  }
  chmodSync(partial, 0o600);
  renameSync(partial, target);
  return inspectBackup(target);
}

/** Opens a backup read-only, checks it is whole and a Tessera database this build understands. */
export async function inspectBackup(file: string): Promise<BackupInfo> {
  const path = resolve(file);
  if (!existsSync(path)) throw new BackupError(`No such file: ${path}`);
  let db: SqliteDatabase.Database;
  try {
    db = new SqliteDatabase(path, { readonly: true, fileMustExist: true });
  } catch (error) {
    throw new BackupError(`${path} is not a SQLite database: ${String(error)}`);
  }
  try {
    let check: unknown;
    try {
      check = db.pragma("integrity_check", { simple: true });
    } catch (error) {
      throw new BackupError(`${path} is not a SQLite database: ${String(error)}`);
    }
    if (check !== "ok") throw new BackupError(`${path} is damaged (integrity_check: ${String(check)})`);
    const hasTable = (name: string) =>
      db.prepare("select 1 from sqlite_master where type = 'table' and name = ?").get(name) !== undefined;
    if (!hasTable("kysely_migration") || !hasTable("tokens")) throw new BackupError(`${path} is not a Tessera database`);
    const migrations = (db.prepare("select name from kysely_migration order by name").all() as { name: string }[]).map(
      (r) => r.name,
    );
    const known = new Set(Object.keys(await migrationProvider.getMigrations()));
    const unknown = migrations.filter((m) => !known.has(m));
    if (unknown.length > 0) {
      throw new BackupError(
        `${path} comes from a newer Tessera (migrations ${unknown.join(", ")} are unknown to this version); restore it with that version`,
      );
    }
    const { tokens } = db.prepare("select count(*) as tokens from tokens").get() as { tokens: number };
    const { last } = db.prepare("select max(at) as last from audit_events").get() as { last: number | null };
    return { file: path, bytes: statSync(path).size, tokens, lastEventAt: last, migrations };
  } finally {
    db.close();
  }
}

/**
 * Restores a backup into an empty data directory (created if missing). A directory holding anything is
 * refused: a restore never overwrites a live database. Pending migrations run when Tessera next starts.
 */
export async function restoreSqlite(from: string, dataDir: string): Promise<BackupInfo> {
  const info = await inspectBackup(from);
  const dir = resolve(dataDir);
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw new BackupError(`${dir} (TESSERA_DATA_DIR) is not a directory`);
    const entries = readdirSync(dir);
    if (entries.length > 0) {
      throw new BackupError(
        `${dir} (TESSERA_DATA_DIR) is not empty (${entries.slice(0, 3).join(", ")}${entries.length > 3 ? ", …" : ""}); restore into an empty directory`,
      );
    }
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const target = join(dir, SQLITE_FILE);
  const partial = `${target}.partial`;
  copyFileSync(info.file, partial);
  chmodSync(partial, 0o600);
  renameSync(partial, target);
  return info;
}

const TOKEN_STATE_ACTIONS = ["token.revoked", "token.suspended", "token.resumed"] as const;

/** A token's state change as recorded in an audit log. */
export interface RecordedTokenChange {
  id: string | null;
  at: number;
  action: string;
  tokenId: string;
}

/** Revocations, suspensions and resumptions recorded at or after `since` in this database's audit log. */
export async function tokenChangesSince(db: Db, since: number): Promise<RecordedTokenChange[]> {
  const rows = await db
    .selectFrom("audit_events")
    .select(["id", "at", "action", "target_id"])
    .where("at", ">=", since)
    .where("target_type", "=", "token")
    .where("action", "in", [...TOKEN_STATE_ACTIONS])
    .orderBy("at")
    .execute();
  return rows.flatMap((r) => (r.target_id ? [{ id: r.id, at: r.at, action: r.action, tokenId: r.target_id }] : []));
}

/** Whether a file is a SQLite database (its 16-byte header), e.g. the old database kept after a restore. */
export function isSqliteFile(file: string): boolean {
  const fd = openSync(file, "r");
  try {
    const header = Buffer.alloc(16);
    readSync(fd, header, 0, 16, 0);
    return header.toString("latin1") === "SQLite format 3\0";
  } finally {
    closeSync(fd);
  }
}

/** The same, read from another Tessera SQLite file (opened read-only, never changed). */
export function tokenChangesInSqliteFile(file: string, since: number): RecordedTokenChange[] {
  const db = new SqliteDatabase(resolve(file), { readonly: true, fileMustExist: true });
  try {
    const rows = db
      .prepare(
        `select id, at, action, target_id from audit_events where at >= ? and target_type = 'token' and action in (${TOKEN_STATE_ACTIONS.map(() => "?").join(", ")}) order by at`,
      )
      .all(since, ...TOKEN_STATE_ACTIONS) as { id: string; at: number; action: string; target_id: string | null }[];
    return rows.flatMap((r) => (r.target_id ? [{ id: r.id, at: r.at, action: r.action, tokenId: r.target_id }] : []));
  } finally {
    db.close();
  }
}
