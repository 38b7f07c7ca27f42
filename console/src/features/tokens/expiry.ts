import type { OrgSettings } from "../../api/types";
import { DAY_MS } from "../../lib/format";

export const PRESET_DAYS = [30, 90, 365] as const;

/** The value of the expiry radio group: a number of days, a custom date, or never. */
export type ExpiryChoice = `${number}` | "custom" | "never";

export interface ExpiryPolicy {
  presets: number[];
  allowNever: boolean;
  /** Latest selectable custom date, or null when unbounded. */
  maxDate: Date | null;
  initial: ExpiryChoice;
}

/**
 * What the organisation's policy allows: presets beyond `maxExpiryDays` are hidden, "never" is
 * hidden under `requireExpiry`, and `defaultExpiryDays` is preselected (added as a preset if it is
 * not one of 30/90/365).
 */
export function expiryPolicy(settings: OrgSettings, now = new Date()): ExpiryPolicy {
  const { defaultExpiryDays, maxExpiryDays, requireExpiry } = settings;
  const days = new Set<number>(PRESET_DAYS);
  if (defaultExpiryDays !== null && defaultExpiryDays > 0) days.add(defaultExpiryDays);
  const presets = [...days].filter((d) => maxExpiryDays === null || d <= maxExpiryDays).sort((a, b) => a - b);
  const allowNever = !requireExpiry;
  let initial: ExpiryChoice;
  if (defaultExpiryDays !== null && presets.includes(defaultExpiryDays)) initial = `${defaultExpiryDays}`;
  else if (allowNever) initial = "never";
  else initial = presets[0] !== undefined ? `${presets[0]}` : "custom";
  const maxDate = maxExpiryDays === null ? null : new Date(now.getTime() + maxExpiryDays * DAY_MS);
  return { presets, allowNever, maxDate, initial };
}

/** Turns the form's choice into the create/regenerate request fields. */
export function expiryRequest(
  choice: ExpiryChoice,
  customDate: string | null,
  maxDate: Date | null = null,
): { expiresInDays: number } | { expiresAt: string | null } {
  if (choice === "never") return { expiresAt: null };
  if (choice === "custom") {
    // A picked day and time ("YYYY-MM-DDTHH:mm") in the user's time zone; a day alone means its end.
    // Clamped a minute inside the organisation's limit, which counts from "now".
    let end = customDate ? new Date(customDate.includes("T") ? customDate : `${customDate}T23:59:59`) : null;
    if (end && maxDate && end.getTime() > maxDate.getTime() - 60_000) end = new Date(maxDate.getTime() - 60_000);
    return { expiresAt: end ? end.toISOString() : null };
  }
  return { expiresInDays: Number(choice) };
}

export function addDays(now: Date, days: number): Date {
  return new Date(now.getTime() + days * DAY_MS);
}
