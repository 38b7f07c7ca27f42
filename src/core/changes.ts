/**
 * What changed, for everything that caches authorization state (the verifier's cache). Published after
 * the transaction that made the change has committed; carried across instances by the change bus.
 */
export type Change =
  | { type: "token"; tokenId: string }
  | { type: "member"; orgId: string; userId: string }
  | { type: "org"; orgId: string }
  /** Changes may have been missed (a reconnect): drop everything cached. */
  | { type: "reset" };

export interface ChangeBus {
  publish(change: Change): void;
  subscribe(listener: (change: Change) => void): () => void;
  close(): Promise<void>;
}

export function isChange(value: unknown): value is Change {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  switch (v.type) {
    case "token":
      return typeof v.tokenId === "string";
    case "member":
      return typeof v.orgId === "string" && typeof v.userId === "string";
    case "org":
      return typeof v.orgId === "string";
    case "reset":
      return true;
    default:
      return false;
  }
}
