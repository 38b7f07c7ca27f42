import { describe, expect, it } from "vitest";
import {
  type ChainedEventContent,
  ChainVerifier,
  canonicalJson,
  checkpointSignature,
  checkpointSignatureValid,
  eventHash,
  GENESIS_HASH,
} from "./audit-chain.js";

function event(seq: number, over: Partial<ChainedEventContent> = {}): ChainedEventContent {
  return {
    id: `evt_${String(seq).padStart(22, "0")}`,
    seq,
    at: 1_700_000_000_000 + seq,
    orgId: "org_1",
    action: "token.created",
    actor: { type: "user", id: "usr_1", name: "Olive" },
    target: { type: "token", id: "tok_1", name: "ci" },
    ip: "203.0.113.9",
    userAgent: null,
    traceId: "t",
    details: { b: 1, a: [2, { d: null, c: "x" }] },
    ...over,
  };
}

function chain(n: number) {
  let prev = GENESIS_HASH;
  return Array.from({ length: n }, (_, i) => {
    const content = event(i + 1);
    const hash = eventHash(prev, content);
    const link = { id: content.id, seq: content.seq, prevHash: prev, hash, content };
    prev = hash;
    return link;
  });
}

describe("audit chain", () => {
  it("serialises canonically: sorted keys at every depth, no whitespace, undefined dropped", () => {
    expect(canonicalJson({ b: 1, a: { d: [1, "é"], c: null }, u: undefined })).toBe('{"a":{"c":null,"d":[1,"é"]},"b":1}');
    expect(eventHash(GENESIS_HASH, event(1))).toBe(
      eventHash(GENESIS_HASH, { ...event(1), details: { a: [2, { c: "x", d: null }], b: 1 } }),
    );
    expect(eventHash(GENESIS_HASH, event(1))).toMatch(/^[0-9a-f]{64}$/);
  });

  it("verifies an intact chain and finds a changed, removed or reordered event", () => {
    const links = chain(5);
    const ok = new ChainVerifier();
    expect(links.every((l) => ok.add(l))).toBe(true);
    expect(ok.count).toBe(5);

    const changed = new ChainVerifier();
    for (const l of links.map((l) =>
      l.seq === 3 ? { ...l, content: { ...l.content, actor: { ...l.content.actor, name: "Eve" } } } : l,
    ))
      changed.add(l);
    expect(changed.problem).toMatchObject({ seq: 3, reason: expect.stringContaining("changed") });

    const removed = new ChainVerifier();
    for (const l of links.filter((l) => l.seq !== 2)) removed.add(l);
    expect(removed.problem).toMatchObject({ seq: 3, reason: "events 2..2 are missing" });

    const reordered = new ChainVerifier();
    const swapped = [links[0]!, { ...links[2]!, seq: 2 }, { ...links[1]!, seq: 3 }];
    for (const l of swapped) reordered.add(l);
    expect(reordered.problem?.seq).toBe(2);
  });

  it("signs checkpoints so that a changed one or another key fails", () => {
    const c = { orgId: "org_1", seq: 10, hash: "a".repeat(64), pruned: 10, at: 5 };
    const sig = checkpointSignature("pepper", c);
    expect(checkpointSignatureValid("pepper", c, sig)).toBe(true);
    expect(checkpointSignatureValid("pepper", { ...c, seq: 11 }, sig)).toBe(false);
    expect(checkpointSignatureValid("other", c, sig)).toBe(false);
    expect(checkpointSignatureValid("pepper", c, "zz")).toBe(false);
  });
});
