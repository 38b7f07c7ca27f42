import { crc32 } from "node:zlib";
import { CHECKSUM_LENGTH } from "./token-format.js";

/**
 * Finding Tessera tokens in arbitrary bytes (`tessera scan`, SPEC §11): any organisation prefix, either
 * environment, checksum valid. Pure: callers read files, stdin or `git log` and feed the bytes in.
 *
 * How: the only fixed text in a token is `_live_` or `_test_`, so the scan is two `Buffer#indexOf`
 * passes for those markers (native substring search, over a gigabyte per second); around each marker
 * the lowercase prefix and the base62 body are measured and the CRC32 checksum decides. Ordinary text
 * rarely contains a marker, so nearly all the time goes to the two native searches.
 *
 * A token glued to other text (`%3Dtsr_live_…`, `…Q2xZ09aB"`, a letter before the prefix) is still
 * found: every prefix length 2–8 ending at the marker and every body length 36–70 starting after it is
 * tried, longest first, and the first with a valid checksum wins (one finding per marker). Each try that
 * is not a token passes with probability 62⁻⁶ ≈ 1.8 × 10⁻¹¹ (the checksum is 6 base62 characters, compared
 * as a number with the CRC32 of what precedes it), at most 7 × 35 tries per marker.
 */

const MARKERS = [Buffer.from("_live_", "latin1"), Buffer.from("_test_", "latin1")];
const MARKER_LENGTH = 6;
const PREFIX_MIN = 2;
const PREFIX_MAX = 8;
/** Entropy (30–64 characters, see token-format.ts) plus the checksum. */
const BODY_MIN = 36;
const BODY_MAX = 70;
/** Bytes that must be kept before an unexamined marker (its prefix) and after it (marker and body). */
export const SCAN_LOOKBEHIND = PREFIX_MAX;
export const SCAN_LOOKAHEAD = MARKER_LENGTH + BODY_MAX;

const NEWLINE = 0x0a;

/** Value of each base62 digit by byte, -1 elsewhere. */
const DIGIT: Int8Array = (() => {
  const values = new Int8Array(256).fill(-1);
  const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  for (let i = 0; i < alphabet.length; i++) values[alphabet.charCodeAt(i)] = i;
  return values;
})();

const isLower = (byte: number): boolean => byte >= 0x61 && byte <= 0x7a;

/** One token found in a buffer: its position (of the prefix's first byte) and its text. */
export interface BufferHit {
  offset: number;
  token: string;
}

/** Whether `buf[start, end)` is a token body whose last 6 characters are the CRC32 of `buf[bodyStart, end - 6)`. */
function checksumHolds(buf: Uint8Array, start: number, end: number): boolean {
  const cut = end - CHECKSUM_LENGTH;
  let tail = 0;
  for (let i = cut; i < end; i++) tail = tail * 62 + DIGIT[buf[i]!]!;
  return crc32(buf.subarray(start, cut)) === tail;
}

/** The token around the marker at `m`, or undefined. Reads `buf[max(floor, m - 8), min(ceiling, m + 76))`. */
function tokenAt(buf: Uint8Array, m: number, floor: number, ceiling: number): BufferHit | undefined {
  let letters = 0;
  while (letters < PREFIX_MAX && m - letters - 1 >= floor && isLower(buf[m - letters - 1]!)) letters++;
  if (letters < PREFIX_MIN) return undefined;
  const bodyStart = m + MARKER_LENGTH;
  const bodyLimit = Math.min(ceiling, bodyStart + BODY_MAX);
  let run = bodyStart;
  while (run < bodyLimit && DIGIT[buf[run]!]! >= 0) run++;
  if (run - bodyStart < BODY_MIN) return undefined;
  for (let prefix = letters; prefix >= PREFIX_MIN; prefix--) {
    const start = m - prefix;
    for (let end = run; end - bodyStart >= BODY_MIN; end--) {
      if (checksumHolds(buf, start, end))
        return { offset: start, token: Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString("latin1") };
    }
  }
  return undefined;
}

