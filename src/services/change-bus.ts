/**
 * What changed, for everything that caches authorization state (the verifier's cache, issue #3).
 * Published after the transaction that made the change has committed.
 */
export type Change =
  | { type: "token"; tokenId: string }
  | { type: "member"; orgId: string; userId: string }
  | { type: "org"; orgId: string };

export interface ChangeBus {
  publish(change: Change): void;
  subscribe(listener: (change: Change) => void): () => void;
  close(): Promise<void>;
}

/** Delivers changes within this process only. */
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
