import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

/**
 * Endpoint secrets are needed again to sign each delivery, so they are stored encrypted (AES-256-GCM),
 * never hashed and never in plaintext. The key is derived from `TESSERA_PEPPER` (HKDF-SHA256, its own
 * label): a copy of the database alone does not reveal them. Without a pepper the key is derived from a
 * fixed label only, which keeps secrets out of casual reads of the database but is no protection against
 * someone holding a copy of it (docs/security.md says to set the pepper).
 */
export class WebhookSecretBox {
  readonly #key: Buffer;

  constructor(pepper: string | undefined) {
    this.#key = Buffer.from(hkdfSync("sha256", pepper ?? "", "tessera", "webhook endpoint secret v1", 32));
  }

  /** `v1.<iv>.<tag>.<ciphertext>`, base64url parts. */
  seal(secret: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.#key, iv);
    const body = Buffer.concat([cipher.update(secret, "utf8"), cipher.final()]);
    return ["v1", iv.toString("base64url"), cipher.getAuthTag().toString("base64url"), body.toString("base64url")].join(".");
  }

  /** Throws when the stored value was not sealed with this key (the pepper changed). */
  open(sealed: string): string {
    const [version, iv, tag, body] = sealed.split(".");
    if (version !== "v1" || !iv || !tag || body === undefined) throw new Error("unknown webhook secret format");
    const decipher = createDecipheriv("aes-256-gcm", this.#key, Buffer.from(iv, "base64url"));
    decipher.setAuthTag(Buffer.from(tag, "base64url"));
    return Buffer.concat([decipher.update(Buffer.from(body, "base64url")), decipher.final()]).toString("utf8");
  }
}
