import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebhookDispatcher } from "../../src/services/webhook-dispatcher.js";
import { WebhookSecretBox } from "../../src/services/webhook-secrets.js";
import { dialects } from "../support/databases.js";
import { call, createToken, seedWorld, startTestApp, type TestApp, type World } from "../support/harness.js";
import { sleep, until } from "../support/processes.js";
import { type Receiver, startReceiver } from "../support/webhook-receiver.js";

/**
 * A backlog yields to API work (issue 14 point 5): while requests arrive and the event loop is busy, the
 * dispatcher slows to its pacer's floor, then speeds up again once they stop, and every delivery still
 * arrives once per event. The load is faked (the pacer's signals), the storage, HTTP and receiver are real.
 */

const DIALECTS = await dialects();
const EVENTS = 60;
const FLOOR = 10;

describe.each(DIALECTS)("a backlog draining while the API is busy on %s", (dialect) => {
  let t: TestApp;
  let w: World;
  let receiver: Receiver;
  let dispatcher: WebhookDispatcher | undefined;

  beforeAll(async () => {
    t = await startTestApp(dialect, {
      dbTimeoutMs: 15_000,
      webhooks: { allowPrivate: true, timeoutMs: 2_000, concurrency: 16, pollMs: 50, retryScheduleMs: [250], retentionDays: 30 },
    });
    w = await seedWorld(t.app);
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await dispatcher?.close();
    await t?.close();
    await receiver?.close();
  });

  it("slows to the floor while requests wait, and drains everything once they stop", { timeout: 60_000 }, async () => {
    // The instance's own dispatcher stands aside: the backlog builds up, then a paced one drains it.
    await t.tessera.dispatcher.close();
    const made = await call(t.app, "POST", `/v1/orgs/${w.orgId}/webhooks`, w.owner.creds, { url: receiver.url });
    expect(made.status, made.raw).toBe(201);
    for (let i = 0; i < EVENTS; i++) await createToken(t.app, w.owner.creds, w.orgId, { name: `paced ${i}` });

    const load = { requests: 0, arriving: true, utilization: 0.99, skewMs: 0 };
    const config = t.tessera.config;
    dispatcher = new WebhookDispatcher(t.tessera.store, {
      box: new WebhookSecretBox(config.pepper),
      allowPrivate: true,
      timeoutMs: 2_000,
      concurrency: 16,
      pollMs: 50,
      retryScheduleMs: [250],
      pacing: {
        floorPerSecond: FLOOR,
        signals: {
          now: () => performance.now() + load.skewMs,
          requests: () => (load.arriving ? ++load.requests : load.requests),
          utilization: () => load.utilization,
        },
      },
    });
    // The first look at the load happens at once (not after a tick of unpaced sending).
    load.skewMs = 1_000;
    dispatcher.start();

    await sleep(1_500);
    const whileBusy = receiver.received.length;
    // About FLOOR a second; unpaced, all 60 would have gone in well under a second.
    expect(whileBusy).toBeGreaterThanOrEqual(3);
    expect(whileBusy).toBeLessThanOrEqual(FLOOR * 1.5 + 5);
    expect(dispatcher.pacedRate).toBe(FLOOR);

    load.arriving = false;
    await until(async () => (receiver.received.length >= EVENTS ? true : undefined), 20_000, "the whole backlog");
    expect(dispatcher.pacedRate).toBe(Number.POSITIVE_INFINITY);
    const ids = receiver.received.map((r) => r.headers["webhook-id"]);
    expect(new Set(ids).size).toBe(EVENTS);
  });
});
