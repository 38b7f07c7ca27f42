import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cliEnv, CLI_MAIN as MAIN, ROOT, type Run, runCli as tessera } from "../support/cli.js";
import { createPostgresDatabase, type DialectName, dialects, type TestDatabase } from "../support/databases.js";

/**
 * The `tessera` CLI end to end: real processes (`node --import tsx src/cli/main.ts …`, so no build is
 * needed) on a temporary data directory, once on embedded SQLite and once on a fresh PostgreSQL database.
 */

const SECRET_RE = /^tsr_live_[0-9A-Za-z]{38}$/;
const PASSWORD = "correct horse battery staple";
/** Each step spawns a few processes per dialect; generous, for a loaded machine. */
const STEP_TIMEOUT = 90_000;

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

async function until<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((done) => child.once("exit", (code, signal) => done({ code, signal })));
}

/** Every file under `dir` (SQLite's db, -wal and -shm included), as raw bytes. */
function filesUnder(dir: string): { path: string; bytes: Buffer }[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => {
      const path = join(entry.parentPath, entry.name);
      return { path, bytes: readFileSync(path) };
    });
}

/** One dialect's run: its storage, what the steps learnt, and everything the processes printed. */
interface Flow {
  dialect: DialectName;
  dataDir: string;
  database: TestDatabase | undefined;
  env: Record<string, string>;
  /** stderr of every command and all server output, scanned for secrets at the end. */
  output: string[];
  secrets: string[];
  orgId: string;
  rootSecret: string;
  serviceSecret: string;
  serviceId: string;
  cli(...args: string[]): Promise<Run>;
}

async function startFlow(dialect: DialectName): Promise<Flow> {
  const dataDir = mkdtempSync(join(tmpdir(), "tessera-cli-"));
  const database = dialect === "postgres" ? await createPostgresDatabase() : undefined;
  const flow: Flow = {
    dialect,
    dataDir,
    database,
    env: { TESSERA_DATA_DIR: dataDir, ...(database ? { TESSERA_DATABASE_URL: database.url } : {}) },
    output: [],
    secrets: [],
    orgId: "",
    rootSecret: "",
    serviceSecret: "",
    serviceId: "",
    async cli(...args) {
      const run = await tessera(args, flow.env);
      flow.output.push(run.stderr);
      return run;
    },
  };
  return flow;
}

/**
 * Each step runs on every dialect at once (each dialect has its own processes and storage), so the
 * PostgreSQL run costs little extra wall time; a failure names its dialect.
 */
