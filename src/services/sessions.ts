import { createHash, randomBytes } from "node:crypto";
import { newId } from "../core/ids.js";
import type { Db } from "../store/database.js";
import { insertSession } from "../store/sessions-repository.js";
import type { RequestMeta } from "./request-meta.js";

export interface NewSession {
  /** The cookie value; only its hash is stored. */
  cookie: string;
  csrfToken: string;
  expiresAt: number;
}

export function hashSessionId(value: string): string {
  return createHash("sha256").update(value).digest("hex");
}

/**
 * Opens a console session (sign-in, setup, a new account accepting an invitation): a random cookie,
 * stored hashed, with a public id and where it was opened so that its owner can list and end it. Expired
 * sessions are pruned by the retention job (src/services/retention.ts), in bounded chunks, not here: a
 * sign-in does not pay for everyone's expired sessions.
 */
export async function openSession(db: Db, userId: string, ttlMs: number, now: number, meta?: RequestMeta): Promise<NewSession> {
  const cookie = randomBytes(32).toString("base64url");
  const csrfToken = randomBytes(24).toString("base64url");
  const expiresAt = now + ttlMs;
  await insertSession(
    db,
    {
      idHash: hashSessionId(cookie),
      publicId: newId("session"),
      userId,
      csrfToken,
      expiresAt,
      ip: meta?.ip ?? null,
      userAgent: meta?.userAgent ?? null,
    },
    now,
  );
  return { cookie, csrfToken, expiresAt };
}
