import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cliEnv, ROOT } from "../support/cli.js";

/**
 * `npm start` and wrappers (issue 12): SIGTERM or SIGINT sent to the npm process stops the server too
 * (it used to keep running, re-parented to init), and a server whose parent dies without forwarding a
 * signal stops by itself. Runs the compiled CLI (`npm run build:server`), as `npm start` does.
 */

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => done(typeof address === "object" && address ? address.port : 0));
    });
  });
}

async function until(probe: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const answers = (port: number) =>
  fetch(`http://127.0.0.1:${port}/healthz`).then(
    (r) => r.ok,
    () => false,
  );

/** The pid of the process listening on `port`'s server: the server logs it in its pino lines. */
function serverPid(output: string): number | undefined {
  const match = /"pid":(\d+)/.exec(output);
  return match ? Number(match[1]) : undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function start(
  command: string,
  args: string[],
): Promise<{ child: ChildProcess; port: number; pid: () => number | undefined }> {
  if (!existsSync(join(ROOT, "dist/cli/main.js"))) throw new Error("run `npm run build:server` first");
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), "tessera-lifecycle-"));
  dirs.push(dataDir);
  const child = spawn(command, args, {
    cwd: ROOT,
    env: cliEnv({ TESSERA_DATA_DIR: dataDir, TESSERA_PORT: String(port), TESSERA_LOG_LEVEL: "info" }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (c: Buffer) => {
    output += c.toString();
  });
  child.stderr?.on("data", (c: Buffer) => {
    output += c.toString();
  });
  await until(() => answers(port), 60_000, "the server to answer /healthz");
  return { child, port, pid: () => serverPid(output) };
}

describe("stopping the server", { timeout: 120_000 }, () => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`${signal} to \`npm start\` stops the server cleanly`, async () => {
      const { child, port, pid } = await start("npm", ["start"]);
      const server = pid();
      expect(server).toBeDefined();
      try {
        child.kill(signal);
        await until(() => !alive(server!), 15_000, "the server process to exit");
        expect(await answers(port)).toBe(false);
      } finally {
        if (server && alive(server)) process.kill(server, "SIGKILL");
      }
    });
  }

  it("a server whose parent dies without forwarding a signal stops by itself", async () => {
    // `sh -c "…; true"` cannot exec the server: the shell stays its parent, and SIGKILL leaves no chance to forward.
    const { child, port, pid } = await start("sh", ["-c", `"${process.execPath}" bin/tessera.js serve; true`]);
    const server = pid();
    expect(server).toBeDefined();
    try {
      child.kill("SIGKILL");
      await until(() => !alive(server!), 15_000, "the orphaned server to exit");
      expect(await answers(port)).toBe(false);
    } finally {
      if (server && alive(server)) process.kill(server, "SIGKILL");
    }
  });
});
