import { spawn } from "node:child_process";
import { closeSync, type Dirent, existsSync, openSync, readdirSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { maskToken, parseToken } from "../core/token-format.js";
import { findTokens, looksBinary, TokenScanner } from "../core/token-scan.js";

/**
 * `tessera scan` (SPEC §11): where Tessera tokens sit in files, folders, standard input or a git history.
 * The token itself stays in memory only: it is printed masked (as the console shows it) and, with a
 * database, looked up by its hash.
 */

/** One token found: where, and what (the plaintext is never printed; {@link ScanFinding.masked} is). */
export interface ScanFinding {
  /** The file, as reached from the PATH given (`-` for standard input). */
  path: string;
  /** 1-based line; in git history, the line in that commit's version of the file, or in its message. */
  line: number;
  /** The commit that added it (`--git` only). */
  commit?: string;
  token: string;
  masked: string;
}

export interface ScanTotals {
  files: number;
  bytes: number;
  /** Files skipped because they look binary (a NUL byte in their first 8,000 bytes). */
  binary: number;
  /** Paths that could not be read, with why. */
  errors: string[];
}

const masked = (token: string): string => {
  const parsed = parseToken(token)!;
  return maskToken(parsed.displayPrefix, parsed.last4);
};

/** Scans one open file descriptor to its end; reads straight into the scanner's window (no copies). */
function scanDescriptor(fd: number, path: string, found: ScanFinding[], totals: ScanTotals): void {
  const scanner = new TokenScanner((hit) => found.push({ path, line: hit.line, token: hit.token, masked: masked(hit.token) }));
  let first = true;
  for (;;) {
    const at = scanner.writeOffset;
    const n = readSync(fd, scanner.buffer, at, scanner.room, null);
    if (n === 0) break;
    if (first) {
      first = false;
      if (looksBinary(scanner.buffer.subarray(at, at + n))) {
        totals.binary++;
        return;
      }
    }
    scanner.commit(n);
  }
  scanner.end();
  totals.files++;
  totals.bytes += scanner.bytes;
}

function scanFile(path: string, found: ScanFinding[], totals: ScanTotals): void {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    totals.errors.push(`${path}: ${(error as Error).message}`);
    return;
  }
  try {
    scanDescriptor(fd, path, found, totals);
  } catch (error) {
    totals.errors.push(`${path}: ${(error as Error).message}`);
  } finally {
    closeSync(fd);
  }
}

/**
 * Every regular file under `dir`, in name order. `.git` folders are skipped (`--git` reads history the
 * way git stores it); symbolic links are not followed (no loops, nothing outside the tree); everything
 * else, `node_modules` included, is scanned: a token pasted into a vendored file is still a leak.
 */
function scanFolder(dir: string, found: ScanFinding[], totals: ScanTotals): void {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (error) {
    totals.errors.push(`${dir}: ${(error as Error).message}`);
    return;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== ".git") scanFolder(path, found, totals);
    } else if (entry.isFile()) {
      scanFile(path, found, totals);
    }
  }
}

async function scanStdin(found: ScanFinding[], totals: ScanTotals): Promise<void> {
  const scanner = new TokenScanner((hit) =>
    found.push({ path: "-", line: hit.line, token: hit.token, masked: masked(hit.token) }),
  );
  for await (const chunk of process.stdin) scanner.write(chunk as Buffer);
  scanner.end();
  totals.files++;
  totals.bytes += scanner.bytes;
}

/** Scans files and folders (and `-`, standard input). A missing PATH is a usage error, checked before. */
export async function scanPaths(paths: readonly string[]): Promise<{ found: ScanFinding[]; totals: ScanTotals }> {
  const found: ScanFinding[] = [];
  const totals: ScanTotals = { files: 0, bytes: 0, binary: 0, errors: [] };
  for (const path of paths) {
    if (path === "-") await scanStdin(found, totals);
    else if (statSync(path).isDirectory()) scanFolder(path, found, totals);
    else scanFile(path, found, totals);
  }
  return { found, totals };
}

/** The PATHs that do not exist (a usage error: exit 2 before anything is scanned). */
export function missingPaths(paths: readonly string[]): string[] {
  return paths.filter((p) => p !== "-" && !existsSync(p));
}

const MARKER_RE = /_(?:live|test)_/;
const COMMIT_RE = /^commit ([0-9a-f]{40,64})$/;
const HUNK_RE = /^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@/;

/**
 * Every token ever added in the history of the repository at `repo` (all refs, stashes included):
 * `git log -p --all --unified=0` read as a stream; each `+` line is a line as that commit added it, at the
 * line number the hunk header gives. Commit messages are scanned too (path `(commit message)`). Merge commits'
 * own changes (conflict resolutions) and binary files are not shown by git and so not scanned.
 */
export async function scanGitHistory(repo: string): Promise<{ found: ScanFinding[]; totals: ScanTotals }> {
  const found: ScanFinding[] = [];
  const totals: ScanTotals = { files: 0, bytes: 0, binary: 0, errors: [] };
  const git = spawn(
    "git",
    [
      "-C",
      repo,
      "-c",
      "core.quotePath=false",
      "log",
      "-p",
      "--all",
      "--unified=0",
      "--no-color",
      "--no-ext-diff",
      "--no-textconv",
      "--no-renames",
      "--format=commit %H%n%w(0,4,4)%B",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  git.stderr.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
  });
  const exited = new Promise<number>((done, fail) => {
    git.once("error", fail);
    git.once("close", (code) => done(code ?? 2));
  });
  let commit = "";
  let file = "";
  let line = 0;
  /** Where in git's output the current line is: a commit's message, a file's diff header, or a hunk. */
  let part: "message" | "header" | "hunk" = "message";
  const report = (text: string, at: number, where: string) => {
    for (const hit of findTokens(Buffer.from(text))) {
      found.push({ path: where, line: at, commit, token: hit.token, masked: masked(hit.token) });
    }
  };
  for await (const text of createInterface({ input: git.stdout, crlfDelay: Number.POSITIVE_INFINITY })) {
    totals.bytes += text.length + 1;
    const first = text.charCodeAt(0);
    if (part === "hunk" && first === 0x2b /* + */) {
      if (MARKER_RE.test(text)) report(text, line, file);
      line++;
      continue;
    }
    // A removed line, or git's note that a file ends without a newline (a backslash line).
    if (part === "hunk" && (first === 0x2d || first === 0x5c)) continue;
    if (first === 0x40 /* @ */) {
      const hunk = HUNK_RE.exec(text);
      if (hunk && part !== "message") {
        line = Number(hunk[1]);
        part = "hunk";
        continue;
      }
    }
    if (text.startsWith("diff --git ")) {
      part = "header";
      file = "";
      totals.files++;
      continue;
    }
    if (part === "header") {
      if (text.startsWith("+++ ")) {
        const target = text.slice(4);
        file = target.startsWith("b/") ? target.slice(2) : target.replace(/^"b\/(.*)"$/, "$1");
      }
      continue;
    }
    const header = COMMIT_RE.exec(text);
    if (header) {
      commit = header[1]!;
      part = "message";
      line = 1;
      continue;
    }
    if (part === "message") {
      if (MARKER_RE.test(text)) report(text, line, "(commit message)");
      line++;
    }
  }
  const code = await exited;
  if (code !== 0) {
    throw new Error(`git log failed in ${repo} (exit ${code})${stderr.trim() ? `: ${stderr.trim().split("\n")[0]}` : ""}`);
  }
  return { found, totals };
}
