import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createStore } from "../../src/store/database.js";
import { createPostgresDatabase, dialects, type TestDatabase } from "../support/databases.js";
import {
  killAllServers,
  type Reply,
  request,
  type Seed,
  type ServerProcess,
  seedStorage,
  sleep,
  startServer,
} from "../support/processes.js";

/**
 * Crashes on a real server process (SPEC: hardening, "Crash and outage"):
 * - `kill -9` in the middle of a loop of creates and revocations: after a restart on the same storage,
 *   every create and revocation the client saw acknowledged (a 2xx received) is there, and no token row
 *   is half-written (one current secret, one `token.created` event; a revoked row has its event too);
 * - SIGTERM while requests are in flight: they complete (no reset), and the usage counted before the
 *   signal is all stored after the restart.
 */

const WORKERS = 4;
/** The kill comes after this many acknowledged creates (or this long), whichever is first. */
const KILL_AFTER_CREATES = 120;
const KILL_AFTER_MS = 4_000;

interface Created {
  id: string;
  secret: string;
}

describe.each(await dialects())("crash and graceful shutdown on %s", (dialect) => {
  let dataDir: string;
  let database: TestDatabase | undefined;
  let seed: Seed;
  let env: Record<string, string>;
  const servers: ServerProcess[] = [];

  const start = async (extra: Record<string, string> = {}) => {
    const server = await startServer({ ...env, ...extra });
    servers.push(server);
    return server;
  };

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "tessera-crash-"));
    database = dialect === "postgres" ? await createPostgresDatabase() : undefined;
    env = { TESSERA_DATA_DIR: dataDir, ...(database ? { TESSERA_DATABASE_URL: database.url } : {}) };
    seed = await seedStorage({ dataDir, databaseUrl: database?.url });
  });

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop("SIGKILL")));
    killAllServers();
    await database?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const tokensPath = () => `/v1/orgs/${seed.orgId}/tokens`;

  it("kill -9 during creates and revocations loses no acknowledged write and leaves no half-written row", {
    timeout: 60_000,
  }, async () => {
    const server = await start();
    const agent = new http.Agent({ keepAlive: true, maxSockets: WORKERS });
    const created: Created[] = [];
    const revoked = new Set<string>();
    const revoking = new Set<string>();
    let cutOff = 0;
    let stopped = false;
    const unexpected: string[] = [];

    const worker = async (w: number) => {
      for (let i = 0; !stopped; i++) {
        try {
          const candidate = i % 3 === 2 ? created.find((c) => !revoked.has(c.id) && !revoking.has(c.id)) : undefined;
          if (candidate) {
            revoking.add(candidate.id);
            const res = await request(server.base, "POST", `${tokensPath()}/${candidate.id}/revoke`, {
              bearer: seed.rootSecret,
              body: { reason: `crash test ${w}` },
              agent,
            });
            if (res.status === 200) revoked.add(candidate.id);
            else unexpected.push(`revoke → ${res.status} ${res.raw}`);
          } else {
            const res = await request(server.base, "POST", tokensPath(), {
              bearer: seed.rootSecret,
              body: { name: `crash ${w}-${i}`, kind: "service", scopes: ["tokens:verify"] },
              agent,
            });
            if (res.status === 201) created.push({ id: res.body.token.id, secret: res.body.secret });
            else unexpected.push(`create → ${res.status} ${res.raw}`);
          }
        } catch (error) {
          // Only the kill may cut a request off.
          if (!stopped) unexpected.push(`request failed before the kill: ${String(error)}`);
          cutOff++;
          return;
        }
      }
    };

    const loop = Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
    const began = Date.now();
    while (created.length < KILL_AFTER_CREATES && Date.now() - began < KILL_AFTER_MS && unexpected.length === 0) await sleep(5);
    stopped = true;
    const killed = await server.stop("SIGKILL");
    await loop;
    agent.destroy();

    expect(unexpected).toEqual([]);
    expect(killed.signal).toBe("SIGKILL");
    expect(created.length).toBeGreaterThan(10);
    expect(revoked.size).toBeGreaterThan(2);
    // Requests were in flight when it died (at least one worker had a request out).
    expect(cutOff).toBeGreaterThan(0);

    const again = await start();
    // Every acknowledged create exists, and is revoked exactly when its revocation was acknowledged.
    const view = await Promise.all(
      created.map((c) => request(again.base, "GET", `${tokensPath()}/${c.id}`, { bearer: seed.rootSecret })),
    );
    for (const [i, c] of created.entries()) {
      expect(view[i]!.status, `${c.id}: ${view[i]!.raw}`).toBe(200);
      if (revoked.has(c.id)) expect(view[i]!.body.status, c.id).toBe("revoked");
    }
    const verified = await Promise.all(
      created.map((c) => request(again.base, "POST", "/v1/verify", { bearer: seed.rootSecret, body: { token: c.secret } })),
    );
    for (const [i, c] of created.entries()) {
      expect(verified[i]!.status).toBe(200);
      // An unacknowledged revocation may or may not have landed; an acknowledged one must have.
      if (revoked.has(c.id)) expect(verified[i]!.body.code, c.id).toBe("REVOKED");
      else expect(["VALID", "REVOKED"], c.id).toContain(verified[i]!.body.code);
    }

    // The rows themselves, read directly: no token without its current secret and its creation event.
    const store = createStore({ databaseUrl: database?.url, dataDir });
    try {
      const rows = await store.db.selectFrom("tokens").select(["id", "revoked_at"]).where("org_id", "=", seed.orgId).execute();
      expect(rows.length).toBeGreaterThanOrEqual(created.length);
      const secrets = await store.db
        .selectFrom("token_secrets")
        .select(["token_id", sql<number>`count(*)`.as("n")])
        .where("expires_at", "is", null)
        .groupBy("token_id")
        .execute();
      const secretCount = new Map(secrets.map((s) => [s.token_id, Number(s.n)]));
      const events = await store.db
        .selectFrom("audit_events")
        .select(["target_id", "action", sql<number>`count(*)`.as("n")])
        .where("action", "in", ["token.created", "token.revoked"])
        .groupBy(["target_id", "action"])
        .execute();
      const eventCount = new Map(events.map((e) => [`${e.action} ${e.target_id}`, Number(e.n)]));
      for (const row of rows) {
        expect(secretCount.get(row.id), `current secrets of ${row.id}`).toBe(1);
        expect(eventCount.get(`token.created ${row.id}`), `token.created of ${row.id}`).toBe(1);
        expect(eventCount.get(`token.revoked ${row.id}`), `token.revoked of ${row.id}`).toBe(
          row.revoked_at === null ? undefined : 1,
        );
      }
      // And no secret or usage row points at a token that is not there.
      const orphans = await store.db
        .selectFrom("token_secrets")
        .leftJoin("tokens", "tokens.id", "token_secrets.token_id")
        .select("token_secrets.token_id")
        .where("tokens.id", "is", null)
        .execute();
      expect(orphans).toEqual([]);
      const acked = new Set(created.map((c) => c.id));
      const revokedRows = rows.filter((r) => r.revoked_at !== null && acked.has(r.id)).length;
      expect(revokedRows).toBeGreaterThanOrEqual(revoked.size);
    } finally {
      await store.close();
    }
    await again.stop("SIGTERM");
  });

  it("SIGTERM drains in-flight requests and flushes the usage counted before it", { timeout: 60_000 }, async () => {
    // The longest flush interval: whatever is counted in the last 2 s is written by the shutdown alone.
    const server = await start({ TESSERA_USAGE_FLUSH_MS: "2000" });
    const made = await request(server.base, "POST", tokensPath(), {
      bearer: seed.rootSecret,
      body: { name: "drained", kind: "service", scopes: ["tokens:verify"] },
    });
    expect(made.status).toBe(201);
    const token = made.body as { token: { id: string }; secret: string };

    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    let valid = 0;
    for (let i = 0; i < 50; i++) {
      const res = await request(server.base, "POST", "/v1/verify", {
        bearer: seed.rootSecret,
        body: { token: token.secret },
        agent,
      });
      if (res.body?.code === "VALID") valid++;
    }
    agent.destroy();
    expect(valid).toBe(50);

    // Requests the server has accepted (headers read, half the body sent) when the signal arrives.
    const inFlight = [
      ...Array.from({ length: 6 }, () => ({ path: "/v1/verify", body: { token: token.secret }, expect: 200 })),
      ...Array.from({ length: 2 }, (_, i) => ({
        path: tokensPath(),
        body: { name: `in flight ${i}`, kind: "service", scopes: ["tokens:verify"] },
        expect: 201,
      })),
    ].map((r) => {
      const payload = JSON.stringify(r.body);
      const half = Math.floor(payload.length / 2);
      let req!: http.ClientRequest;
      const reply = new Promise<Reply>((done, fail) => {
        const started = performance.now();
        req = http.request(
          {
            host: "127.0.0.1",
            port: server.port,
            method: "POST",
            path: r.path,
            agent: false,
            headers: {
              authorization: `Bearer ${seed.rootSecret}`,
              "content-type": "application/json",
              "content-length": Buffer.byteLength(payload),
            },
          },
          (res) => {
            let raw = "";
            res.on("data", (c: Buffer) => {
              raw += c.toString("utf8");
            });
            res.on("end", () =>
              done({
                status: res.statusCode ?? 0,
                headers: res.headers,
                body: JSON.parse(raw),
                raw,
                ms: performance.now() - started,
              }),
            );
            res.on("error", fail);
          },
        );
        req.on("error", fail);
        req.write(payload.slice(0, half));
      });
      return { ...r, reply, finish: () => req.end(payload.slice(half)) };
    });
    await sleep(300);
    const signalled = Date.now();
    server.child.kill("SIGTERM");
    await sleep(300);
    // Still draining: it has not exited, and it accepts no new connection.
    expect(server.child.exitCode).toBeNull();
    await expect(request(server.base, "GET", "/healthz")).rejects.toMatchObject({ code: "ECONNREFUSED" });
    for (const r of inFlight) r.finish();
    const replies = await Promise.all(inFlight.map((r) => r.reply));
    for (const [i, r] of inFlight.entries()) expect(replies[i]!.status, replies[i]!.raw).toBe(r.expect);
    for (const [i, r] of inFlight.entries()) if (r.path === "/v1/verify") expect(replies[i]!.body.code).toBe("VALID");
    const exit = await server.exited();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalled).toBeLessThan(10_000);

    const again = await start();
    const after = await request(again.base, "GET", `${tokensPath()}/${token.token.id}`, { bearer: seed.rootSecret });
    expect(after.status).toBe(200);
    // 50 before the signal + the 6 verifications in flight during it: none lost.
    expect(after.body.usageCount).toBe(56);
    for (const [i, r] of inFlight.entries()) {
      if (r.expect !== 201) continue;
      const created = await request(again.base, "GET", `${tokensPath()}/${replies[i]!.body.token.id}`, {
        bearer: seed.rootSecret,
      });
      expect(created.status).toBe(200);
    }
    await again.stop("SIGTERM");
  });
});
