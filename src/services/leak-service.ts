import { createPublicKey, type KeyObject, verify } from "node:crypto";
import { TesseraError } from "../core/errors.js";
import { applyTransition, deriveStatus } from "../core/status.js";
import { hashToken, isWellFormedToken } from "../core/token-format.js";
import type { TokenRecord } from "../core/tokens.js";
import { insertEvents } from "../store/audit-repository.js";
import type { Db, Store } from "../store/database.js";
import { findTokenBySecretHash, findTokenForUpdate, updateToken } from "../store/tokens-repository.js";
import { type OrgAccess, resolveOrgAccess } from "./actor.js";
import { auditEvent } from "./audit.js";
import type { ChangeBus } from "./change-bus.js";
import { queueNoticeMail } from "./mail-outbox.js";
import type { RequestMeta } from "./request-meta.js";
import { revocationPatch, type TokenChange, type TokenService, targetOf, transitionStep } from "./token-service.js";

/** One match GitHub's secret scanning reports (the partner program's request body is an array of these). */
export interface SecretAlert {
  token: string;
  type: string;
  url: string;
  source: string;
}

/** GitHub's answer format, per token: `true_positive` (ours) or `false_positive`. */
export interface SecretAlertFeedback {
  token_raw: string;
  token_type: string;
  label: "true_positive" | "false_positive";
}

/** Fewer fetches than this apart are not made for an unknown key id (an attacker cannot make us hammer the URL). */
const KEY_REFRESH_MIN_MS = 10_000;
const KEY_FETCH_TIMEOUT_MS = 5_000;

/**
 * GitHub's secret scanning public keys (`{public_keys: [{key_identifier, key, is_current}]}` at
 * `TESSERA_GITHUB_KEYS_URL`), cached; an identifier not in the cache refetches the list (at most every
 * 10 s), so rotated keys are picked up without a restart.
 */
export class GitHubKeys {
  readonly #url: string;
  #keys = new Map<string, KeyObject>();
  #fetchedAt = 0;
  #pending: Promise<void> | undefined;

  constructor(url: string) {
    this.#url = url;
  }

  async key(identifier: string): Promise<KeyObject | undefined> {
    const cached = this.#keys.get(identifier);
    if (cached) return cached;
    if (Date.now() - this.#fetchedAt >= KEY_REFRESH_MIN_MS || this.#fetchedAt === 0) {
      this.#pending ??= this.#refresh().finally(() => {
        this.#pending = undefined;
      });
      await this.#pending;
    }
    return this.#keys.get(identifier);
  }

  async #refresh(): Promise<void> {
    let body: unknown;
    try {
      const response = await fetch(this.#url, {
        headers: { accept: "application/json" },
        signal: AbortSignal.timeout(KEY_FETCH_TIMEOUT_MS),
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      body = await response.json();
    } catch (error) {
      throw new TesseraError("service_unavailable", `GitHub's public keys could not be fetched (${String(error)})`);
    } finally {
      this.#fetchedAt = Date.now();
    }
    const list = (body as { public_keys?: unknown }).public_keys;
    if (!Array.isArray(list)) throw new TesseraError("service_unavailable", "GitHub's public keys answer has no public_keys");
    const keys = new Map<string, KeyObject>();
    for (const entry of list as { key_identifier?: unknown; key?: unknown }[]) {
      if (typeof entry.key_identifier !== "string" || typeof entry.key !== "string") continue;
      try {
        keys.set(entry.key_identifier, createPublicKey(entry.key));
      } catch {
        // An unreadable key is skipped; the others still serve.
      }
    }
    this.#keys = keys;
  }
}

/** Whether `signature` (base64 DER ECDSA) signs `body` under `key` with SHA-256. */
export function verifyAlertSignature(body: Buffer, key: KeyObject, signature: string): boolean {
  try {
    return verify("sha256", body, { key, dsaEncoding: "der" }, Buffer.from(signature, "base64"));
  } catch {
    return false;
  }
}

export interface LeakServiceOptions {
  pepper: string | undefined;
  mail: boolean;
  publicUrl: string;
  onMailQueued?: (() => void) | undefined;
}

/**
 * The leak response of SPEC §11: a signed alert's tokens are looked up by hash; a token of ours is marked
 * `leakedAt`, audited (`token.leaked`, with the source URL) and handled by its organisation's `onLeak`
 * (revoke, suspend or notify) through the same policy and transition path as a person's, the system acting.
 * Reporting an already-leaked token again changes nothing and writes nothing (GitHub retries).
 */
export class LeakService {
  readonly #store: Store;
  readonly #tokens: TokenService;
  readonly #bus: ChangeBus;
  readonly #keys: GitHubKeys;
  readonly #options: LeakServiceOptions;

  constructor(store: Store, tokens: TokenService, bus: ChangeBus, keys: GitHubKeys, options: LeakServiceOptions) {
    this.#store = store;
    this.#tokens = tokens;
    this.#bus = bus;
    this.#keys = keys;
    this.#options = options;
  }

