/**
 * The "limit" for HTTP verification on Node: a plain node:http server that does only the irreducible
 * work of `POST /v1/verify` — read the body, JSON.parse it, SHA-256 the token, look the hash up in a Map,
 * JSON.stringify a response of the same shape Tessera answers (SPEC §5) and write it.
 *
 * No framework, no validation beyond "is `token` a string", no caller authentication, no usage
 * accounting, no rate limiting. Tessera's endpoint does all of those (including verifying the caller's
 * own bearer token), so "Tessera ≥ 0.70× bare" is a conservative target.
 */
import { fork } from "node:child_process";
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";

/** The `token` object of a VALID answer, same fields and order as Tessera's. */
export interface VerifiedToken {
  id: string;
  orgId: string;
  name: string;
  kind: "service";
  ownerId: null;
  scopes: string[];
  environment: "live";
  expiresAt: null;
  metadata: Record<string, unknown>;
}

// Keyed by the hex SHA-256 of the token, as Tessera stores it (src/core/token-format.ts hashToken).
const tokensByHash = new Map<string, VerifiedToken>();

function sha256Hex(value: string): string {
  return createHash("sha256").update(value).digest("hex");
}

/** Replaces the set of valid tokens served by every bare server in this process. */
export function preload(tokens: readonly string[]): void {
  tokensByHash.clear();
  tokens.forEach((token, i) => {
    tokensByHash.set(sha256Hex(token), {
      id: `tok_${i.toString(36).padStart(22, "0")}`,
      orgId: "org_00000000000000000bench",
      name: `bench token ${i}`,
      kind: "service",
      ownerId: null,
      scopes: ["a:b"],
      environment: "live",
      expiresAt: null,
      metadata: {},
    });
  });
}

function send(res: ServerResponse, status: number, payload: string): void {
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(payload),
  });
  res.end(payload);
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== "POST" || req.url !== "/v1/verify") {
    send(res, 404, '{"error":"not found"}');
    return;
  }
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    let token: unknown;
    try {
      const body: unknown = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      token = typeof body === "object" && body !== null ? (body as { token?: unknown }).token : undefined;
    } catch {
      token = undefined;
    }
    if (typeof token !== "string") {
      send(res, 400, '{"error":"body must be {\\"token\\": string}"}');
      return;
    }
    const found = tokensByHash.get(sha256Hex(token));
    // Serialised per request, as a real server must (the entry could change between two requests).
    send(
      res,
      200,
      found
        ? JSON.stringify({ valid: true, code: "VALID", token: found, ratelimit: null })
        : JSON.stringify({ valid: false, code: "NOT_FOUND" }),
    );
  });
}

export interface BareServer {
  /** http://127.0.0.1:<port> */
  url: string;
  /** The child process's id, when the server runs in one. */
  pid?: number | undefined;
  close(): Promise<void>;
}

/** Starts the bare server in this process on 127.0.0.1 (`port` 0 or omitted: a free port). */
export async function startBareVerifyServer(port = 0): Promise<BareServer> {
  const server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port: actual } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${actual}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Keep-alive connections from the load generator would otherwise hold close() open.
        server.closeAllConnections();
      }),
  };
}

/** Messages exchanged with bare-http-child.ts over the IPC channel. */
export type ChildRequest = { type: "start"; port: number; tokens: string[] };
export type ChildReply = { type: "listening"; url: string } | { type: "error"; message: string };

/**
 * Runs the bare server in a child process, preloaded with `tokens`. Use this for HTTP measurements so the
 * server and the load generator (autocannon, in the parent) do not share an event loop.
 */
export async function spawnBareVerifyServer(tokens: readonly string[], port = 0): Promise<BareServer> {
  const childPath = fileURLToPath(new URL("./bare-http-child.ts", import.meta.url));
  const child = fork(childPath, [], {
    // Load TypeScript through tsx in the child too; resolved from the bench package, not the cwd.
    // BARE_PROF=<dir>: a V8 CPU profile of the child (bench/probe-cpu.ts).
    execArgv: [
      "--import",
      import.meta.resolve("tsx"),
      ...(process.env.BARE_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BARE_PROF}`] : []),
    ],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      child.once("message", (msg: ChildReply) =>
        msg.type === "listening" ? resolve(msg.url) : reject(new Error(`bare server child: ${msg.message}`)),
      );
      child.once("exit", (code) => reject(new Error(`bare server child exited early (code ${code})`)));
      child.once("error", reject);
      const request: ChildRequest = { type: "start", port, tokens: [...tokens] };
      child.send(request);
    });
    return {
      url,
      pid: child.pid,
      close: async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
        await exited;
      },
    };
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
}
