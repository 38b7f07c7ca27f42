import { execFile, execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checksumOf, generateToken } from "../../src/core/token-format.js";
import { CLI_MAIN, cliEnv, ROOT, type Run, runCli } from "../support/cli.js";
import { createPostgresDatabase, type DialectName, dialects, type TestDatabase } from "../support/databases.js";

/**
 * `tessera scan` end to end (issue 14, point 4): real processes on real files, a real git repository and
 * real storage. Every run also checks that no secret appears in full in anything the process printed.
 */

const PASSWORD = "correct horse battery staple";

/** `tessera scan …` with `input` on standard input. */
function scanWithInput(args: string[], env: Record<string, string>, input: string): Promise<Run> {
  return new Promise((done) => {
    const child = execFile(
      process.execPath,
      ["--import", "tsx", CLI_MAIN, "scan", ...args],
      { cwd: ROOT, env: cliEnv(env), timeout: 60_000 },
      (error, stdout, stderr) => done({ code: error ? (typeof error.code === "number" ? error.code : null) : 0, stdout, stderr }),
    );
    child.stdin!.end(input);
  });
}

function masked(secret: string): string {
  const head = secret.indexOf("_", secret.indexOf("_") + 1) + 1;
  return `${secret.slice(0, head + 6)}…${secret.slice(-4)}`;
}

function expectNoSecret(run: Run, secrets: readonly string[]): void {
  for (const secret of secrets) {
    expect(run.stdout).not.toContain(secret);
    expect(run.stderr).not.toContain(secret);
  }
}

