/**
 * A minimal keep-alive JSON client on node:http for the control traffic of the benchmark (creating and
 * revoking tokens, polling). node:http rather than fetch: a poll should cost as little as possible so the
 * measured revocation delay is the server's, not the client's.
 */
import { Agent, request } from "node:http";

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

export interface JsonResponse<T> {
  status: number;
  body: T;
}

export function postJson<T>(base: string, path: string, payload: unknown, bearer?: string): Promise<JsonResponse<T>> {
  const url = new URL(path, base);
  if (url.hostname !== "127.0.0.1") throw new Error(`only 127.0.0.1 is benchmarked, got ${url.href}`);
  const body = payload === undefined ? "" : JSON.stringify(payload);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: "POST",
        agent,
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
          ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
        },
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          try {
            resolve({ status: res.statusCode ?? 0, body: (text ? JSON.parse(text) : null) as T });
          } catch {
            reject(new Error(`POST ${url.pathname}: ${res.statusCode} non-JSON answer: ${text.slice(0, 200)}`));
          }
        });
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`POST ${url.pathname}: timed out`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** Runs `count` calls of `op` with at most `concurrency` in flight (to fill caches, not to measure). */
export async function runPool(count: number, concurrency: number, op: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await op(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

export function closeHttpClient(): void {
  agent.destroy();
}
