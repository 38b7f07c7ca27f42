import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../support/cli.js";
import { createPostgresDatabase, type DialectName, dialects, type TestDatabase } from "../support/databases.js";

/**
 * Issue 12's CLI: refusals by the API's own schemas (exit 1, naming the option), --version, help with the
 * environment and the exit statuses, `scopes list|set|add|remove`, `token show|update`, `--json`.
 */

const PASSWORD = "correct horse battery staple";

describe("tessera --help and --version", { timeout: 60_000 }, () => {
  it("prints the version, and help naming the environment variables and exit statuses", async () => {
    const [version, help, create] = await Promise.all([
      runCli(["--version"], {}),
      runCli(["--help"], {}),
      runCli(["token", "create", "--help"], {}),
    ]);
    expect(version).toMatchObject({ code: 0, stdout: "0.1.0\n" });
    expect(help.code).toBe(0);
    for (const text of [
      "TESSERA_DATA_DIR",
      "TESSERA_DATABASE_URL",
      "TESSERA_PORT",
      "TESSERA_LOG_LEVEL",
      "Exit status:",
      "scopes",
      "./bin/tessera.js",
    ]) {
      expect(help.stdout).toContain(text);
    }
    expect(help.stdout).toMatch(/1 +refused/);
    expect(help.stdout).toMatch(/2 +could not run/);
    expect(create.code).toBe(0);
    expect(create.stdout).toMatch(/--env <environment> +live or test/);
    // Every option has help text: no option line ends right after its flags.
    for (const line of create.stdout.split("\n").filter((l) => /^ {2}-/.test(l))) expect(line).toMatch(/\S {2,}\S/);
  });
});

