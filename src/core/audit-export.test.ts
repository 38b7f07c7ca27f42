import { describe, expect, it } from "vitest";
import { CSV_COLUMNS, csvHeader, csvLine, type ExportedEvent, linkFromCsv, parseCsv } from "./audit-export.js";

/** The CSV record as first written (a field array, mapped and joined): csvLine must stay byte-identical to it. */
function referenceCsvLine(e: ExportedEvent): string {
  const field = (value: string | number | null) => {
    if (value === null) return "";
    const text = String(value);
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return `${[
    e.id,
    e.seq,
    new Date(e.at).toISOString(),
    e.orgId,
    e.action,
    e.actor.type,
    e.actor.id,
    e.actor.name,
    e.target?.type ?? null,
    e.target?.id ?? null,
    e.target?.name ?? null,
    e.ip,
    e.userAgent,
    e.traceId,
    JSON.stringify(e.details),
    e.prevHash,
    e.hash,
  ]
    .map(field)
    .join(",")}\r\n`;
}

function event(over: Partial<ExportedEvent> = {}): ExportedEvent {
  return {
    id: "evt_0000000000000000000001",
    seq: 7,
    at: 1_700_000_000_123,
    orgId: "org_1",
    action: "token.updated",
    actor: { type: "user", id: "usr_1", name: "Olive" },
    target: { type: "token", id: "tok_1", name: "ci" },
    ip: "203.0.113.9",
    userAgent: "Mozilla/5.0 (X11; Linux x86_64)",
    traceId: "0123456789abcdef0123456789abcdef",
    details: { changes: { name: { from: "a", to: "b" } } },
    prevHash: "0".repeat(64),
    hash: "f".repeat(64),
    ...over,
  };
}

const awkward: Partial<ExportedEvent>[] = [
  {},
  { actor: { type: "user", id: "usr_1", name: 'Bench "quoted", person' } },
  { actor: { type: "system", id: null, name: null }, target: null, orgId: null, ip: null, userAgent: null },
  { target: { type: "token", id: "tok_2", name: null } },
  { target: { type: "token", id: "tok_3", name: "line one\r\nline two\rthree\nfour" } },
  { userAgent: '"', ip: ",", traceId: '""' },
  { details: {} },
  { details: { note: 'a "quote", a comma\nand a newline', n: -0, big: 1e21, nested: [null, true, { "2": 1, "1": 2 }] } },
  { details: { text: "naïve café ✓ 😀 \u2028 \ud800" } },
  { actor: { type: "user", id: "usr_é", name: 'Zoë, "Z" Ünal' }, target: { type: "org", id: "org_1", name: "😀,😀" } },
  { seq: 1, at: 0 },
  { seq: 9_007_199_254_740_991, at: 8_640_000_000_000_000 },
];

describe("audit CSV export", () => {
  it("writes each event byte for byte as the field-array version did", () => {
    for (const over of awkward) {
      const e = event(over);
      expect(csvLine(e)).toBe(referenceCsvLine(e));
    }
  });

  it("reads back what it writes: one record per event, the columns in order", () => {
    const events = awkward.map((over, i) => event({ ...over, seq: i + 1 }));
    const text = csvHeader() + events.map(csvLine).join("");
    const records = [...parseCsv(text)];
    expect(records[0]).toEqual([...CSV_COLUMNS]);
    expect(records).toHaveLength(events.length + 1);
    records.slice(1).forEach((fields, i) => {
      const link = linkFromCsv(fields);
      expect(link.seq).toBe(events[i]!.seq);
      expect(link.hash).toBe(events[i]!.hash);
      expect(link.content.actor.name).toBe(events[i]!.actor.name);
      expect(link.content.details).toEqual(JSON.parse(JSON.stringify(events[i]!.details)));
    });
  });
});
