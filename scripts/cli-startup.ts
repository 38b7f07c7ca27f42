// Wall time of `node bin/tessera.js …` (the compiled CLI, as a user runs it): median of 5 runs per
// command, after one unmeasured run. Needs `npm run build:server`. Usage: `npx tsx scripts/cli-startup.ts`.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "..");
// TESSERA_BIN: another build to compare with (e.g. a checkout of the previous commit).
const BIN = process.env.TESSERA_BIN ?? join(ROOT, "bin/tessera.js");
const RUNS = 5;

const dataDir = mkdtempSync(join(tmpdir(), "tessera-startup-"));
const env: NodeJS.ProcessEnv = {
  ...process.env,
  TESSERA_DATA_DIR: dataDir,
  TESSERA_SETUP_PASSWORD: "correct horse battery staple",
};
delete env.TESSERA_DATABASE_URL;
const run = (args: string[]) => execFileSync(process.execPath, [BIN, ...args], { env, encoding: "utf8" });

function median(args: string[], argv = [BIN, ...args]): number {
  spawnSync(process.execPath, argv, { env });
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const started = process.hrtime.bigint();
    spawnSync(process.execPath, argv, { env });
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(RUNS / 2)]!;
}

try {
  run(["migrate"]);
  const org = JSON.parse(run(["setup", "--email", "ops@example.test", "--name", "Ops", "--org", "Bench"])).organization.id;
  run(["token", "create", "--org", org, "--name", "bench", "--scopes", "tokens:verify"]);
  // The floor on this machine at this moment: node starting and exiting with nothing to do.
  process.stdout.write(`node -e "" (floor): ${median([], ["-e", ""]).toFixed(0)} ms\n`);
  for (const args of [["--help"], ["--version"], ["token", "list", "--org", org]]) {
    process.stdout.write(`tessera ${args.join(" ").replace(org, "<orgId>")}: ${median(args).toFixed(0)} ms\n`);
  }
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
