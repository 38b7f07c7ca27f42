import { describe, expect, it } from "vitest";
import { CreditJournal, EPOCH, MAX_ENTRIES_PER_TOKEN } from "./credit-journal.js";

const e = (epoch: number, n: number) => epoch * EPOCH + n;

describe("CreditJournal", () => {
  it("keeps spending of the live incarnation until storage holds it", () => {
    const j = new CreditJournal();
    for (let n = 1; n <= 5; n++) j.record("t", 1, e(1, n), 1, -1);
    expect(j.takeLost("t", 1, e(1, 5), 0)).toEqual([]);
    j.durable("t", 1, e(1, 3));
    // Seeded again from storage at e(1, 3): 4 and 5 were lost.
    expect(j.takeLost("t", 1, e(2, 0), e(1, 3))).toEqual([{ period: -1, amount: 2 }]);
    expect(j.has("t")).toBe(false);
  });

  it("counts what the seed included as safe, sums the rest per refill period", () => {
    const j = new CreditJournal();
    j.record("t", 1, e(3, 10), 2, 100);
    j.record("t", 1, e(3, 11), 3, 100);
    j.record("t", 1, e(3, 12), 4, 200);
    expect(j.takeLost("t", 1, e(4, 7), e(3, 10))).toEqual([
      { period: 100, amount: 3 },
      { period: 200, amount: 4 },
    ]);
  });

  it("drops entries of a replaced generation and cannot place entries two incarnations back", () => {
    const j = new CreditJournal();
    j.record("t", 1, e(1, 1), 1, -1);
    expect(j.takeLost("t", 2, e(1, 0), null)).toEqual([]);
    expect(j.has("t")).toBe(false);
    j.record("u", 1, e(1, 1), 1, -1);
    expect(j.takeLost("u", 1, e(3, 0), e(2, 4))).toEqual([]);
    expect(j.unplaced).toBe(1);
  });

  it("durable only prunes its own incarnation, up to the stored update", () => {
    const j = new CreditJournal();
    j.record("t", 1, e(1, 9), 1, -1);
    j.record("t", 1, e(2, 1), 1, -1);
    j.record("t", 1, e(2, 2), 1, -1);
    j.durable("t", 1, e(2, 1));
    expect(j.takeLost("t", 1, e(3, 0), e(2, 1))).toEqual([{ period: -1, amount: 1 }]);
    // e(1, 9) was dropped as unplaceable (two back), e(2, 1) was durable, e(2, 2) lost.
    expect(j.unplaced).toBe(1);
  });

  it("stays bounded per token while storage is unreachable, erring on the side of counting", () => {
    const j = new CreditJournal();
    const spends = MAX_ENTRIES_PER_TOKEN * 4;
    for (let n = 1; n <= spends; n++) j.record("t", 1, e(1, n), 1, -1);
    expect(j.size("t")).toBeGreaterThan(0);
    expect(j.size("t")).toBeLessThanOrEqual(MAX_ENTRIES_PER_TOKEN);
    // Seeded from storage at update 10: every spend after it is lost; a merged entry straddling the base
    // counts its earlier spends as lost too (never fewer).
    const [lost] = j.takeLost("t", 1, e(2, 0), e(1, 10));
    expect(lost!.amount).toBeGreaterThanOrEqual(spends - 10);
    expect(lost!.amount).toBeLessThanOrEqual(spends);
  });
});
