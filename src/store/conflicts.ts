import { TesseraError } from "../core/errors.js";

/** PostgreSQL unique_violation, and SQLite's unique / primary-key constraint failures. */
const UNIQUE_CODES = new Set(["23505", "SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"]);

export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && UNIQUE_CODES.has(code);
}

/**
 * Runs an insert whose duplicate is a concurrent twin (two adds of one email, two accepts of one
 * invitation): the database's refusal becomes `conflict` (409) with `detail`, never a 500 whose log
 * would carry the driver's message (and the email in it).
 */
export async function insertOrConflict<T>(insert: Promise<T>, detail: string): Promise<T> {
  try {
    return await insert;
  } catch (error) {
    if (isUniqueViolation(error)) throw new TesseraError("conflict", detail);
    throw error;
  }
}
