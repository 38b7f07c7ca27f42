import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { systemMeta } from "../../src/services/request-meta.js";
import { SQLITE_FILE } from "../../src/store/database.js";
import { createTessera, type Tessera } from "../../src/tessera.js";
import { runCli } from "../support/cli.js";
import { createPostgresDatabase, dialects, type TestDatabase } from "../support/databases.js";
import { killAllServers, request, type Seed, type ServerProcess, seedStorage, sleep, startServer } from "../support/processes.js";

/**
 * Backup and restore of the embedded SQLite database (SPEC: hardening; docs/operations.md): a backup taken
 * by `tessera backup` while a server process keeps creating tokens restores (`tessera restore`, into an
 * empty directory only) into a Tessera that has every token acknowledged before the backup began; tokens
 * revoked after the backup are back, and `tessera audit replay-revocations` revokes them again.
 * On PostgreSQL the commands point to pg_dump, and the replay works from an audit export.
 */

const open = (dataDir: string, databaseUrl?: string) =>
  createTessera(loadConfig({ TESSERA_DATA_DIR: dataDir, TESSERA_LOG_LEVEL: "silent" }, { databaseUrl }));

describe("SQLite backup under write load, restore, replay of later revocations", () => {
  let root: string;
  let dataDir: string;
  let seed: Seed;
  let server: ServerProcess;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "tessera-backup-"));
    dataDir = join(root, "live");
    seed = await seedStorage({ dataDir });
    server = await startServer({ TESSERA_DATA_DIR: dataDir, TESSERA_LOG_LEVEL: "silent" }, undefined, 90_000);
  });

  afterAll(async () => {
    await server?.stop("SIGKILL");
    killAllServers();
    rmSync(root, { recursive: true, force: true });
  });

  it("restores every token acknowledged before the backup began, and re-revokes the later revocations", {
    timeout: 240_000,
  }, async () => {
    const tokens = `/v1/orgs/${seed.orgId}/tokens`;
    const acked: { id: string; secret: string; at: number }[] = [];
    let running = true;
    const writer = async (w: number) => {
      for (let i = 0; running; i++) {
        const res = await request(server.base, "POST", tokens, {
          bearer: seed.rootSecret,
          body: { name: `w${w}-${i}`, kind: "service" },
        });
        expect(res.status, res.raw).toBe(201);
        acked.push({ id: res.body.token.id, secret: res.body.secret, at: Date.now() });
      }
    };
    const load = [writer(0), writer(1)];
    await sleep(1_000);
    const file = join(root, "tessera-backup.db");
    const backupBegan = Date.now();
    const before = acked.filter((t) => t.at < backupBegan);
    const backup = await runCli(["backup", "--to", file], { TESSERA_DATA_DIR: dataDir });
    const writesDuring = acked.filter((t) => t.at >= backupBegan).length;
    await sleep(300);
    running = false;
    await Promise.all(load);
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stderr).toMatch(/Backed up \d+ token/);
    expect(before.length).toBeGreaterThan(0);
    // The server kept acknowledging writes while the backup ran (it is online).
    expect(writesDuring).toBeGreaterThan(0);

    // Revoked after the backup: these come back with a restore.
    const revokedLater = before.slice(0, 3);
    for (const t of revokedLater) {
      const res = await request(server.base, "POST", `${tokens}/${t.id}/revoke`, { bearer: seed.rootSecret, body: {} });
      expect(res.status, res.raw).toBe(200);
    }

    // A backup never overwrites; a restore never goes into a directory holding anything.
    const again = await runCli(["backup", "--to", file], { TESSERA_DATA_DIR: dataDir });
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already exists/);
    const intoLive = await runCli(["restore", "--from", file], { TESSERA_DATA_DIR: dataDir });
    expect(intoLive.code).toBe(2);
    expect(intoLive.stderr).toMatch(/not empty/);
    const garbage = join(root, "garbage.db");
    writeFileSync(garbage, "not a database at all, just text that is long enough to matter");
    const fresh = join(root, "restored");
    const bad = await runCli(["restore", "--from", garbage], { TESSERA_DATA_DIR: fresh });
    expect(bad.code).toBe(2);
    expect(existsSync(join(fresh, SQLITE_FILE))).toBe(false);

    const restore = await runCli(["restore", "--from", file], { TESSERA_DATA_DIR: fresh });
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stderr).toMatch(/replay-revocations --since/);

    let restored: Tessera | undefined = await open(fresh);
    try {
      for (const t of before) {
        // Every one is there, and valid: those revoked after the backup too (the restore brought them back).
        expect((await restored.verifier.verify({ token: t.secret })).code, t.id).toBe("VALID");
      }
    } finally {
      await restored.close();
      restored = undefined;
    }

    // Re-apply what the old database recorded since the backup began; twice changes nothing more.
    const since = new Date(backupBegan).toISOString();
    const replay = await runCli(["audit", "replay-revocations", "--since", since, "--from", join(dataDir, SQLITE_FILE)], {
      TESSERA_DATA_DIR: fresh,
    });
    expect(replay.code, replay.stderr).toBe(0);
    const outcomes = replay.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { tokenId: string; result: string });
    expect(
      outcomes
        .filter((o) => o.result === "revoked")
        .map((o) => o.tokenId)
        .sort(),
    ).toEqual(revokedLater.map((t) => t.id).sort());
    const twice = await runCli(["audit", "replay-revocations", "--since", since, "--from", join(dataDir, SQLITE_FILE)], {
      TESSERA_DATA_DIR: fresh,
    });
    expect(twice.code, twice.stderr).toBe(0);
    expect(twice.stdout).not.toMatch(/"result":"revoked"/);

    restored = await open(fresh);
    try {
      for (const t of before) {
        const result = await restored.verifier.verify({ token: t.secret });
        expect(result.code, t.id).toBe(revokedLater.includes(t) ? "REVOKED" : "VALID");
      }
      const events = await restored.store.db
        .selectFrom("audit_events")
        .selectAll()
        .where("action", "=", "token.revoked")
        .where("actor_type", "=", "system")
        .execute();
      expect(events.map((e) => e.target_id).sort()).toEqual(revokedLater.map((t) => t.id).sort());
      for (const e of events) expect(JSON.parse(e.details)).toMatchObject({ replayOf: expect.stringMatching(/^evt_/) });
    } finally {
      await restored.close();
    }

    const badSince = await runCli(["audit", "replay-revocations", "--since", "yesterday"], { TESSERA_DATA_DIR: fresh });
    expect(badSince.code).toBe(2);
    expect(badSince.stderr).toMatch(/--since/);
  });
});

