import { migrationStatus, SchemaTooNewError, type Store } from "../store/database.js";

/** `tessera migrate --dry-run`: what `migrate` would apply, names alone on stdout; nothing is changed. */
export async function printPendingMigrations(store: Store): Promise<void> {
  const { pending, unknown } = await migrationStatus(store);
  if (unknown.length > 0) throw new SchemaTooNewError(unknown);
  for (const name of pending) process.stdout.write(`${name}\n`);
  process.stderr.write(
    pending.length ? `${pending.length} pending migration(s); run "tessera migrate" to apply them\n` : "Already up to date\n",
  );
}
