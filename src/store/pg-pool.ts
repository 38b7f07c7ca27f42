import type { PostgresPool, PostgresPoolClient } from "kysely";
import type pg from "pg";
import { pgDriver } from "./pg-driver.js";

/** How long one step may wait for PostgreSQL by default (`TESSERA_DB_TIMEOUT_MS`). */
export const DEFAULT_DB_TIMEOUT_MS = 2_000;

/** A statement that got no answer within the bound: storage is treated as unreachable (→ 503). */
export class StorageTimeoutError extends Error {
  /** In the HTTP layer's set of "storage unreachable" codes. */
  readonly code = "ETIMEDOUT";
  constructor(ms: number) {
    super(`PostgreSQL did not answer within ${ms} ms (TESSERA_DB_TIMEOUT_MS); the connection was dropped`);
  }
}

export interface BoundedPoolOptions {
  connectionString: string;
  max: number;
  /**
   * Longest wait, in ms, for each step: getting a connection (a free pooled one or a new one) and each
   * statement (server-side `statement_timeout` and a client-side timer). 0: unbounded.
   */
  timeoutMs: number;
  types?: pg.CustomTypesConfig;
}

/**
 * A pg pool whose every wait is bounded, as Kysely's PostgresDialect consumes it.
 *
 * `statement_timeout` alone misses a PostgreSQL (or network path) that stops answering: the server never
 * says anything. pg's own `query_timeout` is not safe either: the timed-out query stays active on a
 * connection that goes back to the pool, and every later query there queues behind it. Here a statement
 * past its bound ends its connection (pg destroys the socket of a client with a query in flight), so the
 * pool discards it and the next request gets a fresh one.
 *
 * Errors on connections (idle or checked out, cut mid-query) are heard here: unheard, Node would end the
 * process. The query in flight fails by itself and the caller answers 503.
 */
export function boundedPool(options: BoundedPoolOptions): PostgresPool {
  const { timeoutMs } = options;
  const pool = new (pgDriver().Pool)({
    connectionString: options.connectionString,
    max: options.max,
    connectionTimeoutMillis: timeoutMs,
    ...(timeoutMs > 0 ? { statement_timeout: timeoutMs } : {}),
    // A silently dead peer is found by TCP within a minute even with no statement in flight.
    keepAlive: true,
    ...(options.types ? { types: options.types } : {}),
  });
  pool.on("error", () => {});
  pool.on("connect", (client) => client.on("error", () => {}));
  const wrappers = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  const wrap = (client: pg.PoolClient): PostgresPoolClient => {
    let timedOut: StorageTimeoutError | undefined;
    return {
      query: (async (text: string, values: readonly unknown[]) => {
        // A connection ended by a timeout is never reused: a transaction's ROLLBACK fails at once.
        if (timedOut) throw timedOut;
        if (timeoutMs <= 0) return client.query(text, [...values]);
        let timer: NodeJS.Timeout | undefined;
        const expired = new Promise<never>((_, fail) => {
          timer = setTimeout(() => {
            timedOut = new StorageTimeoutError(timeoutMs);
            client.end().catch(() => {});
            fail(timedOut);
          }, timeoutMs);
        });
        try {
          return await Promise.race([client.query(text, [...values]), expired]);
        } finally {
          clearTimeout(timer);
        }
      }) as unknown as PostgresPoolClient["query"],
      release: () => client.release(timedOut),
    };
  };
  return {
    async connect() {
      const client = await pool.connect();
      let wrapper = wrappers.get(client);
      if (!wrapper) {
        wrapper = wrap(client);
        wrappers.set(client, wrapper);
      }
      return wrapper;
    },
    end: () => pool.end(),
  };
}
