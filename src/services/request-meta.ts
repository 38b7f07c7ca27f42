import { pooledRandomBytes } from "../core/base62.js";

/** Who asked, from where: recorded on every audit event. */
export interface RequestMeta {
  ip: string | null;
  userAgent: string | null;
  traceId: string;
}

const TRACEPARENT_RE = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** Random bytes for new trace ids from a pool refilled 256 ids at a time (one call into OpenSSL, not one per request). */
const traceRandom = pooledRandomBytes(16 * 256);

/** A new random W3C trace id: 16 bytes as 32 hex digits, never all zeros. */
function newTraceId(): string {
  const id = traceRandom(16).toString("hex");
  return id === "00000000000000000000000000000000" ? newTraceId() : id;
}

/** The trace id of a W3C `traceparent` header, or a new one (all-zero ids are invalid per the spec). */
export function traceIdFrom(traceparent: string | undefined): string {
  const match = traceparent ? TRACEPARENT_RE.exec(traceparent.trim().toLowerCase()) : null;
  if (match && !/^0+$/.test(match[1]!)) return match[1]!;
  return newTraceId();
}

export const SYSTEM_META: RequestMeta = { ip: null, userAgent: "tessera-cli", traceId: "" };

export function systemMeta(): RequestMeta {
  return { ...SYSTEM_META, traceId: traceIdFrom(undefined) };
}
