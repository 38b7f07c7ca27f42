import { Webhook } from "standardwebhooks";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_QUOTAS } from "../../src/core/quotas.js";
import { isPublicAddress } from "../../src/core/webhook-target.js";
import { MailSender } from "../../src/services/mail-outbox.js";
import { createSmtpMailer, type Mailer } from "../../src/services/mailer.js";
import { WebhookDispatcher } from "../../src/services/webhook-dispatcher.js";
import { WebhookSecretBox } from "../../src/services/webhook-secrets.js";
import { dialects } from "../support/databases.js";
import { type Call, call, createToken, seedWorld, startTestApp, type TestApp, type World } from "../support/harness.js";
import { until } from "../support/processes.js";
import { startSmtp, type TestSmtp } from "../support/smtp.js";
import { type Receiver, startReceiver } from "../support/webhook-receiver.js";

/** SPEC §10: webhook endpoints, the outbox, signed delivery, the delivery log, and who may do what. */

const WEBHOOKS = {
  allowPrivate: true,
  timeoutMs: 3_000,
  concurrency: 8,
  pollMs: 50,
  retryScheduleMs: [100, 200, 300],
  retentionDays: 30,
};

function expectProblem(res: Call, status: number, code: string) {
  expect(res.status, res.raw).toBe(status);
  expect(res.body.code, res.raw).toBe(code);
}