describe("tessera scan: files, folders, standard input, git history", { timeout: 120_000 }, () => {
  let dir: string;
  let env: Record<string, string>;
  const live = generateToken("acme", "live").secret;
  const test = generateToken("tsr", "test").secret;
  const old = generateToken("zz", "live").secret;
  const secrets = [live, test, old];
  // Token-shaped, checksum wrong (the real checksum function decides): never reported.
  const bodyOnly = `tsr_live_${"A1b2C3d4".repeat(4)}`;
  const wrong = bodyOnly + (checksumOf(bodyOnly) === "000000" ? "000001" : "000000");

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "tessera-scan-"));
    // No database here: a scan without storage reports findings without a status.
    env = { TESSERA_DATA_DIR: join(dir, "no-data") };
    mkdirSync(join(dir, "tree/src/deep"), { recursive: true });
    mkdirSync(join(dir, "tree/.git"), { recursive: true });
    mkdirSync(join(dir, "tree/node_modules/pkg"), { recursive: true });
    writeFileSync(
      join(dir, "tree/src/config.ts"),
      `// settings\nexport const key = "${live}";\nexport const other = "${wrong}";\n`,
    );
    writeFileSync(join(dir, "tree/src/deep/notes.md"), `a\nb\nc\ncurl -H "Authorization: Bearer ${test}"\n`);
    writeFileSync(join(dir, "tree/node_modules/pkg/index.js"), `module.exports = "${old}";\n`);
    writeFileSync(join(dir, "tree/.git/config"), `${live}\n`);
    writeFileSync(join(dir, "tree/image.bin"), Buffer.concat([Buffer.from([0x89, 0, 1, 2]), Buffer.from(live)]));
    writeFileSync(join(dir, "clean.txt"), `nothing here but ${wrong} and tsr_live_short\n`);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("finds the planted tokens in a folder, recursively, masked, skipping .git and binary files; exit 1", async () => {
    const run = await runCli(["scan", join(dir, "tree")], env);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stdout).toBe(
      [
        `${join(dir, "tree/node_modules/pkg/index.js")}:1: ${masked(old)}`,
        `${join(dir, "tree/src/config.ts")}:2: ${masked(live)}`,
        `${join(dir, "tree/src/deep/notes.md")}:4: ${masked(test)}`,
        "",
      ].join("\n"),
    );
    expect(run.stderr).toMatch(/3 tokens found in 3 files \(1 binary file skipped\)/);
    expectNoSecret(run, secrets);
  });

  it("scans single files, prints JSON, and exits 0 when nothing is found", async () => {
    const [one, clean, json] = await Promise.all([
      runCli(["scan", join(dir, "tree/src/config.ts")], env),
      runCli(["scan", join(dir, "clean.txt")], env),
      runCli(["scan", "--json", join(dir, "tree/src/deep/notes.md"), join(dir, "clean.txt")], env),
    ]);
    expect(one).toMatchObject({ code: 1, stdout: `${join(dir, "tree/src/config.ts")}:2: ${masked(live)}\n` });
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.stdout).toBe("");
    expect(clean.stderr).toMatch(/no tokens found in 1 file/);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual([
      { path: join(dir, "tree/src/deep/notes.md"), line: 4, maskedToken: masked(test), prefix: "tsr", environment: "test" },
    ]);
    for (const run of [one, clean, json]) expectNoSecret(run, secrets);
  });

  it("still prints the findings (exit 1) when the lookup cannot run, saying why", async () => {
    const run = await runCli(["scan", join(dir, "tree/src/config.ts")], { ...env, TESSERA_PORT: "abc" });
    expect(run).toMatchObject({ code: 1, stdout: `${join(dir, "tree/src/config.ts")}:2: ${masked(live)}\n` });
    expect(run.stderr).toContain("tessera: scan: cannot look the tokens up: TESSERA_PORT");
    expectNoSecret(run, secrets);
  });

  it('reads standard input for "-"', async () => {
    const found = await scanWithInput(["-"], env, `first\nsecond ${old}\n`);
    expect(found).toMatchObject({ code: 1, stdout: `-:2: ${masked(old)}\n` });
    const none = await scanWithInput(["-"], env, `random ${wrong}\n`);
    expect(none).toMatchObject({ code: 0, stdout: "" });
    expectNoSecret(found, secrets);
  });

  it("exits 2 on usage errors: an unknown option, a missing path, no path, --git with -", async () => {
    const runs = await Promise.all([
      runCli(["scan", "--bogus", join(dir, "tree")], env),
      runCli(["scan", join(dir, "does-not-exist")], env),
      runCli(["scan"], env),
      runCli(["scan", "--git", "-"], env),
    ]);
    for (const run of runs) {
      expect(run.code, run.stderr).toBe(2);
      expect(run.stdout).toBe("");
    }
    expect(runs[0]!.stderr).toContain("unknown option '--bogus'");
    expect(runs[1]!.stderr).toContain(`no such file or folder: ${join(dir, "does-not-exist")}`);
  });

  it("finds a token committed and then deleted, anywhere in the git history, with commit, file and line", async () => {
    const repo = join(dir, "repo");
    mkdirSync(repo);
    const git = (...args: string[]) =>
      execFileSync("git", ["-c", "user.name=T", "-c", "user.email=t@example.test", "-c", "commit.gpgsign=false", ...args], {
        cwd: repo,
        encoding: "utf8",
      });
    git("init", "-q", "-b", "main");
    writeFileSync(join(repo, "app.env"), "A=1\nB=2\n");
    git("add", ".");
    git("commit", "-qm", "first");
    writeFileSync(join(repo, "app.env"), `A=1\nB=2\nTOKEN=${live}\n`);
    git("commit", "-qam", "add the token");
    const leaked = git("rev-parse", "HEAD").trim();
    writeFileSync(join(repo, "app.env"), "A=1\nB=2\n");
    git("commit", "-qam", "remove the token");
    // On another branch only, and in a commit message.
    git("checkout", "-qb", "side");
    writeFileSync(join(repo, "side.txt"), `${test}\n`);
    git("add", ".");
    git("commit", "-qm", `side\n\nused ${old} here`);
    const side = git("rev-parse", "HEAD").trim();
    git("checkout", "-q", "main");

    const [tree, history, json] = await Promise.all([
      runCli(["scan", repo], env),
      runCli(["scan", "--git", repo], env),
      runCli(["scan", "--git", "--json", repo], env),
    ]);
    // The working tree is clean now (.git is not read as files) ...
    expect(tree.code, tree.stderr).toBe(0);
    // ... but the history is not.
    expect(history.code, history.stderr).toBe(1);
    expect(history.stdout.split("\n").filter(Boolean).sort()).toEqual(
      [
        `${leaked.slice(0, 12)}:app.env:3: ${masked(live)}`,
        `${side.slice(0, 12)}:side.txt:1: ${masked(test)}`,
        `${side.slice(0, 12)}:(commit message):3: ${masked(old)}`,
      ].sort(),
    );
    expect(JSON.parse(json.stdout)).toContainEqual({
      path: "app.env",
      line: 3,
      commit: leaked,
      maskedToken: masked(live),
      prefix: "acme",
      environment: "live",
    });
    for (const run of [tree, history, json]) expectNoSecret(run, secrets);
    const notRepo = await runCli(["scan", "--git", join(dir, "tree/src")], env);
    expect(notRepo.code).toBe(2);
    expect(notRepo.stderr).toContain("git log failed");
  });
});

