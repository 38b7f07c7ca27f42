import type { Command } from "commander";
import { loadConfig } from "../config.js";

/** `tessera restore --from FILE`: a backup into an empty data directory (Tessera stopped). */
export function registerRestoreCommand(program: Command): void {
  program
    .command("restore")
    .description("Restore a backup made by tessera backup into an empty TESSERA_DATA_DIR")
    .requiredOption("--from <file>", "the backup file")
    .action(async (o: { from: string }) => {
      const { BackupError, restoreSqlite } = await import("../store/backup.js");
      const config = loadConfig();
      if (config.databaseUrl) {
        throw new BackupError(
          "TESSERA_DATABASE_URL is set: restore PostgreSQL with pg_restore or its point-in-time recovery (docs/operations.md)",
        );
      }
      const info = await restoreSqlite(o.from, config.dataDir);
      const since = info.lastEventAt === null ? "<the backup's time>" : new Date(info.lastEventAt).toISOString();
      process.stderr.write(
        `Restored ${info.tokens} token(s) into ${config.dataDir}.\n` +
          `Tokens revoked or suspended after ${since} are active again in this copy. Re-apply those changes from an audit export or the old database:\n` +
          `  tessera audit replay-revocations --since ${since} --from <export.ndjson | old tessera.db>\n`,
      );
    });
}
