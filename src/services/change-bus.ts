import type { Change, ChangeBus } from "../core/changes.js";

export type { Change, ChangeBus };

/** Delivers changes within this process only (one instance, or SQLite). */
export class LocalChangeBus implements ChangeBus {
  readonly #listeners = new Set<(change: Change) => void>();

  publish(change: Change): void {
    for (const listener of this.#listeners) listener(change);
  }

  subscribe(listener: (change: Change) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#listeners.clear();
  }
}
