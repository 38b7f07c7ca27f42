/**
 * Scenario w (issue 14 point 5): webhook delivery.
 * 1. Deliveries/s: a backlog of pending deliveries (one endpoint, 1,000 targets so per-target order
 *    allows parallel sends) drained by one Tessera server to a local receiver (node:http in this process,
 *    answering 204 at once). Bar: ≥ 500 deliveries/s.
 * 2. API p99 while a 100,000-event backlog drains: `GET /v1/orgs/{orgId}/tokens?limit=20` under autocannon
 *    (10 connections), first with no backlog, then while the backlog drains. Bar: p99 ≤ +20 %.
 * SQLite, one instance, default webhook settings but `TESSERA_WEBHOOK_ALLOW_PRIVATE=true` (the receiver
 * is on 127.0.0.1).
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createTessera, loadConfig } from "../../dist/index.js";
import { runAutocannon } from "../lib/autocannon.js";
import { type BenchContext, pick, sleep, tempDir } from "../lib/context.js";
import { int, ms, newSection, pct, type Section, secs } from "../lib/report.js";
import { seedInstance } from "../lib/tessera.js";
import { startTesseraServer } from "../lib/tessera-server.js";

const THROUGHPUT_BAR = 500;
const P99_BAR = 0.2;

interface Receiver {
  url: string;
  count: number;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const r = { count: 0 } as Receiver;
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      r.count++;
      res.statusCode = 204;
      res.end();
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  r.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return r;
}

/** Queues `n` pending deliveries for one endpoint with one INSERT … SELECT (SQLite), as the outbox would. */
async function queueBacklog(db: unknown, endpointId: string, orgId: string, n: number, tag: string): Promise<void> {
  const { sql } = await import("kysely");
  const now = Date.now();
  const payload = JSON.stringify({
    type: "token.updated",
    timestamp: new Date(now).toISOString(),
    data: {
      id: "evt_x",
      orgId,
      actor: { type: "user", id: "usr_bench", name: "Bench" },
      target: { type: "token", id: "tok_x", name: "bench" },
      details: { changes: { description: { from: "a", to: "b" } } },
    },
  });
  await sql
    .raw(
      `insert into webhook_deliveries (id, endpoint_id, org_id, event_id, type, payload, order_key, seq, state, attempts,
         next_attempt_at, created_at)
       with recursive s(g) as (select 1 union all select g + 1 from s where g < ${n})
       select 'dlv_${tag}' || printf('%019d', g), '${endpointId}', '${orgId}', 'evt_${tag}' || printf('%019d', g), 'token.updated',
         '${payload.replace(/'/g, "''")}', 'token:tok_' || (g % 1000), g, 'pending', 0, ${now}, ${now}
       from s`,
    )
    .execute(db as never);
}

