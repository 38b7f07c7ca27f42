#!/usr/bin/env node
// The `tessera` command. Runs the compiled CLI (built by `npm install` / `npm run build`).
import { existsSync } from "node:fs";

const entry = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write("tessera: not built yet; run `npm install` (or `npm run build`) in the project first\n");
  process.exit(2);
}
await import(entry.href);
