import { describe, expect, it } from "vitest";
import { DAY_MS, resolveExpiry } from "./expiry.js";
import { DEFAULT_ORG_SETTINGS } from "./settings.js";

const now = Date.parse("2026-01-01T00:00:00Z");
const policy = DEFAULT_ORG_SETTINGS;

describe("expiry", () => {
  it("takes presets, custom dates and never", () => {
    expect(resolveExpiry({ expiresInDays: 30 }, policy, now)).toEqual({ ok: true, expiresAt: now + 30 * DAY_MS });
    expect(resolveExpiry({ expiresAt: "2026-02-01T00:00:00Z" }, policy, now)).toEqual({
      ok: true,
      expiresAt: Date.parse("2026-02-01T00:00:00Z"),
    });
    expect(resolveExpiry({ expiresAt: null }, policy, now)).toEqual({ ok: true, expiresAt: null });
    expect(resolveExpiry({}, policy, now)).toEqual({ ok: true, expiresAt: null });
  });

  it("applies the organisation's default", () => {
    const p = { ...policy, defaultExpiryDays: 90 };
    expect(resolveExpiry({}, p, now)).toEqual({ ok: true, expiresAt: now + 90 * DAY_MS });
  });

  it("refuses past dates, never under requireExpiry and dates beyond the maximum", () => {
    expect(resolveExpiry({ expiresAt: "2025-01-01T00:00:00Z" }, policy, now)).toMatchObject({
      ok: false,
      error: { field: "expiresAt" },
    });
    expect(resolveExpiry({ expiresAt: null }, { ...policy, requireExpiry: true }, now)).toMatchObject({ ok: false });
    expect(resolveExpiry({}, { ...policy, requireExpiry: true }, now)).toMatchObject({ ok: false });
    expect(resolveExpiry({ expiresInDays: 365 }, { ...policy, maxExpiryDays: 90 }, now)).toMatchObject({
      ok: false,
      error: { field: "expiresInDays" },
    });
    expect(resolveExpiry({ expiresInDays: 90 }, { ...policy, maxExpiryDays: 90 }, now).ok).toBe(true);
    expect(resolveExpiry({ expiresInDays: 5, expiresAt: "2026-02-01T00:00:00Z" }, policy, now).ok).toBe(false);
  });
});
