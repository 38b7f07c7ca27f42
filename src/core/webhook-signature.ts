import { createHmac, randomBytes } from "node:crypto";

/** Endpoint secrets, as Standard Webhooks writes them: `whsec_` + base64 of 32 random bytes. */
export const WEBHOOK_SECRET_PREFIX = "whsec_";

export function newWebhookSecret(): string {
  return `${WEBHOOK_SECRET_PREFIX}${randomBytes(32).toString("base64")}`;
}

/**
 * The Standard Webhooks headers of one message: `webhook-signature` is `v1,` + base64 HMAC-SHA256, keyed
 * with the secret's decoded bytes, of `{id}.{timestamp}.{body}` (timestamp in seconds). Receivers verify
 * with any Standard Webhooks library (docs/webhooks.md).
 */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): Record<string, string> {
  const key = Buffer.from(
    secret.startsWith(WEBHOOK_SECRET_PREFIX) ? secret.slice(WEBHOOK_SECRET_PREFIX.length) : secret,
    "base64",
  );
  const signature = createHmac("sha256", key).update(`${id}.${timestampSeconds}.${body}`).digest("base64");
  return {
    "webhook-id": id,
    "webhook-timestamp": String(timestampSeconds),
    "webhook-signature": `v1,${signature}`,
  };
}
