import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** One request the receiver got. */
export interface Received {
  at: number;
  headers: Record<string, string>;
  body: string;
  /** The JSON body, parsed. */
  json: {
    type: string;
    timestamp: string;
    data: { id: string; orgId: string; target: { id: string } | null; details: Record<string, unknown> };
  };
}

/**
 * A real HTTP webhook receiver on 127.0.0.1 (port 0). `mode`: `up` answers 204; `down` cuts every
 * connection without an answer (as a dead host would look after connecting); `error` answers 500;
 * `slow` waits `slowMs` before answering.
 */
export interface Receiver {
  url: string;
  received: Received[];
  /** Attempts seen, including those cut or refused. */
  attempts: number;
  mode: "up" | "down" | "error" | "slow";
  slowMs: number;
  close(): Promise<void>;
}

export async function startReceiver(path = "/hook"): Promise<Receiver> {
  const r: Omit<Receiver, "url" | "close"> = { received: [], attempts: 0, mode: "up", slowMs: 10_000 };
  const server: Server = createServer((req: IncomingMessage, res) => {
    r.attempts++;
    if (r.mode === "down") {
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const answer = () => {
        if (r.mode === "error") {
          res.statusCode = 500;
          res.end("nope");
          return;
        }
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers[k] = v;
        r.received.push({ at: Date.now(), headers, body, json: JSON.parse(body) });
        res.statusCode = 204;
        res.end();
      };
      if (r.mode === "slow") setTimeout(answer, r.slowMs);
      else answer();
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const receiver = r as Receiver;
  receiver.url = `http://127.0.0.1:${port}${path}`;
  receiver.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return receiver;
}
