import { execFile } from "node:child_process";
import { join, resolve } from "node:path";

/** The repository root and the CLI's entry point, run through tsx (no build needed). */
export const ROOT = resolve(import.meta.dirname, "../..");
export const CLI_MAIN = join(ROOT, "src/cli/main.ts");

/** What one `tessera …` process did. */
export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment a fresh shell would give the CLI: none of the parent's TESSERA_* settings. */
export function cliEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith("TESSERA_") && !key.startsWith("VITEST") && key !== "NODE_OPTIONS") env[key] = value;
  }
  return { ...env, NODE_ENV: "test", ...extra };
}

/** Runs `tessera <args>` as a real process (60 s at most) and reports its exit code and output. */
export function runCli(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ["--import", "tsx", CLI_MAIN, ...args],
      { cwd: ROOT, env: cliEnv(env), timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : null) : 0;
        done({ code, stdout, stderr });
      },
    );
  });
}
