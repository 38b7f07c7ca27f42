import { type ChildProcess, spawn } from "node:child_process";
import http from "node:http";
import net from "node:net";
import { join, resolve } from "node:path";
import { loadConfig } from "../../src/config.js";
import { systemMeta } from "../../src/services/request-meta.js";
import { createTessera } from "../../src/tessera.js";

/**
 * Real Tessera server processes for the reliability suites and the load test: spawn, wait for the
 * listening line, signal, restart on the same storage. Plus a keep-alive JSON client on node:http and a
 * TCP proxy that can "stop" PostgreSQL for one client without touching the shared server.
 * Everything binds and connects to 127.0.0.1 only.
 */

export const ROOT = resolve(import.meta.dirname, "../..");
const MAIN = join(ROOT, "src/cli/main.ts");

/** The environment a fresh shell would give the server: none of the parent's TESSERA_* or vitest settings. */
export function serverEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith("TESSERA_") && !key.startsWith("VITEST") && key !== "NODE_OPTIONS") env[key] = value;
  }
  return { ...env, NODE_ENV: "test", ...extra };
}

export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = net.createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function until<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** Every child spawned here, so a failing test (or an interrupted load test) can still kill them all. */
const live = new Set<ChildProcess>();

export function killAllServers(): void {
  for (const child of live) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  live.clear();
}

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  base: string;
  /** Everything it printed (stdout and stderr). */
  output(): string;
  /** Sends a signal and resolves with how it exited. */
  stop(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Spawns `tessera serve` (through tsx, no build) and resolves once it prints its listening line (within
 * `startTimeoutMs`, default 45 s: several processes compiling at once on a busy machine need more).
 */
export async function startServer(env: Record<string, string>, port?: number, startTimeoutMs = 45_000): Promise<ServerProcess> {
  const p = port ?? (await freePort());
  const child = spawn(process.execPath, ["--import", "tsx", MAIN, "serve"], {
    cwd: ROOT,
    env: serverEnv({ TESSERA_LOG_LEVEL: "warn", ...env, TESSERA_HOST: "127.0.0.1", TESSERA_PORT: String(p) }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  live.add(child);
  let out = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    out += chunk.toString("utf8");
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    out += chunk.toString("utf8");
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once("exit", (code, signal) => {
      live.delete(child);
      done({ code, signal });
    }),
  );
  const handle: ServerProcess = {
    child,
    port: p,
    base: `http://127.0.0.1:${p}`,
    output: () => out,
    exited: () => exit,
    stop(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exit;
    },
  };
  try {
    await until(
      async () => {
        if (out.includes("Tessera is listening on")) return true;
        if (child.exitCode !== null || child.signalCode !== null) throw new Error("exited");
        return undefined;
      },
      startTimeoutMs,
      "the listening line",
    );
  } catch {
    await handle.stop("SIGKILL");
    throw new Error(`tessera serve did not start on port ${p}:\n${out}`);
  }
  if (child.exitCode !== null) throw new Error(`tessera serve exited at start:\n${out}`);
  return handle;
}

export interface Seed {
  orgId: string;
  rootSecret: string;
}

/** First run the way an operator does it without the console: setup, then a root token (service calls). */
export async function seedStorage(storage: { dataDir: string; databaseUrl?: string | undefined }): Promise<Seed> {
  const tessera = await createTessera(
    loadConfig({ TESSERA_DATA_DIR: storage.dataDir, TESSERA_LOG_LEVEL: "silent" }, { databaseUrl: storage.databaseUrl }),
  );
  try {
    const meta = systemMeta();
    const { organization } = await tessera.auth.setup(
      {
        email: "owner@reliability.test",
        name: "Olive Owner",
        password: "correct horse battery staple",
        organization: { name: "Acme" },
      },
      meta,
    );
    const { secret } = await tessera.tokens.createRoot("reliability", meta);
    return { orgId: organization.id, rootSecret: secret };
  } finally {
    await tessera.close();
  }
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: any;
  raw: string;
  ms: number;
}

export interface RequestOptions {
  bearer?: string;
  body?: unknown;
  agent?: http.Agent;
  timeoutMs?: number;
}

/** One JSON request over node:http (errors keep their codes: ECONNREFUSED, ECONNRESET…). */
export function request(base: string, method: string, path: string, options: RequestOptions = {}): Promise<Reply> {
  const url = new URL(path, base);
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  const started = performance.now();
  return new Promise((done, fail) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method,
        agent: options.agent ?? false,
        headers: {
          ...(options.bearer ? { authorization: `Bearer ${options.bearer}` } : {}),
          ...(payload !== undefined ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", fail);
        res.on("end", () => {
          const raw = Buffer.concat(chunks).toString("utf8");
          let body: unknown;
          try {
            body = raw ? JSON.parse(raw) : undefined;
          } catch {
            body = undefined;
          }
          done({ status: res.statusCode ?? 0, headers: res.headers, body, raw, ms: performance.now() - started });
        });
      },
    );
    req.setTimeout(options.timeoutMs ?? 15_000, () =>
      req.destroy(Object.assign(new Error("request timed out"), { code: "ETIMEDOUT" })),
    );
    req.on("error", fail);
    req.end(payload);
  });
}

/** A TCP proxy in front of PostgreSQL: `stop()` is an outage for whoever connects through it; `start()` ends it. */
export class TcpProxy {
  readonly #target: { host: string; port: number };
  readonly #sockets = new Set<net.Socket>();
  #server: net.Server | undefined;
  #frozen = false;
  port = 0;

  constructor(target: { host: string; port: number }) {
    this.#target = target;
  }

  /** Listens on 127.0.0.1 (the same port as before once it has one). */
  start(): Promise<void> {
    this.#frozen = false;
    const server = net.createServer((client) => {
      if (this.#frozen) {
        // A database that accepts connections and never answers.
        this.#sockets.add(client);
        client.on("error", () => client.destroy()).on("close", () => this.#sockets.delete(client));
        return;
      }
      const upstream = net.connect(this.#target.port, this.#target.host);
      this.#sockets.add(client);
      this.#sockets.add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.#sockets.delete(client);
        this.#sockets.delete(upstream);
      };
      client.on("error", drop).on("close", drop);
      upstream.on("error", drop).on("close", drop);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    this.#server = server;
    return new Promise((done, fail) => {
      server.once("error", fail);
      server.listen(this.port, "127.0.0.1", () => {
        const address = server.address();
        this.port = typeof address === "object" && address ? address.port : 0;
        done();
      });
    });
  }

  /**
   * A hung database (or a network path silently dropping packets): open connections stop carrying bytes
   * and new ones are accepted but never answered. `stop()` then `start()` ends it.
   */
  freeze(): void {
    this.#frozen = true;
    for (const socket of this.#sockets) {
      socket.unpipe();
      socket.pause();
    }
  }

  /** Cuts every open connection (a network blip, a PostgreSQL restart) and keeps accepting new ones. */
  cut(): void {
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
  }

  /** Refuses new connections and cuts every open one, as a stopped database would. */
  stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    return new Promise((done) => (server ? server.close(() => done()) : done()));
  }

  get connections(): number {
    return this.#sockets.size / 2;
  }
}

/** Percentile of sorted numbers (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}
