import { loadCliConfig, type Register } from "../support.js";

export const registerMigrate: Register = (program) => {
  program
    .command("migrate")
    .description("Apply pending database migrations (serve and every command also do this first)")
    .option("--dry-run", "list the pending migrations on stdout, one a line, without applying them")
    .action(async (o: { dryRun?: boolean }) => {
      const config = await loadCliConfig();
      const { createStore, migrate } = await import("../../store/database.js");
      const store = createStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, timeoutMs: config.dbTimeoutMs });
      try {
        if (o.dryRun) {
          const { printPendingMigrations } = await import("../migrate-dry-run.js");
          return await printPendingMigrations(store);
        }
        const applied = await migrate(store);
        process.stderr.write(applied.length ? `Applied: ${applied.join(", ")}\n` : "Already up to date\n");
      } finally {
        await store.close();
      }
    });
};
