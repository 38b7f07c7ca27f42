import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli as tessera } from "../support/cli.js";
import { createPostgresDatabase, type DialectName, dialects, type TestDatabase } from "../support/databases.js";

/**
 * `tessera root-token create|list|revoke` end to end (issue 9 findings 4 and 9): real processes on a
 * temporary SQLite data directory and on a fresh PostgreSQL database, as in cli.test.ts.
 */

const SECRET_RE = /^tsr_live_[0-9A-Za-z]{38}$/;

describe.each(await dialects())("tessera root-token on %s", { timeout: 120_000 }, (dialect: DialectName) => {
  let dataDir: string;
  let database: TestDatabase | undefined;
  let env: Record<string, string>;
  const cli = (...args: string[]) => tessera(args, env);

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "tessera-cli-root-"));
    database = dialect === "postgres" ? await createPostgresDatabase() : undefined;
    env = { TESSERA_DATA_DIR: dataDir, ...(database ? { TESSERA_DATABASE_URL: database.url } : {}) };
    const migrated = await cli("migrate");
    expect(migrated.code, migrated.stderr).toBe(0);
  });
  afterAll(async () => {
    await database?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("creates, lists (newest first, no secrets) and revokes root tokens; refuses unknown scopes with exit 1 (refused)", async () => {
    const all = await cli("root-token", "create", "--name", "ops");
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout.trimEnd()).toMatch(SECRET_RE);
    const verifier = await cli("root-token", "create", "--name", "verifier", "--scopes", "tokens:verify");
    expect(verifier.code, verifier.stderr).toBe(0);
    const secrets = [all.stdout.trimEnd(), verifier.stdout.trimEnd()];

    const [bad, legacy, empty] = await Promise.all([
      cli("root-token", "create", "--name", "bad", "--scopes", "everything,*"),
      cli("root-token", "create", "--name", "bad", "--scopes", "org:read"),
      cli("root-token", "create", "--name", "bad", "--scopes", ","),
    ]);
    for (const [run, named] of [
      [bad, '"everything"'],
      [legacy, '"org:read"'],
      [empty, "scopes"],
    ] as const) {
      expect(run.code, run.stderr).toBe(1);
      expect(run.stdout).toBe("");
      expect(run.stderr).toMatch(/^tessera: --scopes: /);
      expect(run.stderr).toContain(named);
    }

    const list = await cli("root-token", "list", "--json");
    expect(list.code, list.stderr).toBe(0);
    const items = JSON.parse(list.stdout) as { id: string; name: string; scopes: string[]; status: string; kind: string }[];
    expect(items.map((x) => [x.name, x.scopes, x.status, x.kind])).toEqual([
      ["verifier", ["tokens:verify"], "active", "root"],
      ["ops", ["instance:admin", "tokens:verify", "orgs:provision"], "active", "root"],
    ]);
    for (const secret of secrets) expect(list.stdout).not.toContain(secret);
    const plain = await cli("root-token", "list");
    expect(plain.stdout.trim().split("\n")).toHaveLength(2);
    expect(plain.stdout).toContain(items[0]!.id);

    const revoke = await cli("root-token", "revoke", items[0]!.id, "--reason", "rotated");
    expect(revoke.code, revoke.stderr).toBe(0);
    expect(revoke.stderr).toMatch(/^Revoked root token tok_/);
    const verified = await cli("verify", secrets[1]!);
    expect(verified.code).toBe(1);
    expect(JSON.parse(verified.stdout)).toMatchObject({ valid: false, code: "REVOKED" });
    const after = JSON.parse((await cli("root-token", "list", "--json")).stdout) as {
      id: string;
      status: string;
      revokeReason: string;
    }[];
    expect(after[0]).toMatchObject({ id: items[0]!.id, status: "revoked", revokeReason: "rotated" });

    const [again, missing] = await Promise.all([
      cli("root-token", "revoke", items[0]!.id),
      cli("root-token", "revoke", "tok_doesnotexist"),
    ]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/revoked/);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/No such token/);
    for (const run of [all, verifier, list, plain, revoke]) for (const s of secrets) expect(run.stderr).not.toContain(s);
  });
});
