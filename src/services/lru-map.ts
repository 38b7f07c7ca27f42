/**
 * A Map bounded to `maxEntries`, dropping the least recently set key when full, every operation O(1):
 * the in-memory limiters' storage, which an attacker rotating addresses fills with new keys.
 *
 * Recency is insertion order: `set` moves a key to the newest end (delete, then set); reads do not. The
 * oldest key is found through one long-lived iterator, as in the verifier cache (see `#oldest` in
 * token-cache.ts): a Map leaves a hole where a key was deleted until it rebuilds its table, and a fresh
 * `keys()` per eviction would step over every hole at the front again, which is how the old limiters'
 * per-request cost grew with their size.
 */
export class LruMap<V> {
  readonly #max: number;
  readonly #map = new Map<string, V>();
  /** Every key behind this iterator has been evicted or deleted, so the next key it yields is the oldest. */
  #oldest: MapIterator<string> = this.#map.keys();

  constructor(maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError("maxEntries must be a positive integer");
    this.#max = maxEntries;
  }

  get size(): number {
    return this.#map.size;
  }

  get maxEntries(): number {
    return this.#max;
  }

  get(key: string): V | undefined {
    return this.#map.get(key);
  }

  /** Stores `value` as the newest entry, first evicting the oldest when the map is full. */
  set(key: string, value: V): void {
    if (this.#map.has(key)) this.#map.delete(key);
    else if (this.#map.size >= this.#max) this.#evictOldest();
    this.#map.set(key, value);
  }

  delete(key: string): void {
    this.#map.delete(key);
  }

  clear(): void {
    this.#map.clear();
    this.#oldest = this.#map.keys();
  }

  #evictOldest(): void {
    let next = this.#oldest.next();
    if (next.done) {
      // An iterator that has reached the end stays there; keys added since need a new one.
      this.#oldest = this.#map.keys();
      next = this.#oldest.next();
    }
    if (!next.done) this.#map.delete(next.value);
  }
}
