/**
 * One place that knows how to undo everything the benchmark started: child processes, temp directories,
 * PostgreSQL databases. Scenarios clean up after themselves in `finally` blocks; this registry is the
 * safety net for Ctrl-C, SIGTERM and unexpected exits, so that a failed run leaves nothing behind.
 */
type Cleanup = () => void | Promise<void>;

const pending = new Map<number, { label: string; run: Cleanup }>();
let nextId = 0;

/** Registers `run`; the returned function runs it now (once) and unregisters it. */
export function onCleanup(label: string, run: Cleanup): () => Promise<void> {
  const id = nextId++;
  pending.set(id, { label, run });
  return async () => {
    if (!pending.delete(id)) return;
    await run();
  };
}

/** Runs every registered cleanup, newest first (servers stop before their database is dropped). */
export async function runAllCleanups(): Promise<void> {
  const entries = [...pending.entries()].reverse();
  pending.clear();
  for (const [, { label, run }] of entries) {
    try {
      await run();
    } catch (error) {
      console.error(`cleanup "${label}" failed: ${String(error)}`);
    }
  }
}

let installed = false;

/**
 * On SIGINT/SIGTERM: clean up, then exit with the conventional 128 + signal code. Further signals during
 * the cleanup are ignored: Ctrl-C reaches this process twice (from the terminal and relayed by tsx), and
 * the default action of the second one would end the process before its servers and databases are gone.
 * The cleanup is bounded anyway (a server that ignores SIGTERM gets SIGKILL after 10 s).
 */
export function installSignalCleanup(): void {
  if (installed) return;
  installed = true;
  let stopping = false;
  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      console.error(`\n${signal}: stopping servers and removing temporary data…`);
      void runAllCleanups().finally(() => process.exit(code));
    });
  }
}