describe.each(await dialects())("replay from an audit export on %s", (dialect) => {
  let dataDir: string;
  let database: TestDatabase | undefined;
  let tessera: Tessera;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "tessera-replay-"));
    mkdirSync(dataDir, { recursive: true });
    database = dialect === "postgres" ? await createPostgresDatabase() : undefined;
    tessera = await open(dataDir, database?.url);
  });

  afterAll(async () => {
    await tessera?.close();
    await database?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("revokes and suspends what the export recorded, resumes nothing, and audits it as the system", {
    timeout: 120_000,
  }, async () => {
    const meta = systemMeta();
    const { organization } = await tessera.auth.setup(
      { email: "o@replay.test", name: "O", password: "correct horse battery staple", organization: { name: "R" } },
      meta,
    );
    const access = await tessera.orgs.access({ type: "system" }, organization.id);
    const make = async (name: string) =>
      (await tessera.tokens.create(access, { name, kind: "service" }, meta)) as { token: { id: string }; secret: string };
    const [revoked, suspended, resumed, untouched] = await Promise.all(["r", "s", "u", "x"].map(make));
    const at = (s: number) => new Date(Date.UTC(2026, 11, 1, 10, 0, s)).toISOString();
    const event = (id: string, action: string, tokenId: string, s: number) => ({
      id,
      at: at(s),
      orgId: organization.id,
      action,
      actor: { type: "user", id: "usr_x", name: "X" },
      target: { type: "token", id: tokenId, name: "t" },
    });
    const exported = [
      event("evt_old", "token.revoked", untouched!.token.id, 0),
      event("evt_1", "token.suspended", revoked!.token.id, 10),
      event("evt_2", "token.revoked", revoked!.token.id, 11),
      event("evt_3", "token.suspended", suspended!.token.id, 12),
      event("evt_4", "token.suspended", resumed!.token.id, 13),
      event("evt_5", "token.resumed", resumed!.token.id, 14),
      event("evt_6", "token.revoked", "tok_notinthisdatabase", 15),
    ];
    const file = join(dataDir, "audit.ndjson");
    writeFileSync(file, `${exported.map((e) => JSON.stringify(e)).join("\n")}\n`);
    const env = { TESSERA_DATA_DIR: dataDir, ...(database ? { TESSERA_DATABASE_URL: database.url } : {}) };
    const run = await runCli(["audit", "replay-revocations", "--since", at(5), "--from", file], env);
    expect(run.code, run.stderr).toBe(0);
    const outcomes = Object.fromEntries(
      run.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { tokenId: string; result: string })
        .map((o) => [o.tokenId, o.result]),
    );
    expect(outcomes).toEqual({
      [revoked!.token.id]: "revoked",
      [suspended!.token.id]: "suspended",
      tok_notinthisdatabase: "missing",
    });
    const code = async (secret: string) => (await tessera.verifier.verify({ token: secret })).code;
    tessera.bus.publish({ type: "reset" });
    expect(await code(revoked!.secret)).toBe("REVOKED");
    expect(await code(suspended!.secret)).toBe("SUSPENDED");
    expect(await code(resumed!.secret)).toBe("VALID");
    expect(await code(untouched!.secret)).toBe("VALID");

    // PostgreSQL and SQLite alike: backup and restore of PostgreSQL are pg_dump's job, and they say so.
    if (database) {
      const backup = await runCli(["backup", "--to", join(dataDir, "x.db")], env);
      expect(backup.code).toBe(2);
      expect(backup.stderr).toMatch(/pg_dump/);
      const restore = await runCli(["restore", "--from", join(dataDir, "x.db")], env);
      expect(restore.code).toBe(2);
      expect(restore.stderr).toMatch(/pg_restore/);
    }
  });
});
