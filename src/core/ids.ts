import { encodeBase62, pooledRandomBytes, randomBase62 } from "./base62.js";

/** Prefixes of Tessera's typed ids. */
export const ID_PREFIX = {
  token: "tok",
  organization: "org",
  user: "usr",
  event: "evt",
  session: "ses",
  invitation: "inv",
  request: "req",
  mail: "eml",
  webhook: "whk",
  delivery: "dlv",
} as const;

export type IdKind = keyof typeof ID_PREFIX;
export type TokenId = `tok_${string}`;
export type OrgId = `org_${string}`;
export type UserId = `usr_${string}`;
export type EventId = `evt_${string}`;

let sequence = 0;
/** Ids are not secrets: their random part comes from a pool (see {@link pooledRandomBytes}). */
const idRandom = pooledRandomBytes();

/**
 * A new id: `<prefix>_` + 8 base62 chars of the millisecond clock + 3 of a per-process sequence +
 * 11 random chars (≈ 65 bits). Ids sort by creation time, and within one process ids created in the
 * same millisecond still sort in creation order, so "newest first" can order by id alone and the id
 * can serve as a pagination cursor. Generated in code, so SQLite and PostgreSQL agree.
 */
export function newId<K extends IdKind>(kind: K): `${(typeof ID_PREFIX)[K]}_${string}` {
  sequence = (sequence + 1) % 62 ** 3;
  return `${ID_PREFIX[kind]}_${encodeBase62(Date.now(), 8)}${encodeBase62(sequence, 3)}${randomBase62(11, idRandom)}`;
}

const ID_RE = /^(tok|org|usr|evt|ses|inv|req|eml|whk|dlv)_[0-9A-Za-z]{22}$/;

/** Whether `value` has the shape of an id of that kind (used to answer 404 early on garbage ids). */
export function isId(kind: IdKind, value: string): boolean {
  return ID_RE.test(value) && value.startsWith(`${ID_PREFIX[kind]}_`);
}