  /** Refuses (401) unless the raw body carries a valid signature of a key GitHub publishes. */
  async authenticate(body: Buffer, keyId: string | undefined, signature: string | undefined): Promise<void> {
    if (!keyId || !signature) {
      throw new TesseraError("unauthorized", "Github-Public-Key-Identifier and Github-Public-Key-Signature are required");
    }
    const key = await this.#keys.key(keyId);
    if (!key) throw new TesseraError("unauthorized", "Unknown GitHub public key identifier");
    if (!verifyAlertSignature(body, key, signature)) throw new TesseraError("unauthorized", "Bad signature");
  }

  /** Handles each alert on its own (one transaction per token); the answer keeps the request's order. */
  async handle(alerts: readonly SecretAlert[], meta: RequestMeta): Promise<SecretAlertFeedback[]> {
    const feedback: SecretAlertFeedback[] = [];
    for (const alert of alerts) {
      const ours = await this.#handleOne(alert, meta);
      feedback.push({ token_raw: alert.token, token_type: alert.type, label: ours ? "true_positive" : "false_positive" });
    }
    return feedback;
  }

  async #handleOne(alert: SecretAlert, meta: RequestMeta): Promise<boolean> {
    // A string that is not of the format (checksum included) is no token of ours: no storage touched.
    if (!isWellFormedToken(alert.token)) return false;
    const match = await findTokenBySecretHash(this.#store.db, hashToken(alert.token, this.#options.pepper));
    if (!match) return false;
    const { token } = match;
    if (token.orgId === null) {
      await this.#leakRoot(token.id, alert, meta);
      return true;
    }
    const access = await resolveOrgAccess(this.#store.db, { type: "system" }, token.orgId);
    let mails = 0;
    await this.#tokens.systemChange(access, token.id, async (locked, now, trx) => {
      if (locked.leakedAt !== null) return null;
      const change = this.#leakChange(access, locked, alert, meta, now);
      mails += await queueNoticeMail(
        trx,
        this.#options,
        locked,
        { kind: "leaked", url: alert.url, action: access.org.settings.onLeak },
        now,
      );
      return change;
    });
    if (mails > 0) this.#options.onMailQueued?.();
    return true;
  }

  /** Marks and audits the leak, then applies `onLeak`. A token already revoked (or suspended, for `suspend`) only gets marked. */
  #leakChange(access: OrgAccess, token: TokenRecord, alert: SecretAlert, meta: RequestMeta, now: number): TokenChange {
    const onLeak = access.org.settings.onLeak;
    const patch: Record<string, unknown> = { leaked_at: now, leak_url: alert.url.slice(0, 2000), updated_at: now };
    const details = { url: alert.url.slice(0, 2000), source: alert.source, type: alert.type, onLeak };
    const events = [auditEvent(meta, access.actor, token.orgId, "token.leaked", targetOf(token), details, now)];
    const status = deriveStatus(token, now);
    // Under `revokeRequiresSuspension` a revocation needs a suspended token: the leak then suspends it
    // (the two-step revocation the organisation asked for stays a person's decision).
    const wanted =
      onLeak === "revoke" && status !== "revoked"
        ? applyTransition(token, "revoke", now, access.org.settings).ok
          ? "revoke"
          : "suspend"
        : onLeak === "suspend"
          ? "suspend"
          : null;
    let step: TokenChange | null = null;
    if (wanted !== null && applyTransition(token, wanted, now, access.org.settings).ok) {
      step = transitionStep(access, token, wanted, wanted === "revoke" ? "leaked" : null, meta, now, { reason: "leaked" });
    }
    // A transition the token's state does not allow (already suspended, revoked) leaves it marked only:
    // GitHub's answer never depends on what the token's state permits.
    if (step) return { patch: { ...step.patch, ...patch }, events: [...events, ...step.events] };
    return { patch, events };
  }

  /** A root token has no organisation and no `onLeak`: it is revoked (instance credentials are never left working). */
  async #leakRoot(tokenId: string, alert: SecretAlert, meta: RequestMeta): Promise<void> {
    const system = { type: "system" } as const;
    const changed = await this.#store.db.transaction().execute(async (trx: Db) => {
      const token = await findTokenForUpdate(trx, tokenId, this.#store.dialect);
      if (!token || token.leakedAt !== null) return false;
      const now = Date.now();
      const url = alert.url.slice(0, 2000);
      const events = [
        auditEvent(
          meta,
          system,
          null,
          "token.leaked",
          targetOf(token),
          { url, source: alert.source, type: alert.type, kind: "root" },
          now,
        ),
      ];
      let patch: Record<string, unknown> = { leaked_at: now, leak_url: url, updated_at: now };
      if (token.revokedAt === null) {
        patch = { ...revocationPatch(system, "leaked", now), ...patch };
        events.push(auditEvent(meta, system, null, "token.revoked", targetOf(token), { kind: "root", reason: "leaked" }, now));
      }
      await updateToken(trx, token.id, patch);
      await insertEvents(trx, events);
      return true;
    });
    if (changed) this.#bus.publish({ type: "token", tokenId });
  }
}
