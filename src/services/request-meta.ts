import { randomUUID } from "node:crypto";

/** Who asked, from where: recorded on every audit event. */
export interface RequestMeta {
  ip: string | null;
  userAgent: string | null;
  traceId: string;
}

const TRACEPARENT_RE = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** The trace id of a W3C `traceparent` header, or a new one (all-zero ids are invalid per the spec). */
export function traceIdFrom(traceparent: string | undefined): string {
  const match = traceparent ? TRACEPARENT_RE.exec(traceparent.trim().toLowerCase()) : null;
  if (match && !/^0+$/.test(match[1]!)) return match[1]!;
  // randomUUID draws from a cached entropy pool: far cheaper per request than randomBytes(16).
  return randomUUID().replaceAll("-", "");
}

export const SYSTEM_META: RequestMeta = { ip: null, userAgent: "tessera-cli", traceId: "" };

export function systemMeta(): RequestMeta {
  return { ...SYSTEM_META, traceId: traceIdFrom(undefined) };
}
