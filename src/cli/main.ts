// First: keeps Node's nextTick records on their fast path (see the module); tiny, so --help pays nothing for it.
import "../runtime/keep-tick-shape.js";
import { createProgram } from "./program.js";
import { CliError, EXIT } from "./support.js";

/**
 * `tessera …`: commands parse, validate against the API's schemas, call a service, print. Secrets go to
 * stdout alone; everything else to stderr. Exit status 0 done, 1 refused, 2 could not run (see --help).
 */
createProgram()
  .parseAsync()
  .catch(async (error: unknown) => {
    const { ConfigError } = await import("../config.js");
    const refused = error instanceof CliError ? error.exitCode : EXIT.runtime;
    const message = error instanceof ConfigError || error instanceof CliError ? error.message : runtimeMessage(error);
    process.stderr.write(`tessera: ${message}\n`);
    process.exitCode = refused;
  });

/** An unexpected failure in one line, without a stack; unreachable storage says which and where. */
function runtimeMessage(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as NodeJS.ErrnoException).code;
  const database = process.env.TESSERA_DATABASE_URL;
  if (database && code && /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ECONNRESET|28P01|28000|3D000)$/.test(code)) {
    let where = "the configured host";
    try {
      const url = new URL(database);
      where = `${url.hostname}${url.port ? `:${url.port}` : ""}${url.pathname}`;
    } catch {}
    return `cannot use the PostgreSQL database at ${where} (TESSERA_DATABASE_URL): ${error.message}`;
  }
  if (/timeout exceeded when trying to connect/i.test(error.message) && database) {
    return `cannot reach the PostgreSQL database (TESSERA_DATABASE_URL): ${error.message}`;
  }
  return error.message;
}
