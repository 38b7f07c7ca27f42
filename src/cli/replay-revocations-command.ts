import { existsSync, readFileSync } from "node:fs";
import type { Command } from "commander";
import { loadConfig } from "../config.js";
import { TesseraError } from "../core/errors.js";
import { systemMeta } from "../services/request-meta.js";
import type { RecordedTokenChange } from "../store/backup.js";
import { auditGroup } from "./support.js";

const invalid = (field: string, message: string) =>
  new TesseraError("validation_failed", `${field}: ${message}`, { fields: [{ field, message }] });

function parseSince(raw: string): number {
  const at = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(raw) ? Date.parse(raw) : Number.NaN;
  if (Number.isNaN(at)) throw invalid("--since", `"${raw}" is not an ISO 8601 time (e.g. 2026-12-01T09:30:00Z)`);
  return at;
}

/**
 * Audit events from an export: NDJSON (one event a line), a JSON array, or a page of the audit API
 * (`{ "items": [...] }`). Each event needs `action`, `at` (ISO time or epoch ms) and the token's id in
 * `target.id` (the API's shape) or `targetId`.
 */
function parseExport(file: string, text: string, since: number): RecordedTokenChange[] {
  let events: unknown[];
  const trimmed = text.trim();
  try {
    if (trimmed.startsWith("[")) events = JSON.parse(trimmed) as unknown[];
    else if (trimmed.startsWith("{") && !trimmed.includes("\n")) {
      const one = JSON.parse(trimmed) as { items?: unknown[] };
      events = Array.isArray(one.items) ? one.items : [one];
    } else {
      events = trimmed
        .split("\n")
        .filter((line) => line.trim() !== "")
        .map((line) => JSON.parse(line) as unknown);
    }
  } catch (error) {
    throw invalid("--from", `${file} is neither a Tessera SQLite database nor a JSON/NDJSON audit export (${String(error)})`);
  }
  const changes: RecordedTokenChange[] = [];
  for (const raw of events) {
    const e = raw as {
      id?: unknown;
      action?: unknown;
      at?: unknown;
      target?: { type?: unknown; id?: unknown } | null;
      targetId?: unknown;
    };
    if (typeof e.action !== "string" || !e.action.startsWith("token.")) continue;
    const at = typeof e.at === "number" ? e.at : typeof e.at === "string" ? Date.parse(e.at) : Number.NaN;
    const tokenId = e.target?.type === "token" ? e.target.id : e.targetId;
    if (Number.isNaN(at) || typeof tokenId !== "string") continue;
    if (at >= since) changes.push({ id: typeof e.id === "string" ? e.id : null, at, action: e.action, tokenId });
  }
  return changes;
}

/**
 * `tessera audit replay-revocations --since TIME [--from FILE]`: after a restore, re-applies the
 * revocations and suspensions recorded since TIME (in an audit export, in the old database file, or in
 * this database's own audit log), as the system actor. Only ever takes authority away.
 */
export function registerReplayRevocationsCommand(program: Command): void {
  const audit = auditGroup(program);
  audit
    .command("replay-revocations")
    .description("Re-apply token revocations and suspensions recorded since a time (after restoring a backup)")
    .requiredOption("--since <time>", "ISO 8601 time: the backup's time (tessera restore prints it)")
    .option(
      "--from <file>",
      "an audit export (NDJSON or JSON) or the old Tessera SQLite file; default: this database's audit log",
    )
    .action(async (o: { since: string; from?: string }) => {
      // Loaded here, not at the top: `tessera --help` must not pay for storage and the services.
      const { isSqliteFile, tokenChangesInSqliteFile, tokenChangesSince } = await import("../store/backup.js");
      const { replayRevocations } = await import("../services/revocation-replay.js");
      const since = parseSince(o.since);
      let recorded: RecordedTokenChange[] | undefined;
      if (o.from !== undefined) {
        if (!existsSync(o.from)) throw invalid("--from", `no such file: ${o.from}`);
        recorded = isSqliteFile(o.from)
          ? tokenChangesInSqliteFile(o.from, since)
          : parseExport(o.from, readFileSync(o.from, "utf8"), since);
      }
      const tessera = await (await import("../tessera.js")).createTessera(loadConfig(), { dispatch: false });
      try {
        const events = recorded ?? (await tokenChangesSince(tessera.store.db, since));
        const outcomes = await replayRevocations(tessera, events, systemMeta());
        for (const outcome of outcomes) process.stdout.write(`${JSON.stringify(outcome)}\n`);
        const count = (r: string) => outcomes.filter((x) => x.result === r).length;
        process.stderr.write(
          `${events.length} recorded change(s) since ${new Date(since).toISOString()}: ${count("revoked")} revoked, ${count("suspended")} suspended, ${count("already")} already so, ${count("missing")} not in this database.\n`,
        );
      } finally {
        await tessera.close();
      }
    });
}
