import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/**
 * One token's usage as the SQLite usage worker writes it: plain arrays (cheap to copy to the worker).
 * `buckets` is flat (hour start, ok, denied, …); `requests` is flat (at, code, ip, userAgent, scopes, …),
 * oldest first, written as one history batch with id `historyId` (null when there are none). Handing
 * the worker the batch's JSON instead costs the main thread as much (a `JSON.stringify` of the array
 * takes about as long as the structured clone it would save), so the worker makes it.
 */
export interface UsageMessage {
  tokenId: string;
  ok: number;
  lastUsedAt: number | null;
  lastUsedIp: string | null;
  buckets: number[];
  requests: readonly unknown[];
  historyId: string | null;
}

/**
 * The worker's program (a CommonJS script run with `eval`, so the same text runs from `dist/` and from
 * the TypeScript sources under the test runner). Its own better-sqlite3 connection to the same file
 * writes each batch in one `BEGIN IMMEDIATE` transaction with statements prepared once. A token's history
 * batch is built as `requestBatchRow` builds it (src/store/usage-repository.ts).
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma("busy_timeout = " + workerData.busyTimeoutMs);
db.pragma("synchronous = NORMAL");
db.pragma("foreign_keys = ON");
const updateToken = db.prepare(
  "update tokens set usage_count = usage_count + ?, " +
  "last_used_ip = case when last_used_at is null or last_used_at < ? then ? else last_used_ip end, " +
  "last_used_at = case when last_used_at is null or last_used_at < ? then ? else last_used_at end " +
  "where id = ?");
const addBucket = db.prepare(
  "insert into token_usage (token_id, bucket_start, ok, denied) values (?, ?, ?, ?) " +
  "on conflict (token_id, bucket_start) do update set ok = token_usage.ok + excluded.ok, denied = token_usage.denied + excluded.denied");
const addHistory = db.prepare(
  "insert into token_request_batches (id, token_id, at, first_at, n, entries) values (?, ?, ?, ?, ?, ?)");
function addRequests(id, tokenId, r) {
  let at = -Infinity;
  let firstAt = Infinity;
  for (let i = 0; i < r.length; i += 5) {
    if (r[i] > at) at = r[i];
    if (r[i] < firstAt) firstAt = r[i];
  }
  addHistory.run(id, tokenId, at, firstAt, r.length / 5, JSON.stringify(r));
}
const apply = db.transaction((tokens) => {
  for (const t of tokens) {
    if (t.ok > 0 && t.lastUsedAt !== null)
      updateToken.run(t.ok, t.lastUsedAt, t.lastUsedIp, t.lastUsedAt, t.lastUsedAt, t.tokenId);
    const b = t.buckets;
    for (let i = 0; i < b.length; i += 3) addBucket.run(t.tokenId, b[i], b[i + 1], b[i + 2]);
    if (t.historyId !== null && t.requests.length > 0) addRequests(t.historyId, t.tokenId, t.requests);
  }
});
// The main thread's connection is running a statement that writes (and may be waiting for the lock):
// let it have the lock before starting another transaction.
const writing = workerData.writing;
function yieldToMainThread() {
  const until = Date.now() + workerData.busyTimeoutMs;
  while (Atomics.load(writing, 0) !== 0 && Date.now() < until) Atomics.wait(writing, 0, 1, 10);
}
parentPort.on("message", (m) => {
  if (m.close) {
    db.close();
    parentPort.postMessage({ id: m.id });
    return;
  }
  try {
    yieldToMainThread();
    apply.immediate(m.tokens);
    parentPort.postMessage({ id: m.id });
  } catch (error) {
    parentPort.postMessage({ id: m.id, error: error && error.message ? error.message : String(error) });
  }
});
`;

interface Pending {
  resolve(): void;
  reject(error: Error): void;
}

/**
 * Writes usage batches to the SQLite file from a worker thread. better-sqlite3 runs synchronously, so on
 * the main thread each flush (then a row per verification for the history, now one per token and flush;
 * five indexes rewritten per token for `last_used_at`, a WAL checkpoint now and then) held every request
 * behind it: bench c at 0.52× bare node:http, p99 24-43 ms. The worker's writes wait only for the file's
 * write lock, which it holds for one batch at a time (the recorder's chunks of FLUSH_ROWS rows, a few milliseconds), and starts none
 * while a write of the main thread's connection runs (`writing`): that write waits for one batch at most,
 * instead of retrying (busy_timeout's sleeps, growing to 100 ms) while the worker's next batches take the
 * lock first, which on a loaded machine could hold the event loop for most of a flush.
 *
 * Started on the first batch (a CLI command that records no usage never starts it), restarted after a
 * crash; a batch that fails rejects, and the recorder keeps its counts for the next flush.
 */
export class SqliteUsageWriter {
  #running: { worker: Worker; pending: Map<number, Pending> } | undefined;
  #nextId = 0;
  readonly #file: string;
  readonly #busyTimeoutMs: number;
  readonly #writing: Int32Array;

  /** `writing`: the store's flag of a write running on the main thread's connection (Store.sqliteWriting). */
  constructor(file: string, busyTimeoutMs: number, writing: Int32Array | undefined) {
    this.#file = file;
    this.#busyTimeoutMs = busyTimeoutMs;
    this.#writing = writing ?? new Int32Array(new SharedArrayBuffer(4));
  }

  /** Writes one batch in one transaction; resolves once it is committed. */
  apply(tokens: readonly UsageMessage[]): Promise<void> {
    return this.#send({ tokens });
  }

  /** Closes the worker's connection and stops the worker (after the batches sent before). */
  async close(): Promise<void> {
    const running = this.#running;
    if (!running) return;
    try {
      await this.#send({ close: true });
    } finally {
      this.#running = undefined;
      await running.worker.terminate();
    }
  }

  #send(message: { tokens: readonly UsageMessage[] } | { close: true }): Promise<void> {
    const { worker, pending } = this.#start();
    const id = this.#nextId++;
    return new Promise<void>((resolve, reject) => {
      // Referenced while a batch is out: the process must not exit before its usage is written.
      if (pending.size === 0) worker.ref();
      pending.set(id, { resolve, reject });
      worker.postMessage({ id, ...message });
    });
  }

  #start(): { worker: Worker; pending: Map<number, Pending> } {
    if (this.#running) return this.#running;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        driver: createRequire(import.meta.url).resolve("better-sqlite3"),
        file: this.#file,
        busyTimeoutMs: this.#busyTimeoutMs,
        writing: this.#writing,
      },
    });
    // Idle, never what keeps the process alive.
    worker.unref();
    const pending = new Map<number, Pending>();
    const running = { worker, pending };
    worker.on("message", (reply: { id: number; error?: string }) => {
      const p = pending.get(reply.id);
      if (!p) return;
      pending.delete(reply.id);
      if (pending.size === 0) worker.unref();
      if (reply.error === undefined) p.resolve();
      else p.reject(new Error(`usage write failed: ${reply.error}`));
    });
    const fail = (error: Error) => {
      if (this.#running === running) this.#running = undefined;
      const failed = [...pending.values()];
      pending.clear();
      for (const p of failed) p.reject(error);
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`the usage worker exited (code ${code})`)));
    this.#running = running;
    return running;
  }
}
