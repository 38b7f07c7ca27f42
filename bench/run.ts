/**
 * `npm run bench` (= `tsx bench/run.ts`): the benchmark of issue 3, point 7.
 *
 * This file only prepares: it installs the bench package's own dependencies when bench/node_modules is
 * missing (better-auth, autocannon… never become Tessera dependencies), compiles Tessera (`npm run
 * build:server`, so the servers and the in-process scenarios run the current source), and then loads
 * main.ts, which imports those dependencies. Knobs are documented in main.ts and bench/README.md.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const benchDir = fileURLToPath(new URL(".", import.meta.url));
const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const npm = process.platform === "win32" ? "npm.cmd" : "npm";

function step(title: string, args: string[]): void {
  console.log(`> npm ${args.join(" ")}   (${title})`);
  const result = spawnSync(npm, args, { cwd: repoRoot, stdio: "inherit" });
  if (result.status !== 0) {
    console.error(`bench: \`npm ${args.join(" ")}\` failed (exit ${result.status ?? result.signal})`);
    process.exit(1);
  }
}

// Scenarios i, j and s use only node and Tessera's build, none of the bench package's dependencies.
const selected = (process.env.BENCH_ONLY ?? "").replace(/\s/g, "").toLowerCase().split(",").filter(Boolean);
const onlyI = selected.length > 0 && selected.every((id) => id === "i" || id === "j" || id === "s");
if (!onlyI && !existsSync(`${benchDir}node_modules`)) {
  step("bench dependencies are missing", ["--prefix", "bench", "install", "--no-audit", "--no-fund"]);
}
step("compile Tessera", ["run", "build:server"]);

await import("./main.js");
