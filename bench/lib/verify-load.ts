/**
 * A closed-loop load generator on node:http (no dependency): `connections` keep-alive connections, each
 * sending `POST /v1/verify` one after another for `durationSeconds`, rotating over the tokens. Used by
 * scenario i, which must run where the bench's own dependencies (autocannon) are not installed; both
 * halves of that scenario use it, so their ratio compares like with like.
 */
import { Agent, request } from "node:http";
import { latencySummary } from "./stats.js";

export interface VerifyLoadResult {
  /** 200 VALID answers per second over the measured window. */
  rps: number;
  p50: number;
  p99: number;
  /** Answers other than 200 VALID, and connection errors. */
  bad: number;
}

export async function runVerifyLoad(opts: {
  url: string;
  bearer: string;
  tokens: readonly string[];
  connections: number;
  durationSeconds: number;
}): Promise<VerifyLoadResult> {
  const url = new URL("/v1/verify", opts.url);
  if (url.hostname !== "127.0.0.1") throw new Error(`only 127.0.0.1 is benchmarked, got ${url.href}`);
  const agent = new Agent({ keepAlive: true, maxSockets: opts.connections });
  const bodies = opts.tokens.map((token) => Buffer.from(JSON.stringify({ token })));
  const latencies: number[] = [];
  let ok = 0;
  let bad = 0;
  const started = performance.now();
  const deadline = started + opts.durationSeconds * 1000;
  const one = (body: Buffer): Promise<void> =>
    new Promise((resolve) => {
      const t0 = performance.now();
      const req = request(
        url,
        {
          method: "POST",
          agent,
          headers: {
            "content-type": "application/json",
            "content-length": body.length,
            authorization: `Bearer ${opts.bearer}`,
          },
          timeout: 10_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            if (res.statusCode === 200 && Buffer.concat(chunks).includes('"code":"VALID"')) {
              ok++;
              latencies.push(performance.now() - t0);
            } else {
              bad++;
            }
            resolve();
          });
          res.on("error", () => {
            bad++;
            resolve();
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error("timed out")));
      req.on("error", () => {
        bad++;
        resolve();
      });
      req.end(body);
    });
  const worker = async (offset: number): Promise<void> => {
    let i = offset;
    while (performance.now() < deadline) await one(bodies[i++ % bodies.length]!);
  };
  await Promise.all(
    Array.from({ length: opts.connections }, (_, k) => worker(Math.floor((k * bodies.length) / opts.connections))),
  );
  agent.destroy();
  const seconds = (performance.now() - started) / 1000;
  const { p50, p99 } = latencySummary(latencies);
  return { rps: ok / seconds, p50, p99, bad };
}
