/**
 * Child process of scenario i: floods a Tessera server with hostile bodies until told to stop, from its
 * own process (so its CPU is not the measuring client's). `FLOOD_URL`, `FLOOD_BEARER`, `FLOOD_CONNECTIONS`
 * come from the environment; on the "stop" message it replies with what it sent and what came back.
 */
import { request } from "node:http";

/** The finding of issue 16: `{"token":"x","scopes":[1,1,…×480000]}`, 938 KiB, encoded once. */
const HOSTILE = Buffer.from(JSON.stringify({ token: "x", scopes: Array(480_000).fill(1) }));

const url = new URL("/v1/verify", process.env.FLOOD_URL);
if (url.hostname !== "127.0.0.1") throw new Error(`only 127.0.0.1 is flooded, got ${url.href}`);
const bearer = process.env.FLOOD_BEARER ?? "";
const connections = Number(process.env.FLOOD_CONNECTIONS ?? 8);
const statuses: Record<string, number> = {};
let sent = 0;
let stopping = false;

/** One hostile request on a fresh connection: anonymous, or (every other one) with a valid bearer. */
function hostile(withBearer: boolean): Promise<void> {
  return new Promise((resolve) => {
    const req = request(
      url,
      {
        method: "POST",
        agent: false,
        headers: {
          "content-type": "application/json",
          "content-length": HOSTILE.length,
          ...(withBearer ? { authorization: `Bearer ${bearer}` } : {}),
        },
        timeout: 30_000,
      },
      (res) => {
        statuses[String(res.statusCode)] = (statuses[String(res.statusCode)] ?? 0) + 1;
        res.resume();
        res.on("end", resolve);
        res.on("error", () => resolve());
      },
    );
    req.on("timeout", () => req.destroy());
    req.on("error", () => {
      statuses.error = (statuses.error ?? 0) + 1;
      resolve();
    });
    sent++;
    req.end(HOSTILE);
  });
}

async function worker(k: number): Promise<void> {
  for (let i = k; !stopping; i++) await hostile(i % 2 === 1);
}

const running = Promise.all(Array.from({ length: connections }, (_, k) => worker(k)));
process.send?.({ type: "started" });
process.on("message", async (msg: { type: string }) => {
  if (msg.type !== "stop") return;
  stopping = true;
  await running;
  process.send?.({ type: "stopped", sent, statuses }, () => process.disconnect());
});
process.once("disconnect", () => process.exit(0));
