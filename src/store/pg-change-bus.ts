import { randomBytes } from "node:crypto";
import pg from "pg";
import { type Change, type ChangeBus, isChange } from "../core/changes.js";

export const CHANGE_CHANNEL = "tessera_changes";

/**
 * Carries changes between every instance sharing one PostgreSQL database with LISTEN/NOTIFY.
 * Local listeners hear a change at once; other instances within milliseconds. A dedicated connection
 * listens; when it drops it reconnects with backoff and then announces `reset` (changes may have been
 * missed meanwhile, so caches start over). The verifier's TTL bounds staleness if a NOTIFY is lost.
 */
export class PgChangeBus implements ChangeBus {
  readonly #url: string;
  readonly #listeners = new Set<(change: Change) => void>();
  readonly #instance = randomBytes(8).toString("hex");
  readonly #notifier: pg.Pool;
  #listener: pg.Client | undefined;
  #closed = false;
  #retryMs = 100;
  #reconnectTimer: NodeJS.Timeout | undefined;
  readonly #onError: (error: unknown) => void;

  constructor(url: string, onError: (error: unknown) => void = () => {}) {
    this.#url = url;
    this.#onError = onError;
    this.#notifier = new pg.Pool({ connectionString: url, max: 2 });
    this.#notifier.on("error", onError);
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
    const client = new pg.Client({ connectionString: this.#url, connectionTimeoutMillis: 5000 });
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
    await client.connect();
    await client.query(`listen ${CHANGE_CHANNEL}`);
    this.#listener = client;
    this.#retryMs = 100;
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
    this.#notifier.query("select pg_notify($1, $2)", [CHANGE_CHANNEL, payload]).catch(this.#onError);
  }

  subscribe(listener: (change: Change) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#reconnectTimer) clearTimeout(this.#reconnectTimer);
    const client = this.#listener;
    this.#listener = undefined;
    await client?.end().catch(() => {});
    await this.#notifier.end().catch(() => {});
    this.#listeners.clear();
  }
}
