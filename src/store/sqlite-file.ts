import { existsSync, mkdirSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import SqliteDatabase from "better-sqlite3";

/**
 * Creates `dir` and its missing parents (mode 0700), one level at a time. Not `mkdirSync(dir, { recursive:
 * true })`: on Node 20 that never returns for a path under a read-only pseudo-filesystem such as
 * `/proc/tessera` (it spins on ENOENT at 100 % CPU), so a mistyped TESSERA_DATA_DIR hung with no output.
 */
export function ensureDirectory(dir: string): void {
  const missing: string[] = [];
  let current = resolve(dir);
  while (!existsSync(current)) {
    missing.unshift(current);
    const parent = dirname(current);
    if (parent === current) break;
    current = parent;
  }
  try {
    for (const path of missing) mkdirSync(path, { mode: 0o700 });
    if (!statSync(dir).isDirectory()) throw new Error("it is not a directory");
  } catch (error) {
    throw new Error(`cannot create the data directory ${resolve(dir)} (TESSERA_DATA_DIR): ${messageOf(error)}`);
  }
}

/** Opens (creating if need be) the SQLite file under `dataDir`; a failure names the file. */
export function openSqliteFile(dataDir: string, fileName: string): SqliteDatabase.Database {
  ensureDirectory(dataDir);
  const file = join(dataDir, fileName);
  try {
    return new SqliteDatabase(file);
  } catch (error) {
    throw new Error(`cannot open the SQLite database ${file} (TESSERA_DATA_DIR): ${messageOf(error)}`);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
