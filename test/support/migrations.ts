import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Migrator } from "kysely";
import { createStore, type Store } from "../../src/store/database.js";
import { migrationProvider } from "../../src/store/migrations/index.js";
import { createPostgresDatabase, type DialectName } from "./databases.js";

/** A store of its own (a fresh SQLite directory or PostgreSQL database) for a migration test. */
export interface MigrationStore {
  store: Store;
  /** Migrates up or down to `migration` (by name), throwing what the migrator reports. */
  migrateTo(migration: string): Promise<void>;
  close(): Promise<void>;
}

/** Opens a fresh store migrated up to `migration` and no further. */
export async function storeMigratedTo(dialect: DialectName, migration: string): Promise<MigrationStore> {
  const dir = mkdtempSync(join(tmpdir(), "tessera-migration-"));
  const database = dialect === "postgres" ? await createPostgresDatabase() : undefined;
  const store = createStore({ databaseUrl: database?.url, dataDir: dir });
  const migrateTo = async (to: string) => {
    const { error } = await new Migrator({ db: store.db, provider: migrationProvider }).migrateTo(to);
    if (error) throw error;
  };
  const close = async () => {
    await store.close();
    await database?.drop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await migrateTo(migration);
  } catch (error) {
    await close();
    throw error;
  }
  return { store, migrateTo, close };
}
