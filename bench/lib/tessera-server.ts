/**
 * A Tessera server (`node bin/tessera.js serve`, the compiled build) in a child process, as an operator
 * runs it. The benchmark talks to it over 127.0.0.1 only and reads its resident memory from /proc.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { onCleanup } from "./cleanup.js";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const ORPHAN_GUARD = new URL("./orphan-guard.mjs", import.meta.url).href;

export interface TesseraServerOptions {
  /** Shown in progress and error messages. */
  label: string;
  /** SQLite data directory (ignored by Tessera when `databaseUrl` is set, but always required by config). */
  dataDir: string;
  databaseUrl?: string | undefined;
  /** `TESSERA_CACHE_SIZE`; undefined keeps Tessera's default (100000). */
  cacheSize?: number | undefined;
  /** `TESSERA_CACHE_TTL_MS`; undefined keeps Tessera's default (10000). */
  cacheTtlMs?: number | undefined;
  /** `TESSERA_LOG_LEVEL` (the benchmark's default: "warn", see docs/benchmarks.md). */
  logLevel?: string;
  /** Extra `node` flags. */
  nodeArgs?: string[];
  /** Write a V8 CPU profile of the server to this directory (`<label>-<time>.cpuprofile`) when it exits. */
  cpuProfileDir?: string | undefined;
  /** Working directory of the server. */
  cwd?: string;
  /** Further `TESSERA_*` settings for this server (e.g. `TESSERA_REDIS_URL`, the webhook dispatcher's). */
  env?: Record<string, string>;
}

export interface TesseraServer {
  /** http://127.0.0.1:<port> */
  url: string;
  pid: number;
  /** Resident memory of the server process in bytes (VmRSS from /proc/<pid>/status). */
  rssBytes(): number;
  /** SIGTERM (graceful: drains, flushes usage), SIGKILL after 10 s. */
  close(): Promise<void>;
}

const LISTENING_RE = /Tessera is listening on https?:\/\/[^:\s]+:(\d+)/;

/** Reads VmRSS of a live process, in bytes. */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

export async function startTesseraServer(opts: TesseraServerOptions): Promise<TesseraServer> {
  // Start from the parent's environment minus anything that would change Tessera's behaviour.
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith("TESSERA_") && key !== "NODE_ENV" && key !== "NODE_OPTIONS") env[key] = value;
  }
  Object.assign(env, {
    TESSERA_DATA_DIR: opts.dataDir,
    TESSERA_HOST: "127.0.0.1",
    TESSERA_PORT: "0", // the OS picks a free port; we read it from the start-up line
    TESSERA_LOG_LEVEL: opts.logLevel ?? "warn",
  });
  if (opts.databaseUrl) env.TESSERA_DATABASE_URL = opts.databaseUrl;
  if (opts.cacheSize !== undefined) env.TESSERA_CACHE_SIZE = String(opts.cacheSize);
  if (opts.cacheTtlMs !== undefined) env.TESSERA_CACHE_TTL_MS = String(opts.cacheTtlMs);
  Object.assign(env, opts.env ?? {});

  const nodeArgs = [...(opts.nodeArgs ?? [])];
  if (opts.cpuProfileDir) {
    const name = opts.label.replace(/[^A-Za-z0-9]+/g, "-").replace(/^-|-$/g, "");
    nodeArgs.push("--cpu-prof", `--cpu-prof-dir=${opts.cpuProfileDir}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`);
  }
  const child: ChildProcess = spawn(
    process.execPath,
    [...nodeArgs, "--import", ORPHAN_GUARD, `${REPO_ROOT}bin/tessera.js`, "serve"],
    // stdout (Fastify's request log) goes to /dev/null; stderr is read for the start-up line and errors.
    { cwd: opts.cwd ?? REPO_ROOT, env, stdio: ["ignore", "ignore", "pipe"] },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  };
  const unregister = onCleanup(`server ${opts.label}`, stop);

  // Keep the last lines of stderr for error messages, and keep draining the pipe for the server's whole
  // life: a full pipe would block the server's writes.
  let tail = "";
  child.stderr?.setEncoding("utf8");
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${opts.label}: no start-up line within 60 s\n${tail}`)), 60_000);
    child.stderr?.on("data", (chunk: string) => {
      tail = (tail + chunk).slice(-4000);
      const match = LISTENING_RE.exec(tail);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${opts.label}: server exited during start-up (code ${code}, signal ${signal})\n${tail}`));
    });
  }).catch(async (error: unknown) => {
    await unregister();
    throw error;
  });
  child.once("exit", (code, signal) => {
    if (code !== 0 && signal !== "SIGTERM") console.error(`  ! ${opts.label} exited (code ${code}, signal ${signal})\n${tail}`);
  });

  const pid = child.pid!;
  return {
    url: `http://127.0.0.1:${port}`,
    pid,
    rssBytes: () => rssOf(pid),
    close: unregister,
  };
}