describe.each(await dialects())("tessera commands on %s", { timeout: 180_000 }, (dialect: DialectName) => {
  let dataDir: string;
  let database: TestDatabase | undefined;
  let env: Record<string, string>;
  let org = "";
  const cli = (...args: string[]) => runCli(args, env);

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "tessera-cli-commands-"));
    database = dialect === "postgres" ? await createPostgresDatabase() : undefined;
    env = {
      TESSERA_DATA_DIR: dataDir,
      TESSERA_SETUP_PASSWORD: PASSWORD,
      ...(database ? { TESSERA_DATABASE_URL: database.url } : {}),
    };
    const bad = await cli("setup", "--email", "not-an-email", "--name", "Olive", "--org", "Acme");
    expect(bad.code, bad.stderr).toBe(1);
    expect(bad.stderr).toBe('tessera: --email: must be an email address (got "not-an-email")\n');
    const setup = await cli("setup", "--email", "olive@acme.test", "--name", "Olive", "--org", "Acme");
    expect(setup.code, setup.stderr).toBe(0);
    org = JSON.parse(setup.stdout).organization.id;
  }, 180_000);
  afterAll(async () => {
    await database?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("refuses what the API refuses, with exit 1 and the option's name, and creates nothing", async () => {
    const refusals: [string[], string][] = [
      [["token", "create", "--org", org, "--name", "x", "--env", "staging"], '--env: must be one of live, test (got "staging")'],
      [
        ["token", "create", "--org", org, "--name", "x", "--expires-in-days", "abc"],
        '--expires-in-days: must be a whole number (got "abc")',
      ],
      [
        ["token", "create", "--org", org, "--name", "x", "--expires-in-days", "0"],
        "--expires-in-days: must be at least 1 (got 0)",
      ],
      [
        ["token", "create", "--org", org, "--name", "x", "--expires-at", "tomorrow"],
        "--expires-at: must be a date and time in ISO 8601",
      ],
      [["token", "create", "--org", org, "--name", ""], "--name: must not be empty"],
      [["token", "create", "--org", org, "--name", "x", "--rate-limit", "lots"], "--rate-limit: must be [NAME:]LIMIT/WINDOW"],
      [["token", "create", "--org", org, "--name", "x", "--metadata", "[1]"], "--metadata: must be a JSON object"],
      [
        ["token", "list", "--org", org, "--status", "bogus"],
        '--status: must be one of active, inactive, expired, suspended, revoked (got "bogus")',
      ],
      [
        ["invite", "--org", org, "--email", "ivo@acme.test", "--role", "king"],
        '--role: must be one of owner, admin, member, viewer (got "king")',
      ],
      [["scopes", "set", "--org", org, "Messages:Send"], "must look like resource:action"],
      [["token", "update", "tok_x", "--org", org], "nothing to change"],
      [["token", "show", "tok_doesnotexist", "--org", org], "No such token"],
      [["token", "list", "--org", "org_doesnotexist"], "No such organisation"],
      [["token", "create", "--org", org], "required option '--name <name>' not specified"],
      [["token", "frobnicate"], "unknown command 'frobnicate'"],
    ];
    // A few at a time: each is a process start, and the machine runs the other dialect alongside.
    const runs = [];
    for (let i = 0; i < refusals.length; i += 3)
      runs.push(...(await Promise.all(refusals.slice(i, i + 3).map(([args]) => cli(...args)))));
    runs.forEach((run, i) => {
      const [args, message] = refusals[i]!;
      expect(run.code, `${args.join(" ")}: ${run.stderr}`).toBe(1);
      expect(run.stdout).toBe("");
      expect(run.stderr).toMatch(/^tessera: /);
      expect(run.stderr).toContain(message);
      expect(run.stderr).not.toMatch(/\n\s+at /);
    });
    const list = await cli("token", "list", "--org", org, "--json");
    expect(JSON.parse(list.stdout)).toEqual([]);
  });

  it("scopes set|add|remove edit the product scopes; list --json shows them", async () => {
    const set = await cli("scopes", "set", "--org", org, "messages:send=Send messages", "messages:read");
    expect(set.code, set.stderr).toBe(0);
    const add = await cli("scopes", "add", "--org", org, "messages:delete=Delete messages", "messages:read=Read messages");
    expect(add.code, add.stderr).toBe(0);
    const remove = await cli("scopes", "remove", "--org", org, "messages:delete");
    expect(remove.code, remove.stderr).toBe(0);
    const list = await cli("scopes", "list", "--org", org, "--json");
    expect(list.code, list.stderr).toBe(0);
    const product = (JSON.parse(list.stdout) as { name: string; description: string; kind: string }[]).filter(
      (s) => s.kind === "product",
    );
    expect(product).toEqual([
      { name: "messages:read", description: "Read messages", kind: "product" },
      { name: "messages:send", description: "Send messages", kind: "product" },
    ]);
    const plain = await cli("scopes", "list", "--org", org);
    expect(plain.stdout).toContain("messages:send\tproduct\tSend messages\n");
    expect(plain.stdout).toContain("tokens:verify\tmanagement\t");
  });

  it("token create --json, show and update (validated by UpdateTokenBody)", async () => {
    const created = await cli(
      "token",
      "create",
      "--org",
      org,
      "--name",
      "Sender",
      "--scopes",
      "messages:send",
      "--env",
      "test",
      "--json",
    );
    expect(created.code, created.stderr).toBe(0);
    const { token, secret } = JSON.parse(created.stdout) as { token: { id: string; environment: string }; secret: string };
    expect(secret).toMatch(/^tsr_test_/);
    expect(token.environment).toBe("test");

    const updated = await cli(
      "token",
      "update",
      token.id,
      "--org",
      org,
      "--name",
      "Sender 2",
      "--scopes",
      "messages:send,messages:read",
      "--rate-limit",
      "100/60",
      "--rate-limit",
      "daily:10000/1d",
      "--credits",
      "500",
      "--refill",
      "500/month",
      "--json",
    );
    expect(updated.code, updated.stderr).toBe(0);
    expect(JSON.parse(updated.stdout)).toMatchObject({
      id: token.id,
      name: "Sender 2",
      scopes: ["messages:send", "messages:read"],
      rateLimit: { limit: 100, windowSeconds: 60 },
      rateLimits: [
        { name: "default", limit: 100, windowSeconds: 60 },
        { name: "daily", limit: 10_000, windowSeconds: 86_400 },
      ],
      credits: { remaining: 500, refill: { amount: 500, interval: "month" } },
    });

    const [badScope, badLimit, shown, plain] = await Promise.all([
      cli("token", "update", token.id, "--org", org, "--scopes", "nope:nothing"),
      cli("token", "update", token.id, "--org", org, "--rate-limit", "0/60"),
      cli("token", "show", token.id, "--org", org, "--json"),
      cli("token", "show", token.id, "--org", org),
    ]);
    expect(badScope.code).toBe(1);
    expect(badScope.stderr).toMatch(/^tessera: --scopes: /);
    expect(badLimit.code).toBe(1);
    expect(badLimit.stderr).toContain("--rate-limit: must be at least 1 (got 0)");
    expect(shown.code, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ id: token.id, name: "Sender 2", status: "active" });
    expect(plain.stdout).toContain(`id: ${token.id}\n`);
    for (const run of [created, updated, shown, plain]) expect(run.stderr).not.toContain(secret);
    expect(shown.stdout).not.toContain(secret);
  });
});