describe.each(await dialects())("webhooks on %s", (dialect) => {
  let t: TestApp;
  let w: World;
  let receiver: Receiver;
  const hooks = () => `/v1/orgs/${w.orgId}/webhooks`;

  beforeAll(async () => {
    t = await startTestApp(dialect, { webhooks: WEBHOOKS, quotas: { ...DEFAULT_QUOTAS, webhooksPerOrganization: 4 } });
    w = await seedWorld(t.app);
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
  });
  afterEach(async () => {
    receiver.mode = "up";
    // Each test starts with no endpoint, so quotas and deliveries are its own.
    const list = await call(t.app, "GET", hooks(), w.owner.creds);
    for (const e of list.body.items) await call(t.app, "DELETE", `${hooks()}/${e.id}`, w.owner.creds);
  });

  async function create(body: Record<string, unknown> = {}) {
    const res = await call(t.app, "POST", hooks(), w.owner.creds, { url: receiver.url, ...body });
    expect(res.status, res.raw).toBe(201);
    return res.body as { webhook: { id: string; status: string; eventTypes: string[] }; secret: string };
  }

  it("creates an endpoint, shows its whsec_ secret once, audits it, and lists it without the secret", async () => {
    const made = await create({ description: "billing", eventTypes: ["token.revoked", "token.created"] });
    expect(made.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(made.webhook).toMatchObject({ status: "active", eventTypes: ["token.created", "token.revoked"], enabled: true });
    const list = await call(t.app, "GET", hooks(), w.admin.creds);
    expect(list.status).toBe(200);
    expect(list.body.items.map((e: { id: string }) => e.id)).toEqual([made.webhook.id]);
    expect(list.raw).not.toContain(made.secret);
    expect(list.raw).not.toContain(made.secret.slice(6));
    const audit = await call(t.app, "GET", `/v1/orgs/${w.orgId}/audit?action=webhook.created`, w.owner.creds);
    expect(audit.body.items[0]).toMatchObject({ action: "webhook.created", target: { id: made.webhook.id } });
    expect(audit.raw).not.toContain(made.secret.slice(6));
    // Stored encrypted: the secret's text is nowhere in the table.
    const rows = await t.tessera.store.db.selectFrom("webhook_endpoints").selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(made.secret.slice(6));
  });

  it("delivers an audited change, signed per Standard Webhooks (verified with the reference library), without secrets", async () => {
    const made = await create();
    const token = await createToken(t.app, w.owner.creds, w.orgId, { name: "signed" });
    const got = await until(
      async () => receiver.received.find((r) => r.json.type === "token.created" && r.json.data.target?.id === token.id),
      15_000,
      "token.created delivered",
    );
    const verified = new Webhook(made.secret).verify(got.body, got.headers) as { type: string; data: { orgId: string } };
    expect(verified).toMatchObject({ type: "token.created", data: { orgId: w.orgId } });
    expect(got.headers["webhook-id"]).toBe(got.json.data.id);
    expect(got.headers["webhook-id"]).toMatch(/^evt_/);
    expect(() => new Webhook(made.secret).verify(`${got.body} `, got.headers)).toThrow();
    expect(() => new Webhook(`whsec_${Buffer.alloc(32, 1).toString("base64")}`).verify(got.body, got.headers)).toThrow();
    expect(got.body).not.toContain(token.secret);
    expect(got.body).not.toContain(token.secret.slice(-20));
    const log = await until(
      async () => {
        const res = await call(t.app, "GET", `${hooks()}/${made.webhook.id}/deliveries`, w.owner.creds);
        return res.body.items.find((d: { state: string }) => d.state === "delivered");
      },
      10_000,
      "delivery logged",
    );
    expect(log).toMatchObject({ type: "token.created", attempts: 1, lastStatus: 204, lastError: null, nextAttemptAt: null });
    expect(log.lastDurationMs).toBeGreaterThanOrEqual(0);
  });

  it("sends only the subscribed types, and nothing while disabled", async () => {
    const made = await create({ eventTypes: ["token.revoked"] });
    const token = await createToken(t.app, w.owner.creds, w.orgId, { name: "filtered" });
    const off = await createToken(t.app, w.owner.creds, w.orgId, { name: "while off" });
    const disable = await call(t.app, "PATCH", `${hooks()}/${made.webhook.id}`, w.owner.creds, { enabled: false });
    expect(disable.body.enabled).toBe(false);
    await call(t.app, "POST", `/v1/orgs/${w.orgId}/tokens/${off.id}/revoke`, w.owner.creds, { reason: "off" });
    await call(t.app, "PATCH", `${hooks()}/${made.webhook.id}`, w.owner.creds, { enabled: true });
    await call(t.app, "POST", `/v1/orgs/${w.orgId}/tokens/${token.id}/revoke`, w.owner.creds, { reason: "on" });
    await until(async () => receiver.received.find((r) => r.json.data.target?.id === token.id), 15_000, "revocation delivered");
    const mine = await call(t.app, "GET", `${hooks()}/${made.webhook.id}/deliveries`, w.owner.creds);
    expect(mine.body.items.map((d: { type: string }) => d.type)).toEqual(["token.revoked"]);
    expect(receiver.received.some((r) => r.json.data.target?.id === off.id)).toBe(false);
  });

  it("test send: a signed webhook.test shows in the log; a failing endpoint is given up, marked failing, audited, then retried by hand", async () => {
    const made = await create({ eventTypes: ["member.added"] });
    const test = await call(t.app, "POST", `${hooks()}/${made.webhook.id}/test`, w.admin.creds);
    expect(test.status, test.raw).toBe(202);
    expect(test.body).toMatchObject({ type: "webhook.test", state: "pending" });
    const got = await until(
      async () => receiver.received.find((r) => r.headers["webhook-id"] === test.body.eventId),
      15_000,
      "test",
    );
    expect(new Webhook(made.secret).verify(got.body, got.headers)).toMatchObject({ type: "webhook.test" });

    receiver.mode = "error";
    const failing = await call(t.app, "POST", `${hooks()}/${made.webhook.id}/test`, w.owner.creds);
    const given = await until(
      async () => {
        const res = await call(t.app, "GET", `${hooks()}/${made.webhook.id}/deliveries?state=failed`, w.owner.creds);
        return res.body.items.find((d: { id: string }) => d.id === failing.body.id);
      },
      20_000,
      "given up",
    );
    expect(given).toMatchObject({ attempts: 4, lastStatus: 500, lastError: "HTTP 500", nextAttemptAt: null });
    const listed = await call(t.app, "GET", hooks(), w.owner.creds);
    expect(listed.body.items[0]).toMatchObject({ status: "failing" });
    const audit = await call(t.app, "GET", `/v1/orgs/${w.orgId}/audit?action=webhook.failing`, w.owner.creds);
    expect(audit.body.items[0]).toMatchObject({ actor: { type: "system" }, target: { id: made.webhook.id } });

    receiver.mode = "up";
    const retry = await call(t.app, "POST", `${hooks()}/deliveries/${failing.body.id}/retry`, w.owner.creds);
    expect(retry.status, retry.raw).toBe(202);
    await until(async () => receiver.received.find((r) => r.headers["webhook-id"] === failing.body.eventId), 15_000, "retried");
    await until(
      async () => {
        const res = await call(t.app, "GET", hooks(), w.owner.creds);
        return res.body.items[0].status === "active" ? true : undefined;
      },
      10_000,
      "active again",
    );
  });

  it("refuses other organisations (404), members and viewers (403), and tokens without the webhooks scope (403)", async () => {
    const made = await create();
    const id = made.webhook.id;
    const test = await call(t.app, "POST", `${hooks()}/${id}/test`, w.owner.creds);
    for (const creds of [w.otherOwner.creds]) {
      expectProblem(await call(t.app, "GET", hooks(), creds), 404, "not_found");
      expectProblem(await call(t.app, "POST", hooks(), creds, { url: receiver.url }), 404, "not_found");
      expectProblem(await call(t.app, "PATCH", `${hooks()}/${id}`, creds, { enabled: false }), 404, "not_found");
      expectProblem(await call(t.app, "DELETE", `${hooks()}/${id}`, creds), 404, "not_found");
      expectProblem(await call(t.app, "GET", `${hooks()}/${id}/deliveries`, creds), 404, "not_found");
      expectProblem(await call(t.app, "POST", `${hooks()}/${id}/test`, creds), 404, "not_found");
      expectProblem(await call(t.app, "POST", `${hooks()}/deliveries/${test.body.id}/retry`, creds), 404, "not_found");
    }
    // Globex's owner, in Globex's path, with Acme's ids: still 404.
    const globex = `/v1/orgs/${w.otherOrgId}/webhooks`;
    expectProblem(await call(t.app, "PATCH", `${globex}/${id}`, w.otherOwner.creds, { enabled: false }), 404, "not_found");
    expectProblem(await call(t.app, "GET", `${globex}/${id}/deliveries`, w.otherOwner.creds), 404, "not_found");
    expectProblem(await call(t.app, "POST", `${globex}/deliveries/${test.body.id}/retry`, w.otherOwner.creds), 404, "not_found");
    for (const creds of [w.member.creds, w.viewer.creds]) {
      expectProblem(await call(t.app, "GET", hooks(), creds), 403, "forbidden");
      expectProblem(await call(t.app, "POST", hooks(), creds, { url: receiver.url }), 403, "forbidden");
      expectProblem(await call(t.app, "POST", `${hooks()}/${id}/test`, creds), 403, "forbidden");
    }
    const narrow = await createToken(t.app, w.owner.creds, w.orgId, {
      name: "no webhooks",
      scopes: ["tokens:read", "members:read"],
    });
    const res = await call(t.app, "GET", hooks(), { bearer: narrow.secret });
    expect(res.status).toBe(403);
    expect(res.headers["www-authenticate"]).toContain('scope="webhooks:read"');
    const readOnly = await createToken(t.app, w.owner.creds, w.orgId, { name: "read hooks", scopes: ["webhooks:read"] });
    expect((await call(t.app, "GET", hooks(), { bearer: readOnly.secret })).status).toBe(200);
    expect((await call(t.app, "POST", hooks(), { bearer: readOnly.secret }, { url: receiver.url })).status).toBe(403);
    // Authority never grows: an endpoint receives every token and member event, so creating one also needs
    // what those events show.
    const writeOnly = await createToken(t.app, w.owner.creds, w.orgId, {
      name: "write hooks",
      kind: "service",
      scopes: ["webhooks:write"],
    });
    const refused = await call(t.app, "POST", hooks(), { bearer: writeOnly.secret }, { url: receiver.url });
    expect(refused.status, refused.raw).toBe(403);
    const full = await createToken(t.app, w.owner.creds, w.orgId, {
      name: "full hooks",
      kind: "service",
      scopes: ["webhooks:write", "tokens:read", "members:read"],
    });
    expect((await call(t.app, "POST", hooks(), { bearer: full.secret }, { url: receiver.url })).status).toBe(201);
  });

  it("validates URLs and event types, and holds the per-organisation quota under concurrent creates", async () => {
    expectProblem(await call(t.app, "POST", hooks(), w.owner.creds, { url: "ftp://example.com/x" }), 400, "validation_failed");
    expectProblem(
      await call(t.app, "POST", hooks(), w.owner.creds, { url: "https://user:pw@example.com/x" }),
      400,
      "validation_failed",
    );
    expectProblem(
      await call(t.app, "POST", hooks(), w.owner.creds, { url: receiver.url, eventTypes: ["token.nope"] }),
      400,
      "validation_failed",
    );
    const results = await Promise.all(
      Array.from({ length: 8 }, () => call(t.app, "POST", hooks(), w.owner.creds, { url: receiver.url })),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(4);
    for (const r of results.filter((x) => x.status !== 201)) expectProblem(r, 409, "quota_exceeded");
    const list = await call(t.app, "GET", hooks(), w.owner.creds);
    expect(list.body.items).toHaveLength(4);
  });
});

const DIALECTS = await dialects();

describe("the SSRF guard", () => {
  it("classifies addresses", () => {
    for (const a of [
      "127.0.0.1",
      "10.1.2.3",
      "172.16.0.1",
      "192.168.1.1",
      "169.254.169.254",
      "0.0.0.0",
      "100.64.0.1",
      "::1",
      "::",
      "fd00::1",
      "fd00:ec2::254",
      "fe80::1",
      "::ffff:127.0.0.1",
      "::ffff:7f00:1",
      "64:ff9b::a00:1",
    ]) {
      expect(isPublicAddress(a), a).toBe(false);
    }
    for (const a of ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"]) expect(isPublicAddress(a), a).toBe(true);
  });

  describe.each(DIALECTS)("without TESSERA_WEBHOOK_ALLOW_PRIVATE on %s", (dialect) => {
    let t: TestApp;
    let w: World;
    let receiver: Receiver;
    beforeAll(async () => {
      t = await startTestApp(dialect, { webhooks: { ...WEBHOOKS, allowPrivate: false } });
      w = await seedWorld(t.app);
      receiver = await startReceiver();
    });
    afterAll(async () => {
      await t?.close();
      await receiver?.close();
    });

    it("refuses loopback, private, link-local, unique-local and metadata targets at creation", async () => {
      for (const url of [
        receiver.url,
        "http://127.0.0.1:9/x",
        "http://localhost:9/x",
        "http://10.0.0.1/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:9/x",
        "http://[fd00::1]/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://2130706433/x",
      ]) {
        const res = await call(t.app, "POST", `/v1/orgs/${w.orgId}/webhooks`, w.owner.creds, { url });
        expectProblem(res, 400, "validation_failed");
        expect(res.body.errors[0].field, url).toBe("url");
      }
    });

    it("refuses them again at delivery time (an endpoint re-pointed after creation)", async () => {
      // Written behind the guard's back, as if the name had been re-pointed: the dispatcher must refuse.
      const made = await call(t.app, "POST", `/v1/orgs/${w.orgId}/webhooks`, w.owner.creds, { url: "http://93.184.215.14/x" });
      expect(made.status, made.raw).toBe(201);
      await t.tessera.store.db
        .updateTable("webhook_endpoints")
        .set({ url: receiver.url })
        .where("id", "=", made.body.webhook.id)
        .execute();
      const test = await call(t.app, "POST", `/v1/orgs/${w.orgId}/webhooks/${made.body.webhook.id}/test`, w.owner.creds);
      const logged = await until(
        async () => {
          const res = await call(t.app, "GET", `/v1/orgs/${w.orgId}/webhooks/${made.body.webhook.id}/deliveries`, w.owner.creds);
          const d = res.body.items.find((x: { id: string }) => x.id === test.body.id);
          return d && d.attempts > 0 ? d : undefined;
        },
        15_000,
        "attempt logged",
      );
      expect(logged.lastError).toContain("refused");
      expect(logged.lastStatus).toBeNull();
      expect(receiver.attempts).toBe(0);
    });
  });
});

describe.each(DIALECTS)("webhook retention on %s", (dialect) => {
  let t: TestApp;
  let w: World;
  beforeAll(async () => {
    t = await startTestApp(dialect, { webhooks: { ...WEBHOOKS, retentionDays: 30 } });
    w = await seedWorld(t.app);
  });
  afterAll(() => t?.close());

  it("prunes finished deliveries past the retention window and keeps pending ones", async () => {
    // A disabled endpoint: its queued deliveries stay pending (nothing is sent).
    const made = await call(t.app, "POST", `/v1/orgs/${w.orgId}/webhooks`, w.owner.creds, {
      url: "http://192.0.2.1/x",
      enabled: false,
    });
    const id = made.body.webhook.id as string;
    const sent = await Promise.all(
      [0, 1, 2].map(() => call(t.app, "POST", `/v1/orgs/${w.orgId}/webhooks/${id}/test`, w.owner.creds)),
    );
    const [delivered, failed, pending] = sent.map((r) => r.body.id as string);
    const old = Date.now() - 31 * 86_400_000;
    const db = t.tessera.store.db;
    await db
      .updateTable("webhook_deliveries")
      .set({ state: "delivered", created_at: old })
      .where("id", "=", delivered!)
      .execute();
    await db.updateTable("webhook_deliveries").set({ state: "failed", created_at: old }).where("id", "=", failed!).execute();
    await db.updateTable("webhook_deliveries").set({ created_at: old }).where("id", "=", pending!).execute();
    const sweep = await t.tessera.retention.sweep();
    expect(sweep.webhookDeliveries).toBe(2);
    const left = await db.selectFrom("webhook_deliveries").select("id").where("endpoint_id", "=", id).execute();
    expect(left.map((r) => r.id)).toEqual([pending]);
  });
});

describe.each(await dialects())("a failing endpoint mailed to owners and admins on %s", (dialect) => {
  let t: TestApp;
  let w: World;
  let receiver: Receiver;
  let smtp: TestSmtp;
  let mailer: Mailer;
  let dispatcher: WebhookDispatcher;
  let sender: MailSender;

  beforeAll(async () => {
    smtp = await startSmtp();
    mailer = createSmtpMailer(smtp.url, "Tessera <tessera@test>");
    receiver = await startReceiver();
    // Seeded without SMTP (invitation links come back to the test); then this instance's dispatcher is
    // replaced by one built as createTessera builds it with SMTP configured, beside a real mail loop.
    t = await startTestApp(dialect, { webhooks: WEBHOOKS });
    w = await seedWorld(t.app);
    await t.tessera.dispatcher.close();
    sender = new MailSender(t.tessera.store, mailer, { intervalMs: 3_600_000 });
    sender.start();
    dispatcher = new WebhookDispatcher(t.tessera.store, {
      box: new WebhookSecretBox(t.tessera.config.pepper),
      allowPrivate: true,
      timeoutMs: WEBHOOKS.timeoutMs,
      concurrency: WEBHOOKS.concurrency,
      pollMs: WEBHOOKS.pollMs,
      retryScheduleMs: WEBHOOKS.retryScheduleMs,
      mail: { publicUrl: "http://tessera.test", onMailQueued: () => sender.poke() },
    });
    dispatcher.start();
  });
  afterAll(async () => {
    await dispatcher?.close();
    await sender?.close();
    mailer?.close();
    await t?.close();
    await receiver?.close();
    await smtp?.close();
  });

  it("queues one mail per owner and admin, in each one's language, in the transaction that marks it failing", async () => {
    expect((await call(t.app, "PUT", "/v1/me/locale", w.admin.creds, { locale: "it" })).status).toBe(204);
    const made = await call(t.app, "POST", `/v1/orgs/${w.orgId}/webhooks`, w.owner.creds, { url: receiver.url });
    expect(made.status, made.raw).toBe(201);
    receiver.mode = "error";
    const test = await call(t.app, "POST", `/v1/orgs/${w.orgId}/webhooks/${made.body.webhook.id}/test`, w.owner.creds);
    expect(test.status, test.raw).toBe(202);
    const toOwner = await smtp.next("owner@acme.test", 20_000);
    expect(toOwner.body).toContain("A Tessera webhook endpoint is failing");
    expect(toOwner.body).toContain(receiver.url);
    const toAdmin = await smtp.next("admin@acme.test", 20_000);
    expect(toAdmin.body).toContain("Un endpoint webhook di Tessera non risponde");
    const listed = await call(t.app, "GET", `/v1/orgs/${w.orgId}/webhooks`, w.owner.creds);
    expect(listed.body.items[0]).toMatchObject({ status: "failing" });
    // Members and viewers are not told; the secret is in no mail.
    expect(smtp.mails.filter((m) => m.to.some((to) => /member|viewer/.test(to)))).toEqual([]);
    expect(smtp.mails.some((m) => m.body.includes(made.body.secret.slice(6)))).toBe(false);
    const rows = await t.tessera.store.db.selectFrom("mail_outbox").select(["to_address", "sent_at"]).execute();
    expect(rows.map((r) => r.to_address).sort()).toEqual(["admin@acme.test", "owner@acme.test"]);
  });
});
