import type { Command } from "commander";
import { loadConfig } from "../config.js";

/** `tessera backup --to FILE`: an online, consistent copy of the embedded SQLite database. */
export function registerBackupCommand(program: Command): void {
  program
    .command("backup")
    .description("Back up the embedded SQLite database while Tessera runs (PostgreSQL: use pg_dump, see docs/operations.md)")
    .requiredOption("--to <file>", "the backup file to create (never overwritten)")
    .action(async (o: { to: string }) => {
      const { BackupError, backupSqlite } = await import("../store/backup.js");
      const config = loadConfig();
      if (config.databaseUrl) {
        throw new BackupError(
          "TESSERA_DATABASE_URL is set: back up PostgreSQL with pg_dump or its point-in-time recovery (docs/operations.md); tessera backup copies the embedded SQLite database",
        );
      }
      const info = await backupSqlite(config.dataDir, o.to);
      const last = info.lastEventAt === null ? "none" : new Date(info.lastEventAt).toISOString();
      process.stderr.write(
        `Backed up ${info.tokens} token(s) into ${info.file} (${info.bytes} bytes); latest audit event ${last}.\n`,
      );
    });
}
