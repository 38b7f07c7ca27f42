import type { ChainedEventContent, ChainLink } from "./audit-chain.js";

/**
 * The audit export's formats (SPEC §6): one event per NDJSON line, or one per CSV record (RFC 4180),
 * each carrying `seq`, `prevHash` and `hash` so that a file can be checked without the database
 * (`tessera audit verify --file`). Dates are ISO 8601; CSV `details` is the event's JSON.
 */
export interface ExportedEvent extends ChainedEventContent {
  prevHash: string;
  hash: string;
}

export const CSV_COLUMNS = [
  "id",
  "seq",
  "at",
  "orgId",
  "action",
  "actorType",
  "actorId",
  "actorName",
  "targetType",
  "targetId",
  "targetName",
  "ip",
  "userAgent",
  "traceId",
  "details",
  "prevHash",
  "hash",
] as const;

export function ndjsonLine(e: ExportedEvent): string {
  return `${JSON.stringify({
    id: e.id,
    seq: e.seq,
    at: new Date(e.at).toISOString(),
    orgId: e.orgId,
    action: e.action,
    actor: e.actor,
    target: e.target,
    ip: e.ip,
    userAgent: e.userAgent,
    traceId: e.traceId,
    details: e.details,
    prevHash: e.prevHash,
    hash: e.hash,
  })}\n`;
}

// Module constants: a regular expression literal in a function body is a new RegExp object each time it
// runs, and csvLine runs 17 of them per event (a million-event export made ~4 KiB of garbage per line).
const NEEDS_QUOTES = /[",\r\n]/;
const QUOTE = /"/g;

function csvField(value: string | number | null): string {
  if (value === null) return "";
  const text = String(value);
  return NEEDS_QUOTES.test(text) ? `"${text.replace(QUOTE, '""')}"` : text;
}

export function csvHeader(): string {
  return `${CSV_COLUMNS.join(",")}\r\n`;
}

/**
 * Empty fields are null (no exported string value is empty-but-present except details, which is JSON).
 * One concatenation in CSV_COLUMNS order, without an intermediate array: this runs once per exported event.
 */
export function csvLine(e: ExportedEvent): string {
  return (
    `${csvField(e.id)},${csvField(e.seq)},${csvField(new Date(e.at).toISOString())},${csvField(e.orgId)},` +
    `${csvField(e.action)},${csvField(e.actor.type)},${csvField(e.actor.id)},${csvField(e.actor.name)},` +
    `${csvField(e.target?.type ?? null)},${csvField(e.target?.id ?? null)},${csvField(e.target?.name ?? null)},` +
    `${csvField(e.ip)},${csvField(e.userAgent)},${csvField(e.traceId)},${csvField(JSON.stringify(e.details))},` +
    `${csvField(e.prevHash)},${csvField(e.hash)}\r\n`
  );
}

/** Splits RFC 4180 text into records of fields (quoted fields may hold commas, quotes and newlines). */
export function* parseCsv(text: string): Generator<string[]> {
  let field = "";
  let record: string[] = [];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      record.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      record.push(field);
      yield record;
      record = [];
      field = "";
    } else field += c;
  }
  if (field !== "" || record.length > 0) {
    record.push(field);
    yield record;
  }
}

function orNull(value: string | undefined): string | null {
  return value === undefined || value === "" ? null : value;
}

/**
 * A chain link from an exported record. Empty CSV fields read as null, so an event whose string field
 * was the empty string cannot be told from null: the CSV form hashes as exported only when no such
 * field exists (names, ids and addresses are never empty in Tessera).
 */
export function linkFromCsv(fields: readonly string[]): ChainLink {
  const get = (name: (typeof CSV_COLUMNS)[number]) => fields[CSV_COLUMNS.indexOf(name)];
  const targetId = orNull(get("targetId"));
  const content = {
    id: get("id") ?? "",
    seq: Number(get("seq")),
    at: Date.parse(get("at") ?? ""),
    orgId: orNull(get("orgId")),
    action: get("action") ?? "",
    actor: { type: get("actorType") ?? "", id: orNull(get("actorId")), name: orNull(get("actorName")) },
    target: targetId === null ? null : { type: get("targetType") ?? "", id: targetId, name: orNull(get("targetName")) },
    ip: orNull(get("ip")),
    userAgent: orNull(get("userAgent")),
    traceId: get("traceId") ?? "",
    details: JSON.parse(get("details") || "{}") as Record<string, unknown>,
  };
  return { id: content.id, seq: content.seq, prevHash: get("prevHash") ?? "", hash: get("hash") ?? "", content };
}

export function linkFromNdjson(line: string): ChainLink {
  const e = JSON.parse(line) as Omit<ExportedEvent, "at"> & { at: string };
  const content = {
    id: e.id,
    seq: e.seq,
    at: Date.parse(e.at),
    orgId: e.orgId,
    action: e.action,
    actor: e.actor,
    target: e.target,
    ip: e.ip,
    userAgent: e.userAgent,
    traceId: e.traceId,
    details: e.details,
  };
  return { id: e.id, seq: e.seq, prevHash: e.prevHash, hash: e.hash, content };
}
