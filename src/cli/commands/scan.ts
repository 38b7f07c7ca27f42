import type { ScanFinding } from "../scan.js";
import type { Register } from "../support.js";
import { CliError, EXIT, printJson } from "../support.js";

/** What a finding's secret is, looked up by hash in this instance's storage. */
type Liveness = "active" | "inactive" | "expired" | "suspended" | "revoked" | "replaced" | "unknown";

/**
 * The status of each distinct token in this instance's storage, when there is one to ask: a PostgreSQL
 * database (TESSERA_DATABASE_URL) or an existing SQLite file in TESSERA_DATA_DIR. Nothing is created or
 * migrated: a scan in a folder without Tessera data stays a pure file scan. `replaced`: an earlier secret of
 * a regenerated token whose grace period is over (it no longer verifies).
 */
async function lookUp(tokens: readonly string[]): Promise<Map<string, Liveness> | undefined> {
  const [{ loadCliConfig }, { join }, { existsSync }] = await Promise.all([
    import("../support.js"),
    import("node:path"),
    import("node:fs"),
  ]);
  const config = await loadCliConfig();
  const { SQLITE_FILE, createStore } = await import("../../store/database.js");
  if (!config.databaseUrl && !existsSync(join(config.dataDir, SQLITE_FILE))) return undefined;
  const [{ findTokenBySecretHash }, { hashToken }, { deriveStatus }] = await Promise.all([
    import("../../store/tokens-repository.js"),
    import("../../core/token-format.js"),
    import("../../core/status.js"),
  ]);
  const store = createStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, timeoutMs: config.dbTimeoutMs });
  try {
    const now = Date.now();
    const statuses = new Map<string, Liveness>();
    for (const token of new Set(tokens)) {
      const match = await findTokenBySecretHash(store.db, hashToken(token, config.pepper));
      if (!match) statuses.set(token, "unknown");
      else if (match.secretExpiresAt !== null && match.secretExpiresAt <= now) statuses.set(token, "replaced");
      else statuses.set(token, deriveStatus(match.token, now));
    }
    return statuses;
  } finally {
    await store.close();
  }
}

function where(f: ScanFinding): string {
  return f.commit ? `${f.commit.slice(0, 12)}:${f.path}:${f.line}` : `${f.path}:${f.line}`;
}

export const registerScan: Register = (program) => {
  program
    .command("scan")
    .description(
      "Find Tessera tokens (any organisation prefix, valid checksum) in files, folders, standard input or git history; " +
        "prints FILE:LINE: and the masked token; exit status 1 when any is found, 0 when none, 2 on a usage error or " +
        "a path that could not be read",
    )
    .argument(
      "[path...]",
      'files and folders to scan (folders recursively, skipping .git; binary files skipped); "-" reads standard input; ' +
        "with --git, repositories (default: the current folder)",
    )
    .option("--git", "scan the whole history of the repository instead (every commit on every ref: added lines and messages)")
    .option("--json", "print a JSON array of findings: {path, line, commit?, maskedToken, prefix, environment, status?}")
    .option(
      "--no-lookup",
      "do not look the tokens up in this instance's storage (by default, when TESSERA_DATABASE_URL is set or " +
        "TESSERA_DATA_DIR holds a database, each finding says whether the token is active, revoked, … or unknown)",
    )
    // Exit status 1 means "found": a mistyped option must not read as a finding (nor as a clean tree).
    .exitOverride((error) => process.exit(error.exitCode === 0 ? EXIT.ok : EXIT.runtime))
    .action(async (paths: string[], o: { git?: boolean; json?: boolean; lookup: boolean }) => {
      const { missingPaths, scanGitHistory, scanPaths } = await import("../scan.js");
      const targets = paths.length > 0 ? paths : o.git ? ["."] : [];
      if (targets.length === 0)
        throw new CliError('name at least one PATH to scan ("." for the current folder, "-" for standard input)', EXIT.runtime);
      if (o.git && targets.includes("-"))
        throw new CliError('--git scans repositories: "-" (standard input) cannot be one', EXIT.runtime);
      const missing = missingPaths(targets);
      if (missing.length > 0) throw new CliError(`no such file or folder: ${missing.join(", ")}`, EXIT.runtime);

      const started = performance.now();
      const results = [];
      if (o.git) for (const repo of targets) results.push(await scanGitHistory(repo));
      else results.push(await scanPaths(targets));
      const found = results.flatMap((r) => r.found);
      const errors = results.flatMap((r) => r.totals.errors);
      const bytes = results.reduce((n, r) => n + r.totals.bytes, 0);
      const files = results.reduce((n, r) => n + r.totals.files, 0);
      const binary = results.reduce((n, r) => n + r.totals.binary, 0);
      const seconds = (performance.now() - started) / 1000;
      let statuses: Map<string, Liveness> | undefined;
      if (o.lookup && found.length > 0) {
        // A lookup that fails (configuration, storage) must not hide the findings: they print without a status.
        statuses = await lookUp(found.map((f) => f.token)).catch((error: unknown) => {
          process.stderr.write(
            `tessera: scan: cannot look the tokens up: ${error instanceof Error ? error.message : String(error)}\n`,
          );
          return undefined;
        });
      }

      if (o.json) {
        printJson(
          found.map((f) => {
            const [prefix, environment] = f.masked.split("_");
            return {
              path: f.path,
              line: f.line,
              ...(f.commit ? { commit: f.commit } : {}),
              maskedToken: f.masked,
              prefix,
              environment,
              ...(statuses ? { status: statuses.get(f.token) } : {}),
            };
          }),
        );
      } else {
        for (const f of found) {
          const status = statuses ? ` (${statuses.get(f.token)})` : "";
          process.stdout.write(`${where(f)}: ${f.masked}${status}\n`);
        }
      }
      for (const error of errors) process.stderr.write(`tessera: scan: cannot read ${error}\n`);
      const mb = bytes / 1e6;
      process.stderr.write(
        `tessera: scan: ${found.length === 0 ? "no tokens" : `${found.length} token${found.length === 1 ? "" : "s"}`} found in ` +
          `${o.git ? `the history of ${targets.join(", ")}` : `${files} file${files === 1 ? "" : "s"}`}` +
          `${binary > 0 ? ` (${binary} binary file${binary === 1 ? "" : "s"} skipped)` : ""} ` +
          `(${mb.toFixed(1)} MB, ${seconds.toFixed(2)} s)\n`,
      );
      process.exitCode = found.length > 0 ? EXIT.refused : errors.length > 0 ? EXIT.runtime : EXIT.ok;
    });
};
