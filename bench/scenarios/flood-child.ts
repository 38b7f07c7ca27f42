/**
 * Child process of scenario i: floods a Tessera server with hostile bodies until told to stop, from its
 * own process (so its CPU is not the measuring client's). `FLOOD_URL`, `FLOOD_BEARER`, `FLOOD_CONNECTIONS`
 * and `FLOOD_RATE` (hostile requests per second over all connections; 0 = as fast as the server answers)
 * come from the environment; on the "stop" message it replies with what it sent, what came back and the
 * CPU time it used itself.
 */
import { request } from "node:http";

/** The finding of issue 16: `{"token":"x","scopes":[1,1,…×480000]}`, 938 KiB, encoded once. */
const HOSTILE = Buffer.from(JSON.stringify({ token: "x", scopes: Array(480_000).fill(1) }));

const url = new URL("/v1/verify", process.env.FLOOD_URL);
if (url.hostname !== "127.0.0.1") throw new Error(`only 127.0.0.1 is flooded, got ${url.href}`);
const bearer = process.env.FLOOD_BEARER ?? "";
const connections = Number(process.env.FLOOD_CONNECTIONS ?? 8);
const rate = Number(process.env.FLOOD_RATE ?? 0);
const cpuAtStart = process.cpuUsage();
/** When the next paced request may start (one schedule shared by every connection). */
let nextAt = performance.now();

/** Waits for this request's slot when the flood is paced. */
async function pace(): Promise<void> {
  if (rate <= 0) return;
  const at = nextAt;
  nextAt = Math.max(nextAt, performance.now()) + 1000 / rate;
  const wait = at - performance.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}
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
  for (let i = k; !stopping; i++) {
    await pace();
    if (!stopping) await hostile(i % 2 === 1);
  }
}

const running = Promise.all(Array.from({ length: connections }, (_, k) => worker(k)));
process.send?.({ type: "started" });
process.on("message", async (msg: { type: string }) => {
  if (msg.type !== "stop") return;
  stopping = true;
  await running;
  const cpu = process.cpuUsage(cpuAtStart);
  process.send?.({ type: "stopped", sent, statuses, cpuMs: (cpu.user + cpu.system) / 1000 }, () => process.disconnect());
});
process.once("disconnect", () => process.exit(0));
