import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import net from "node:net";
import { freePort, until } from "./processes.js";

/**
 * A private `redis-server` for the limits suites (never the machine's shared one): on a free port of
 * 127.0.0.1, without persistence, so that a restart loses everything as a crashed cache would.
 */

export function redisServerAvailable(): boolean {
  try {
    execFileSync("redis-server", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export interface RedisServer {
  port: number;
  url: string;
  /** Starts it again on the same port (empty). */
  restart(): Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export async function startRedisServer(): Promise<RedisServer> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const launch = async () => {
    const proc = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    child = proc;
    let out = "";
    proc.stdout?.on("data", (c: Buffer) => {
      out += c.toString("utf8");
    });
    await until(
      async () => {
        if (proc.exitCode !== null) throw new Error(`redis-server exited: ${out}`);
        return out.includes("Ready to accept connections") ? true : undefined;
      },
      15_000,
      "redis-server",
    );
  };
  const stop = (signal: NodeJS.Signals = "SIGKILL") =>
    new Promise<void>((done) => {
      const proc = child;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return done();
      proc.once("exit", () => done());
      proc.kill(signal);
    });
  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop,
    async restart() {
      await stop();
      await launch();
    },
  };
}

/** A TCP proxy that adds `delayMs` to every chunk in both directions (a slow network path to Redis). */
export class SlowProxy {
  readonly #target: number;
  readonly #sockets = new Set<net.Socket>();
  #server: net.Server | undefined;
  delayMs = 0;
  port = 0;

  constructor(targetPort: number) {
    this.#target = targetPort;
  }

  start(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.#target, "127.0.0.1");
      this.#sockets.add(client).add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.#sockets.delete(client);
        this.#sockets.delete(upstream);
      };
      const relay = (from: net.Socket, to: net.Socket) =>
        from.on("data", (chunk: Buffer) => {
          if (this.delayMs === 0) to.write(chunk);
          else setTimeout(() => to.writable && to.write(chunk), this.delayMs);
        });
      relay(client, upstream);
      relay(upstream, client);
      client.on("error", drop).on("close", drop);
      upstream.on("error", drop).on("close", drop);
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

  stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    return new Promise((done) => (server ? server.close(() => done()) : done()));
  }
}
