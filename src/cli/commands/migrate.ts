import { loadCliConfig, type Register } from "../support.js";

export const registerMigrate: Register = (program) => {
  program
    .command("migrate")
    .description("Apply pending database migrations (serve and every command also do this first)")
    .action(async () => {
      const config = await loadCliConfig();
      const { createStore, migrate } = await import("../../store/database.js");
      const store = createStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
      try {
        const applied = await migrate(store.db);
        process.stderr.write(applied.length ? `Applied: ${applied.join(", ")}\n` : "Already up to date\n");
      } finally {
        await store.close();
      }
    });
};
