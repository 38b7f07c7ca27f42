import type { FastifyInstance } from "fastify";
import type { Config } from "./config.js";
import { buildApp } from "./http/app.js";
import { createTessera, type Tessera } from "./tessera.js";

export interface RunningServer {
  app: FastifyInstance;
  tessera: Tessera;
  url: string;
  /** Stops accepting, drains in-flight requests, flushes usage, closes storage. */
  close(): Promise<void>;
}

/** Starts Tessera: storage, migrations, the HTTP app, listening. */
export async function startServer(config: Config): Promise<RunningServer> {
  const tessera = await createTessera(config, { warnLimits: true });
  let app: FastifyInstance;
  try {
    app = await buildApp(tessera);
    await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    await tessera.close();
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  const scheme = config.tls ? "https" : "http";
  const host = config.host === "127.0.0.1" || config.host === "0.0.0.0" || config.host === "::" ? "localhost" : config.host;
  let closing: Promise<void> | undefined;
  return {
    app,
    tessera,
    url: `${scheme}://${host}:${port}`,
    close() {
      closing ??= (async () => {
        try {
          await app.close();
        } finally {
          await tessera.close();
        }
      })();
      return closing;
    },
  };
}

/** SIGTERM/SIGINT → graceful close; a second signal exits at once. */
export function closeOnSignals(server: RunningServer): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    server.app.log.info({ signal }, "shutting down: draining requests and flushing usage");
    server.close().then(
      () => process.exit(0),
      (error) => {
        server.app.log.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}
