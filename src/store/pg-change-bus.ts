import { randomBytes } from "node:crypto";
import type { PostgresPool } from "kysely";
import type pg from "pg";
import { type Change, type ChangeBus, isChange } from "../core/changes.js";
import { pgDriver } from "./pg-driver.js";
import { boundedPool, DEFAULT_DB_TIMEOUT_MS } from "./pg-pool.js";

export const CHANGE_CHANNEL = "tessera_changes";

/** How often the LISTEN connection is asked `select 1`; its answer is awaited for the DB timeout. */
const HEARTBEAT_MS = 5_000;

/**
 * Carries changes between every instance sharing one PostgreSQL database with LISTEN/NOTIFY.
 * Local listeners hear a change at once; other instances within milliseconds. A dedicated connection
 * listens; when it drops it reconnects with backoff and then announces `reset` (changes may have been
 * missed meanwhile, so caches start over). The verifier's TTL bounds staleness if a NOTIFY is lost.
 * A path that goes silent (no error, no answer) is found by a heartbeat query every few seconds.
 */
export class PgChangeBus implements ChangeBus {
  readonly #url: string;
  readonly #listeners = new Set<(change: Change) => void>();
  readonly #instance = randomBytes(8).toString("hex");
  readonly #notifier: PostgresPool;
  readonly #timeoutMs: number;
  #heartbeat: NodeJS.Timeout | undefined;
  #listener: pg.Client | undefined;
  #closed = false;
  #retryMs = 100;
  #reconnectTimer: NodeJS.Timeout | undefined;
  readonly #onError: (error: unknown) => void;

  constructor(url: string, onError: (error: unknown) => void = () => {}, timeoutMs = DEFAULT_DB_TIMEOUT_MS) {
    this.#url = url;
    this.#onError = onError;
    this.#timeoutMs = timeoutMs;
    // Bounded like the store's pool: during a hang, notifications fail (the TTL covers them) instead of queueing.
    this.#notifier = boundedPool({ connectionString: url, max: 2, timeoutMs });
  }

  /** Connects the listening client; resolves once LISTEN is active. */
  async start(): Promise<void> {
    await this.#connect();
  }

  /** Whether the LISTEN connection is up (cross-instance invalidation is live). */
  get connected(): boolean {
    return this.#listener !== undefined;
  }

  async #connect(): Promise<void> {
    const client = new (pgDriver().Client)({
      connectionString: this.#url,
      connectionTimeoutMillis: Math.max(this.#timeoutMs, 1000),
      keepAlive: true,
    });
    client.on("notification", (message) => {
      if (message.channel !== CHANGE_CHANNEL || !message.payload) return;
      let parsed: unknown;
      try {
        parsed = JSON.parse(message.payload);
      } catch {
        return;
      }
      const { from, change } = parsed as { from?: string; change?: unknown };
      if (from === this.#instance || !isChange(change)) return;
      this.#deliver(change);
    });
    const lost = (error?: unknown) => {
      if (this.#listener !== client) return;
      this.#listener = undefined;
      if (error) this.#onError(error);
      client.end().catch(() => {});
      this.#scheduleReconnect();
    };
    client.on("error", lost);
    client.on("end", () => lost());
    try {
      await client.connect();
      await client.query(`listen ${CHANGE_CHANNEL}`);
    } catch (error) {
      client.end().catch(() => {});
      throw error;
    }
    if (this.#closed) {
      await client.end().catch(() => {});
      return;
    }
    this.#listener = client;
    this.#retryMs = 100;
    this.#beat(client, lost);
  }

  /** Asks the listening connection to answer, again and again; silence past the timeout counts as lost. */
  #beat(client: pg.Client, lost: (error?: unknown) => void): void {
    clearTimeout(this.#heartbeat);
    this.#heartbeat = setTimeout(() => {
      if (this.#listener !== client) return;
      const silence = setTimeout(
        () => lost(new Error(`LISTEN connection silent for ${this.#timeoutMs} ms; reconnecting`)),
        Math.max(this.#timeoutMs, 1000),
      );
      client.query("select 1").then(
        () => {
          clearTimeout(silence);
          this.#beat(client, lost);
        },
        (error) => {
          clearTimeout(silence);
          lost(error);
        },
      );
    }, HEARTBEAT_MS);
    this.#heartbeat.unref();
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#reconnectTimer) return;
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      this.#connect().then(
        // Whatever happened while we were away is unknown: every cache starts over.
        () => this.#deliver({ type: "reset" }),
        (error) => {
          this.#onError(error);
          this.#retryMs = Math.min(this.#retryMs * 2, 5000);
          this.#scheduleReconnect();
        },
      );
    }, this.#retryMs);
    this.#reconnectTimer.unref();
  }

  #deliver(change: Change): void {
    for (const listener of this.#listeners) listener(change);
  }

  publish(change: Change): void {
    this.#deliver(change);
    const payload = JSON.stringify({ from: this.#instance, change });
    this.#notify(payload).catch(this.#onError);
  }

  async #notify(payload: string): Promise<void> {
    const client = await this.#notifier.connect();
    try {
      await client.query("select pg_notify($1, $2)", [CHANGE_CHANNEL, payload]);
    } finally {
      client.release();
    }
  }

  subscribe(listener: (change: Change) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    clearTimeout(this.#heartbeat);
    const client = this.#listener;
    this.#listener = undefined;
    await client?.end().catch(() => {});
    await this.#notifier.end().catch(() => {});
    this.#listeners.clear();
  }
}