/** Positions of both markers in `buf[from, to)`, in order. */
function markersIn(buf: Buffer, from: number, to: number): number[] {
  const found: number[] = [];
  for (const marker of MARKERS) {
    for (let at = buf.indexOf(marker, from); at !== -1 && at < to; at = buf.indexOf(marker, at + 1)) found.push(at);
  }
  return found.length > 1 ? found.sort((a, b) => a - b) : found;
}

/** Every token in `buf` (whole buffer: nothing before or after it is assumed). */
export function findTokens(buf: Buffer): BufferHit[] {
  const hits: BufferHit[] = [];
  for (const m of markersIn(buf, 0, buf.length)) {
    const hit = tokenAt(buf, m, 0, buf.length);
    if (hit) hits.push(hit);
  }
  return hits;
}

/** A token found by {@link TokenScanner}: its 1-based line and its text. */
export interface LineHit {
  line: number;
  token: string;
}

/**
 * Scans a stream of bytes of any length in fixed memory, counting lines. Write into
 * `buffer.subarray(writeOffset)` (at most `room` bytes), then `commit(n)`; call `end()` after the last.
 * The last {@link SCAN_LOOKBEHIND} + {@link SCAN_LOOKAHEAD} bytes of each window are carried into the next,
 * so a token cut by a read boundary is still found, exactly once.
 */
export class TokenScanner {
  readonly buffer: Buffer;
  private filled = 0;
  /** Markers before this position have been examined. */
  private examined = 0;
  /** Newlines before `counted` make `line - 1`. */
  private counted = 0;
  private line = 1;
  /** Bytes seen so far (for the caller's "is this binary?" and MB/s). */
  bytes = 0;

  constructor(
    private readonly onHit: (hit: LineHit) => void,
    windowSize = 1 << 20,
  ) {
    this.buffer = Buffer.allocUnsafe(windowSize + SCAN_LOOKBEHIND + SCAN_LOOKAHEAD);
  }

  get writeOffset(): number {
    return this.filled;
  }

  get room(): number {
    return this.buffer.length - this.filled;
  }

  commit(n: number): void {
    this.filled += n;
    this.bytes += n;
    if (this.filled === this.buffer.length) this.scan(false);
  }

  /** Copies `chunk` in (for sources that hand out their own buffers, such as stdin). */
  write(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length) {
      const n = Math.min(this.room, chunk.length - at);
      this.buffer.set(chunk.subarray(at, at + n), this.filled);
      at += n;
      this.commit(n);
    }
  }

  end(): void {
    this.scan(true);
    this.filled = 0;
    this.examined = 0;
    this.counted = 0;
    this.line = 1;
  }

  private scan(final: boolean): void {
    const buf = this.buffer;
    const limit = final ? this.filled : this.filled - SCAN_LOOKAHEAD;
    for (const m of markersIn(buf, this.examined, limit)) {
      const hit = tokenAt(buf, m, 0, this.filled);
      if (!hit) continue;
      this.countTo(hit.offset);
      this.onHit({ line: this.line, token: hit.token });
    }
    if (final) return;
    // Keep the prefix room before the first unexamined marker, and everything after it.
    const keep = limit - SCAN_LOOKBEHIND;
    this.countTo(keep);
    buf.copy(buf, 0, keep, this.filled);
    this.filled -= keep;
    this.examined = SCAN_LOOKBEHIND;
    // A finding past `keep` may already have been counted to.
    this.counted -= keep;
  }

  private countTo(position: number): void {
    const buf = this.buffer;
    let line = this.line;
    for (let at = buf.indexOf(NEWLINE, this.counted); at !== -1 && at < position; at = buf.indexOf(NEWLINE, at + 1)) line++;
    this.line = line;
    this.counted = Math.max(this.counted, position);
  }
}

/** Whether the first bytes of a file look binary (a NUL byte among them, as git decides). */
export function looksBinary(head: Uint8Array): boolean {
  return head.subarray(0, 8000).includes(0);
}
