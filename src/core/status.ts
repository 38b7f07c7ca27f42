/** SPEC §2: one status, derived in this order: revoked › suspended › inactive › expired › active. */
export const TOKEN_STATUSES = ["active", "inactive", "expired", "suspended", "revoked"] as const;
export type TokenStatus = (typeof TOKEN_STATUSES)[number];

/** The timestamps (epoch ms) from which a token's status is derived. */
export interface TokenState {
  revokedAt: number | null;
  suspendedAt: number | null;
  deactivatedAt: number | null;
  expiresAt: number | null;
}

export function deriveStatus(state: TokenState, now: number): TokenStatus {
  if (state.revokedAt !== null) return "revoked";
  if (state.suspendedAt !== null) return "suspended";
  if (state.deactivatedAt !== null) return "inactive";
  if (state.expiresAt !== null && state.expiresAt <= now) return "expired";
  return "active";
}

export const TRANSITIONS = ["deactivate", "activate", "suspend", "resume", "revoke"] as const;
export type Transition = (typeof TRANSITIONS)[number];

export type TransitionResult = { ok: true; patch: Partial<TokenState> } | { ok: false; from: TokenStatus; reason: string };

export interface TransitionPolicy {
  /** The organisation's `revokeRequiresSuspension`. */
  revokeRequiresSuspension: boolean;
}

/** The status machine of SPEC §2: what a transition changes, or why it is refused (→ 409 invalid_state). */
export function applyTransition(
  state: TokenState,
  transition: Transition,
  now: number,
  policy: TransitionPolicy,
): TransitionResult {
  const from = deriveStatus(state, now);
  const refuse = (reason: string): TransitionResult => ({ ok: false, from, reason });
  switch (transition) {
    case "deactivate":
      return from === "active"
        ? { ok: true, patch: { deactivatedAt: now } }
        : refuse(`only an active token can be deactivated; this one is ${from}`);
    case "activate":
      return from === "inactive"
        ? { ok: true, patch: { deactivatedAt: null } }
        : refuse(`only an inactive token can be activated; this one is ${from}`);
    case "suspend":
      return from === "active" || from === "inactive"
        ? { ok: true, patch: { suspendedAt: now } }
        : refuse(`only an active or inactive token can be suspended; this one is ${from}`);
    case "resume":
      return from === "suspended"
        ? { ok: true, patch: { suspendedAt: null, deactivatedAt: null } }
        : refuse(`only a suspended token can be resumed; this one is ${from}`);
    case "revoke":
      if (from === "revoked") return refuse("the token is already revoked");
      if (policy.revokeRequiresSuspension && from !== "suspended") {
        return refuse("this organisation requires a token to be suspended before it is revoked");
      }
      return { ok: true, patch: { revokedAt: now } };
  }
}

/** Regenerate keeps the status and replaces the secret; only a revoked token cannot be regenerated. */
export function canRegenerate(state: TokenState): boolean {
  return state.revokedAt === null;
}

/** Longest grace period during which a regenerated token's previous secret keeps working (7 days). */
export const MAX_GRACE_SECONDS = 7 * 24 * 3600;
