/**
 * What this instance took from Redis credit balances and has not yet seen durable in storage, so that
 * spending is not granted again when Redis loses its data (docs/architecture.md, "Credits and
 * persistence").
 *
 * A balance's update counter `seq` carries an incarnation number (an epoch) in its high part: every time
 * a balance is seeded into Redis from storage it starts a new epoch, one above the stored one's, and
 * remembers the stored `seq` it was seeded from (its base). So for any spending recorded as (seq, cost):
 * - same epoch as the live balance: the live balance holds it (kept until seen in storage);
 * - the live balance's base is of the same epoch and at or above it: the seed included it;
 * - the base is of that epoch but below it: Redis lost it, and it is taken again from the live balance.
 * An entry two incarnations old (Redis lost its data twice before this instance looked) cannot be
 * placed and is dropped (counted in `unplaced`): the documented bound.
 */

/** Updates one incarnation of a balance can make (the low part of `seq`). */
export const EPOCH = 2 ** 32;

/**
 * Entries kept per token before neighbours are merged (while storage cannot be written, a hot token's
 * journal would grow with every spend). A merged entry carries both costs at the later `seq`: placed
 * against a base between the two it counts the earlier cost as lost too, so merging errs on the side of
 * counting, never of granting.
 */
export const MAX_ENTRIES_PER_TOKEN = 8192;

export function epochOf(seq: number): number {
  return Math.floor(seq / EPOCH);
}

/** Spending to take again from a balance: per refill period (-1: the balance has no refill). */
export interface LostSpending {
  period: number;
  amount: number;
}

interface Entries {
  gen: number;
  /** Parallel arrays, in the order Redis answered (so `seqs` ascends within an epoch). */
  seqs: number[];
  costs: number[];
  periods: number[];
}

export class CreditJournal {
  readonly #tokens = new Map<string, Entries>();
  /** Entries that could not be placed (see the class comment). */
  unplaced = 0;

  /**
   * One change this instance made to a token's live balance (a spend, or spending taken again). True
   * when it is of a later incarnation than the token's earlier entries (Redis lost the balance since).
   */
  record(tokenId: string, gen: number, seq: number, cost: number, period: number): boolean {
    let e = this.#tokens.get(tokenId);
    if (!e || e.gen !== gen) {
      e = { gen, seqs: [], costs: [], periods: [] };
      this.#tokens.set(tokenId, e);
    }
    const last = e.seqs.length - 1;
    const newer = last >= 0 && epochOf(seq) > epochOf(e.seqs[last]!);
    e.seqs.push(seq);
    e.costs.push(cost);
    e.periods.push(period);
    if (e.seqs.length >= MAX_ENTRIES_PER_TOKEN) this.#compact(e);
    return newer;
  }

  /** Merges neighbours of the same epoch and period, pairwise (about halving the entries). */
  #compact(e: Entries): void {
    let j = 0;
    for (let i = 0; i < e.seqs.length; i++) {
      const next = i + 1;
      if (next < e.seqs.length && epochOf(e.seqs[i]!) === epochOf(e.seqs[next]!) && e.periods[i] === e.periods[next]) {
        e.seqs[j] = e.seqs[next]!;
        e.costs[j] = e.costs[i]! + e.costs[next]!;
        e.periods[j] = e.periods[next]!;
        i = next;
      } else {
        e.seqs[j] = e.seqs[i]!;
        e.costs[j] = e.costs[i]!;
        e.periods[j] = e.periods[i]!;
      }
      j++;
    }
    e.seqs.length = e.costs.length = e.periods.length = j;
  }

  /** Entries kept for a token. */
  size(tokenId: string): number {
    return this.#tokens.get(tokenId)?.seqs.length ?? 0;
  }

  /** Tokens with entries. */
  tokens(): string[] {
    return [...this.#tokens.keys()];
  }

  has(tokenId: string): boolean {
    return this.#tokens.has(tokenId);
  }

  /** The generation a token's entries are of (null when none). */
  genOf(tokenId: string): number | null {
    return this.#tokens.get(tokenId)?.gen ?? null;
  }

  /** Drops a token's entries (its credits were set explicitly: a new generation). */
  forget(tokenId: string): void {
    this.#tokens.delete(tokenId);
  }

  /** Storage holds the balance of generation `gen` as of `seq`: entries of that incarnation up to it are safe. */
  durable(tokenId: string, gen: number, seq: number): void {
    const e = this.#tokens.get(tokenId);
    if (!e) return;
    if (e.gen !== gen) return;
    const epoch = epochOf(seq);
    this.#keep(tokenId, e, (s) => !(epochOf(s) === epoch && s <= seq));
  }

  /**
   * Places the token's entries against the live balance (generation `gen`, update `seq`, seeded from
   * storage's `base`, null when unknown) and takes out those the balance lost, summed per period.
   */
  takeLost(tokenId: string, gen: number, seq: number, base: number | null): LostSpending[] {
    const e = this.#tokens.get(tokenId);
    if (!e) return [];
    if (e.gen !== gen) {
      // A newer generation replaced the balance (an explicit set); an older one in Redis is re-seeded.
      if (gen > e.gen) this.#tokens.delete(tokenId);
      return [];
    }
    const live = epochOf(seq);
    const lost = new Map<number, number>();
    this.#keep(tokenId, e, (s, cost, period) => {
      const epoch = epochOf(s);
      if (epoch >= live) return true; // held by the live balance (or Redis went back: the flush repairs it)
      if (base !== null && epoch === epochOf(base)) {
        if (s > base) lost.set(period, (lost.get(period) ?? 0) + cost);
        return false;
      }
      this.unplaced++;
      return false;
    });
    return [...lost].map(([period, amount]) => ({ period, amount }));
  }

  /** Puts spending back that could not be taken again (Redis failed meanwhile): placed as lost next time. */
  restore(tokenId: string, gen: number, seqBelowBase: number, lost: readonly LostSpending[]): void {
    for (const l of lost) this.record(tokenId, gen, seqBelowBase, l.amount, l.period);
  }

  #keep(tokenId: string, e: Entries, keep: (seq: number, cost: number, period: number) => boolean): void {
    let j = 0;
    for (let i = 0; i < e.seqs.length; i++) {
      if (!keep(e.seqs[i]!, e.costs[i]!, e.periods[i]!)) continue;
      e.seqs[j] = e.seqs[i]!;
      e.costs[j] = e.costs[i]!;
      e.periods[j] = e.periods[i]!;
      j++;
    }
    e.seqs.length = e.costs.length = e.periods.length = j;
    if (j === 0) this.#tokens.delete(tokenId);
  }
}