describe("tessera CLI", { timeout: STEP_TIMEOUT }, () => {
  let flows: Flow[] = [];
  // Every dialect's step finishes before the test ends (allSettled): a failure on one must not leave the
  // other still running into the next step, which would then fail for a reason that is not its own.
  const each = async (step: (f: Flow) => Promise<void> | void) => {
    const results = await Promise.allSettled(
      flows.map(async (f) => {
        try {
          await step(f);
        } catch (error) {
          if (error instanceof Error) error.message = `[${f.dialect}] ${error.message}`;
          throw error;
        }
      }),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  };

  beforeAll(async () => {
    flows = await Promise.all((await dialects()).map(startFlow));
  });

  afterAll(async () => {
    for (const f of flows) {
      await f.database?.drop();
      rmSync(f.dataDir, { recursive: true, force: true });
    }
  });

  it("migrate applies the migrations", () =>
    each(async (f) => {
      const run = await f.cli("migrate");
      expect(run, run.stderr).toMatchObject({ code: 0, stdout: "" });
      expect(run.stderr).toMatch(/^Applied: 2026-11-23T12-00-initial(, [\w-]+)*\n$/);
    }));

  it("setup creates the first user and organisation", () =>
    each(async (f) => {
      const run = await f.cli(
        "setup",
        "--email",
        "Olive@Acme.test",
        "--name",
        "Olive Owner",
        "--org",
        "Acme",
        "--password",
        PASSWORD,
      );
      expect(run.code, run.stderr).toBe(0);
      const printed = JSON.parse(run.stdout);
      expect(printed).toMatchObject({
        user: { id: expect.stringMatching(/^usr_/), email: "olive@acme.test" },
        organization: { id: expect.stringMatching(/^org_/), name: "Acme" },
      });
      f.orgId = printed.organization.id;
    }));

  it("invite and user reset-link print their link alone on stdout (no SMTP)", () =>
    each(async (f) => {
      const [invite, reset] = await Promise.all([
        f.cli("invite", "--org", f.orgId, "--email", "Ivo@Acme.test", "--role", "admin", "--locale", "it"),
        f.cli("user", "reset-link", "--email", "olive@acme.test"),
      ]);
      expect(invite.code, invite.stderr).toBe(0);
      expect(invite.stdout).toMatch(/^http:\/\/localhost:7070\/accept-invitation#token=tsi_live_[0-9A-Za-z]{43}\n$/);
      expect(invite.stderr).toMatch(/inv_.*ivo@acme\.test \(admin\)/);
      expect(invite.stderr).not.toContain("tsi_live_");
      expect(reset.code, reset.stderr).toBe(0);
      expect(reset.stdout).toMatch(/^http:\/\/localhost:7070\/reset-password#token=tsp_live_[0-9A-Za-z]{43}\n$/);
    }));

  it("root-token create and token create print the secret alone on stdout; a refused input exits 1", () =>
    each(async (f) => {
      const [root, service, unknownScope] = await Promise.all([
        f.cli("root-token", "create", "--name", "ops"),
        f.cli("token", "create", "--org", f.orgId, "--name", "Backend verifier", "--scopes", "tokens:verify"),
        f.cli("token", "create", "--org", f.orgId, "--name", "bad", "--scopes", "nope:nothing"),
      ]);
      for (const run of [root, service]) {
        expect(run.code, run.stderr).toBe(0);
        // Exactly one line: the secret.
        expect(run.stdout.split("\n")).toHaveLength(2);
        expect(run.stdout.endsWith("\n")).toBe(true);
        const secret = run.stdout.trimEnd();
        expect(secret).toMatch(SECRET_RE);
        f.secrets.push(secret);
        expect(run.stderr).toMatch(/tok_/);
        expect(run.stderr).not.toContain(secret);
      }
      f.rootSecret = root.stdout.trimEnd();
      f.serviceSecret = service.stdout.trimEnd();

      expect(unknownScope.code).toBe(1);
      expect(unknownScope.stdout).toBe("");
      expect(unknownScope.stderr).toBe("tessera: --scopes: unknown scope(s): nope:nothing\n");
    }));

  it("token list --json shows the token without its secret; verify exits 0 when valid and 1 for garbage", () =>
    each(async (f) => {
      const [list, ok, garbage] = await Promise.all([
        f.cli("token", "list", "--org", f.orgId, "--json"),
        f.cli("verify", f.serviceSecret),
        f.cli("verify", "not-a-token"),
      ]);
      expect(list.code, list.stderr).toBe(0);
      const items = JSON.parse(list.stdout) as Record<string, unknown>[];
      expect(items).toHaveLength(1);
      expect(items[0]).toMatchObject({
        name: "Backend verifier",
        kind: "service",
        scopes: ["tokens:verify"],
        status: "active",
        maskedToken: `${f.serviceSecret.slice(0, 15)}…${f.serviceSecret.slice(-4)}`,
      });
      f.serviceId = items[0]?.id as string;
      expect(f.serviceId).toMatch(/^tok_/);
      expect(list.stdout).not.toContain(f.serviceSecret);

      expect(ok.code, ok.stderr).toBe(0);
      expect(JSON.parse(ok.stdout)).toMatchObject({
        valid: true,
        code: "VALID",
        token: { id: f.serviceId, orgId: f.orgId, kind: "service", scopes: ["tokens:verify"] },
      });
      expect(ok.stdout).not.toContain(f.serviceSecret);

      expect(garbage.code).toBe(1);
      expect(JSON.parse(garbage.stdout)).toMatchObject({ valid: false, code: "MALFORMED" });
    }));

  it("serve answers /healthz and /v1/verify, and exits 0 on SIGTERM within 10 s", () =>
    each(async (f) => {
      const port = await freePort();
      const child = spawn(process.execPath, ["--import", "tsx", MAIN, "serve"], {
        cwd: ROOT,
        env: cliEnv({ ...f.env, TESSERA_PORT: String(port), TESSERA_USAGE_FLUSH_MS: "100" }),
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout?.on("data", (chunk: Buffer) => {
        stdout += chunk.toString("utf8");
      });
      child.stderr?.on("data", (chunk: Buffer) => {
        stderr += chunk.toString("utf8");
      });
      try {
        const base = `http://127.0.0.1:${port}`;
        await until(
          async () => (stderr.includes("Tessera is listening on") ? true : child.exitCode === null ? undefined : false),
          45_000,
          "the listening line",
        );
        expect(child.exitCode, stderr).toBeNull();
        expect(stderr).toContain(`Tessera is listening on http://localhost:${port}`);
        const health = await until(async () => ((await fetch(`${base}/healthz`)).ok ? true : undefined), 10_000, "/healthz");
        expect(health).toBe(true);
        expect((await fetch(`${base}/readyz`)).status).toBe(200);

        const verify = (bearer: string) =>
          fetch(`${base}/v1/verify`, {
            method: "POST",
            headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
            body: JSON.stringify({ token: f.serviceSecret }),
          });
        const byRoot = await verify(f.rootSecret);
        expect(byRoot.status).toBe(200);
        expect(await byRoot.json()).toMatchObject({ valid: true, code: "VALID", token: { id: f.serviceId } });
        // The service token (tokens:verify) may verify tokens of its own organisation, itself included.
        expect(await (await verify(f.serviceSecret)).json()).toMatchObject({ valid: true, code: "VALID" });

        const started = Date.now();
        child.kill("SIGTERM");
        const result = await Promise.race([exited(child), new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 10_000))]);
        expect(result, stderr).toEqual({ code: 0, signal: null });
        expect(Date.now() - started).toBeLessThan(10_000);
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
        f.output.push(stdout, stderr);
      }
    }));

  it("token revoke makes verify answer REVOKED; the server's usage was flushed on exit", () =>
    each(async (f) => {
      const run = await f.cli("token", "revoke", "--org", f.orgId, f.serviceId, "--reason", "rotated out");
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toBe("");
      expect(run.stderr).toContain(f.serviceId);

      const [verify, list] = await Promise.all([
        f.cli("verify", f.serviceSecret),
        f.cli("token", "list", "--org", f.orgId, "--json"),
      ]);
      expect(verify.code).toBe(1);
      expect(JSON.parse(verify.stdout)).toMatchObject({ valid: false, code: "REVOKED" });
      // Usage: the CLI's verify, the root token's verify over HTTP, and the self-verification (once as the
      // bearer, once as the token verified) — the last three counted by the server and flushed on SIGTERM.
      expect(JSON.parse(list.stdout)).toMatchObject([
        { id: f.serviceId, status: "revoked", revokeReason: "rotated out", usageCount: 4, lastUsedAt: expect.any(String) },
      ]);
    }));

  it("eight CLI processes writing at once all succeed (SQLite transactions wait for the write lock)", () =>
    each(async (f) => {
      // A deferred transaction that reads, then writes after another process committed, got SQLITE_BUSY
      // without waiting ("database is locked"): about 1 in 13 such commands failed before BEGIN IMMEDIATE.
      const runs = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          f.cli("token", "create", "--org", f.orgId, "--name", `Burst ${i}`, "--scopes", "tokens:verify"),
        ),
      );
      for (const run of runs) {
        expect(run.code, run.stderr).toBe(0);
        f.secrets.push(run.stdout.trimEnd());
      }
      expect(new Set(runs.map((r) => r.stdout)).size).toBe(8);
    }));

  it("no secret appears in stderr, server output or the data directory", () =>
    each((f) => {
      expect(f.secrets).toHaveLength(10);
      const printed = f.output.join("\n");
      expect(printed).toContain("Tessera is listening on");
      const files = filesUnder(f.dataDir);
      if (f.dialect === "sqlite") expect(files.map((x) => x.path).some((p) => p.endsWith("tessera.db"))).toBe(true);
      for (const secret of f.secrets) {
        expect(printed.includes(secret), "a secret was printed to stderr or by the server").toBe(false);
        for (const { path, bytes } of files) expect(bytes.includes(Buffer.from(secret)), path).toBe(false);
      }
    }));
});
