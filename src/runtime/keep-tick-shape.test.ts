import { describe, expect, it } from "vitest";
import { keptTickRecord } from "./keep-tick-shape.js";

describe("keep-tick-shape", () => {
  it("holds a real nextTick record (Node still exposes it as the tick's execution resource)", async () => {
    await new Promise((resolve) => process.nextTick(resolve));
    const record = keptTickRecord();
    expect(record).toBeDefined();
    expect(Object.keys(record!)).toEqual(["callback", "args"]);
    expect(Object.getOwnPropertySymbols(record!).map(String)).toEqual([
      "Symbol(async_id_symbol)",
      "Symbol(trigger_async_id_symbol)",
    ]);
  });
});