describe("examples/pre-commit", { timeout: 120_000 }, () => {
  it("refuses a commit that stages a token, showing it masked, and lets a clean one through", async () => {
    const repo = mkdtempSync(join(tmpdir(), "tessera-hook-"));
    try {
      const git = (...args: string[]) =>
        execFileSync("git", ["-c", "user.name=T", "-c", "user.email=t@example.test", "-c", "commit.gpgsign=false", ...args], {
          cwd: repo,
          encoding: "utf8",
          env: cliEnv({ TESSERA: `${process.execPath} --import ${import.meta.resolve("tsx")} ${CLI_MAIN}` }),
          stdio: ["ignore", "pipe", "pipe"],
        });
      git("init", "-q");
      copyFileSync(join(ROOT, "examples/pre-commit"), join(repo, ".git/hooks/pre-commit"));
      chmodSync(join(repo, ".git/hooks/pre-commit"), 0o755);
      writeFileSync(join(repo, "ok.txt"), "nothing secret\n");
      git("add", ".");
      git("commit", "-qm", "clean");
      const secret = generateToken("acme", "live").secret;
      writeFileSync(join(repo, "leak.ts"), `export const key = "${secret}";\n`);
      git("add", ".");
      let refused: { status?: number; stdout?: string; stderr?: string } | undefined;
      try {
        git("commit", "-qm", "leak");
      } catch (error) {
        refused = error as typeof refused;
      }
      expect(refused?.status).toBe(1);
      // git sends a hook's stdout to its own stderr.
      expect(refused?.stderr).toContain(`-:1: ${masked(secret)}`);
      expect(refused?.stderr).toContain("a Tessera token is staged");
      expect(`${refused?.stdout}${refused?.stderr}`).not.toContain(secret);
      expect(git("log", "--format=%s").trim()).toBe("clean");
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  });
});

describe.each(await dialects())("tessera scan with storage on %s", { timeout: 180_000 }, (dialect: DialectName) => {
  let dataDir: string;
  let database: TestDatabase | undefined;
  let env: Record<string, string>;
  const cli = (...args: string[]) => runCli(args, env);

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "tessera-scan-db-"));
    database = dialect === "postgres" ? await createPostgresDatabase() : undefined;
    env = {
      TESSERA_DATA_DIR: dataDir,
      TESSERA_SETUP_PASSWORD: PASSWORD,
      ...(database ? { TESSERA_DATABASE_URL: database.url } : {}),
    };
  }, 180_000);
  afterAll(async () => {
    await database?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("says whether each token found is active, revoked or unknown to this instance (by hash), unless --no-lookup", async () => {
    const setup = await cli("setup", "--email", "olive@acme.test", "--name", "Olive", "--org", "Acme");
    expect(setup.code, setup.stderr).toBe(0);
    const org = JSON.parse(setup.stdout).organization.id as string;
    const created = await Promise.all([
      cli("token", "create", "--org", org, "--name", "kept", "--json"),
      cli("token", "create", "--org", org, "--name", "revoked", "--json"),
    ]);
    const [kept, revoked] = created.map((run) => {
      expect(run.code, run.stderr).toBe(0);
      return JSON.parse(run.stdout) as { token: { id: string }; secret: string };
    });
    const revoke = await cli("token", "revoke", revoked!.token.id, "--org", org);
    expect(revoke.code, revoke.stderr).toBe(0);
    const stranger = generateToken("tsr", "live").secret;
    const file = join(dataDir, "leak.txt");
    writeFileSync(file, `${kept!.secret}\n${revoked!.secret}\n${stranger}\n`);

    const [looked, json, offline] = await Promise.all([
      cli("scan", file),
      cli("scan", "--json", file),
      cli("scan", "--no-lookup", file),
    ]);
    expect(looked.code, looked.stderr).toBe(1);
    expect(looked.stdout).toBe(
      [
        `${file}:1: ${masked(kept!.secret)} (active)`,
        `${file}:2: ${masked(revoked!.secret)} (revoked)`,
        `${file}:3: ${masked(stranger)} (unknown)`,
        "",
      ].join("\n"),
    );
    expect((JSON.parse(json.stdout) as { status: string }[]).map((f) => f.status)).toEqual(["active", "revoked", "unknown"]);
    expect(offline.stdout).toBe(
      [`${file}:1: ${masked(kept!.secret)}`, `${file}:2: ${masked(revoked!.secret)}`, `${file}:3: ${masked(stranger)}`, ""].join(
        "\n",
      ),
    );
    for (const run of [looked, json, offline]) expectNoSecret(run, [kept!.secret, revoked!.secret, stranger]);
  });
});
