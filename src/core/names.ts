/**
 * What a name (a user's, an organisation's, a token's, and free text shown beside them) may contain.
 * Names are shown to other people in the console, the CLI and mails, where a look-alike is an attack:
 * a member named "Owner\u200b" reads as "Owner", a bidi override can make "exe.txt" read as "txt.exe".
 * Refused:
 * - control characters (C0, DEL, C1): NUL cannot be stored in PostgreSQL, newlines split logs;
 * - bidirectional marks, embeddings, overrides and isolates (U+200E/F, U+061C, U+202A–U+202E,
 *   U+2066–U+2069);
 * - zero-width and invisible joiners/spaces (U+200B–U+200D, U+2060, U+FEFF);
 * - line and paragraph separators (U+2028, U+2029), which some renderers and JSON readers treat as
 *   line breaks.
 * Everything else, including every script and emoji (which need U+200D inside a sequence only as a
 * zero-width joiner: refused as well, a rare price for a simple rule), is accepted.
 */
export const NAME_FORBIDDEN_CHARACTERS =
  "\\u0000-\\u001f\\u007f-\\u009f\\u061c\\u200b-\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2060\\u2066-\\u2069\\ufeff";

/** A JSON-Schema `pattern` (ECMAScript, `u` flag) that holds when a string has none of the characters above. */
export const NAME_PATTERN = `^[^${NAME_FORBIDDEN_CHARACTERS}]*$`;

/**
 * The same rule for free text shown beside a name (a token's description), which may also hold tabs
 * and line breaks.
 */
export const FREE_TEXT_PATTERN = `^[^${NAME_FORBIDDEN_CHARACTERS.replace("\\u0000-\\u001f", "\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f")}]*$`;

/** Why a name is refused, in words fit for a `validation_failed` field issue. */
export const NAME_CHARACTERS_MESSAGE = "must not contain control, bidirectional-override or zero-width characters";

const FORBIDDEN_RE = new RegExp(`[${NAME_FORBIDDEN_CHARACTERS}]`, "u");

/** The first forbidden character of `value` as `U+XXXX`, or null when the name is acceptable. */
export function forbiddenNameCharacter(value: string): string | null {
  const match = FORBIDDEN_RE.exec(value);
  if (!match) return null;
  return `U+${match[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
}
