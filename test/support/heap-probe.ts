/**
 * Run by test/http/exhaustion.test.ts in a child process with `--expose-gc` (so the heap can be measured
 * after a full collection, which a vitest worker cannot do): starts a Tessera on the given dialect, sends
 * hostile requests, and prints the heap in use after GC before and after them, as one JSON line.
 *   node --expose-gc --import tsx test/support/heap-probe.ts <sqlite|postgres> <count>
 */
import type { DialectName } from "./databases.js";
import { call, rootToken, seedWorld, startTestApp } from "./harness.js";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --expose-gc");

const dialect = (process.argv[2] ?? "sqlite") as DialectName;
const count = Number(process.argv[3] ?? 50);

/** The finding's body: 938 KiB of a wrong-typed array. */
export const HOSTILE_VERIFY = JSON.stringify({ token: "x", scopes: Array(480_000).fill(1) });

function heapAfterGc(): number {
  for (let i = 0; i < 3; i++) gc!();
  return process.memoryUsage().heapUsed;
}

const t = await startTestApp(dialect);
try {
  const w = await seedWorld(t.app);
  const root = await rootToken(t.tessera);
  // Within every limit, so they reach the validators: 60 KiB of wrong items and of unknown keys.
  const wrongItems = JSON.stringify({ name: "x", allowedIps: Array(15_000).fill(1) });
  const unknownKeys = JSON.stringify(Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, 1])));
  const hostile = [
    () =>
      t.app.inject({
        method: "POST",
        url: "/v1/verify",
        headers: { "content-type": "application/json" },
        payload: HOSTILE_VERIFY,
      }),
    () =>
      t.app.inject({
        method: "POST",
        url: "/v1/verify",
        headers: { "content-type": "application/json", authorization: `Bearer ${root}` },
        payload: HOSTILE_VERIFY,
      }),
    () =>
      t.app.inject({
        method: "POST",
        url: `/v1/orgs/${w.orgId}/tokens`,
        headers: {
          "content-type": "application/json",
          cookie: `tessera_session=${w.owner.creds.session}; tessera_csrf=${w.owner.creds.csrf}`,
          "x-csrf-token": w.owner.creds.csrf,
        },
        payload: wrongItems,
      }),
    () =>
      t.app.inject({
        method: "PATCH",
        url: `/v1/orgs/${w.orgId}`,
        headers: { "content-type": "application/json", authorization: `Bearer ${root}` },
        payload: unknownKeys,
      }),
  ];
  // Warm every path once (compiled code, caches, pools), then the baseline.
  for (const send of hostile) await send();
  await call(t.app, "GET", "/healthz");
  const before = heapAfterGc();
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) statuses.push((await hostile[i % hostile.length]!()).statusCode);
  const after = heapAfterGc();
  process.stdout.write(`${JSON.stringify({ before, after, statuses: [...new Set(statuses)].sort() })}\n`);
} finally {
  await t.close();
}