export async function webhooksScenario(ctx: BenchContext): Promise<Section> {
  const throughputEvents = pick(ctx, 20_000, 5_000);
  const backlogEvents = pick(ctx, 100_000, 20_000);
  const seconds = pick(ctx, 15, 5);
  const s = newSection("w", "w. Webhook delivery: deliveries/s, and API p99 while a backlog drains");
  s.method.push(
    `Deliveries/s: ${int(throughputEvents)} pending deliveries to one endpoint (1,000 targets) drained by one server ` +
      "(SQLite, default concurrency 32) to a receiver in the benchmark process answering 204; time from the first one " +
      "received to the last.",
    `Backlog: ${int(backlogEvents)} pending deliveries queued while the server runs; \`GET /v1/orgs/{orgId}/tokens?limit=20\` ` +
      `under autocannon (10 connections, ${seconds} s) before (no backlog) and while it drains.`,
  );
  const receiver = await startReceiver();
  const dataDir = tempDir(ctx, "webhooks");
  const config = loadConfig({ TESSERA_DATA_DIR: dataDir, TESSERA_LOG_LEVEL: "silent", TESSERA_WEBHOOK_ALLOW_PRIVATE: "true" });
  const setup = await createTessera(config, { dispatch: false });
  let orgId: string;
  let rootToken: string;
  let endpointId: string;
  try {
    ({ orgId, rootToken } = await seedInstance(setup));
    for (let i = 0; i < 200; i++) {
      await setup.tokens.create(
        await setup.orgs.access({ type: "system" }, orgId),
        { name: `listed ${i}`, kind: "service" } as never,
        { ip: null, userAgent: "bench", traceId: "0".repeat(32) },
      );
    }
    const made = await setup.webhooks.create(
      await setup.orgs.access({ type: "system" }, orgId),
      { url: receiver.url, eventTypes: ["token.revoked"] },
      { ip: null, userAgent: "bench", traceId: "0".repeat(32) },
    );
    endpointId = made.endpoint.id;
    await queueBacklog(setup.store.db, endpointId, orgId, throughputEvents, "a");
  } finally {
    await setup.close();
  }

  const started = performance.now();
  const server = await startTesseraServer({
    label: "webhooks",
    dataDir,
    env: { TESSERA_WEBHOOK_ALLOW_PRIVATE: "true" },
    cpuProfileDir: ctx.cpuProfileDir,
  });
  const store = await createTessera(config, { migrate: false, dispatch: false });
  try {
    // From the first delivery received (start-up and migrations are not delivery work) to the last.
    let t0 = 0;
    let first = 0;
    while (receiver.count < throughputEvents) {
      if (performance.now() - started > 600_000)
        throw new Error(`only ${receiver.count} of ${throughputEvents} delivered in 10 min`);
      if (t0 === 0 && receiver.count > 0) {
        t0 = performance.now();
        first = receiver.count;
      }
      await sleep(5);
    }
    const elapsed = (performance.now() - t0) / 1000;
    const rate = (throughputEvents - first) / elapsed;
    ctx.log(`   ${int(throughputEvents - first)} deliveries in ${secs(elapsed)}: ${int(rate)}/s`);
    s.bars.push({
      what: "deliveries/s to a local receiver, one instance",
      target: `≥ ${THROUGHPUT_BAR}/s`,
      measured: `${int(rate)}/s`,
      pass: rate >= THROUGHPUT_BAR,
    });

    const requests = [
      { method: "GET" as const, path: `/v1/orgs/${orgId}/tokens?limit=20`, headers: { authorization: `Bearer ${rootToken}` } },
    ];
    const baseline = await runAutocannon({
      url: server.url,
      connections: 10,
      durationSeconds: seconds,
      warmupSeconds: 1,
      requests,
    });
    const before = receiver.count;
    await queueBacklog(store.store.db, endpointId, orgId, backlogEvents, "b");
    await sleep(500);
    const during = await runAutocannon({ url: server.url, connections: 10, durationSeconds: seconds, requests });
    const drainedDuring = receiver.count - before;
    const growth = during.p99 / baseline.p99 - 1;
    s.tables.push({
      headers: ["run", "req/s", "p50", "p99", "non-2xx", "deliveries during the run"],
      rows: [
        ["no backlog", int(baseline.rps), ms(baseline.p50), ms(baseline.p99), int(baseline.non2xx), "0"],
        [
          `${int(backlogEvents)} backlog draining`,
          int(during.rps),
          ms(during.p50),
          ms(during.p99),
          int(during.non2xx),
          int(drainedDuring),
        ],
      ],
    });
    ctx.log(
      `   token list p99 ${ms(baseline.p99)} → ${ms(during.p99)} (${pct(growth)}) with ${int(drainedDuring)} deliveries meanwhile`,
    );
    s.bars.push({
      what: `API p99 (token list) while a ${int(backlogEvents)}-event backlog drains`,
      target: `≤ +${pct(P99_BAR)}`,
      measured: `${growth >= 0 ? "+" : ""}${pct(growth)}`,
      pass: growth <= P99_BAR,
    });
  } finally {
    await store.close();
    await server.close();
    await receiver.close();
  }
  return s;
}
