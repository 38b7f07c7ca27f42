import { describe, expect, it } from "vitest";
import { applyTransition, deriveStatus, type TokenState, type Transition } from "./status.js";

const now = 1_000_000;
const base: TokenState = { revokedAt: null, suspendedAt: null, deactivatedAt: null, expiresAt: null };
const policy = { revokeRequiresSuspension: false };

function run(state: TokenState, ...steps: Transition[]): TokenState | string {
  let s = state;
  for (const step of steps) {
    const r = applyTransition(s, step, now, policy);
    if (!r.ok) return `refused ${step} from ${r.from}`;
    s = { ...s, ...r.patch };
  }
  return deriveStatus(s, now);
}

describe("status machine", () => {
  it("derives status in the order revoked › suspended › inactive › expired › active", () => {
    expect(deriveStatus(base, now)).toBe("active");
    expect(deriveStatus({ ...base, expiresAt: now }, now)).toBe("expired");
    expect(deriveStatus({ ...base, expiresAt: now + 1 }, now)).toBe("active");
    expect(deriveStatus({ ...base, expiresAt: 1, deactivatedAt: 1 }, now)).toBe("inactive");
    expect(deriveStatus({ ...base, deactivatedAt: 1, suspendedAt: 1 }, now)).toBe("suspended");
    expect(deriveStatus({ ...base, suspendedAt: 1, revokedAt: 1 }, now)).toBe("revoked");
  });

  it("allows the transitions of the table", () => {
    expect(run(base, "deactivate")).toBe("inactive");
    expect(run(base, "deactivate", "activate")).toBe("active");
    expect(run(base, "suspend", "resume")).toBe("active");
    expect(run(base, "deactivate", "suspend", "resume")).toBe("active");
    expect(run(base, "revoke")).toBe("revoked");
    expect(run(base, "suspend", "revoke")).toBe("revoked");
  });

  it("refuses the rest", () => {
    expect(run(base, "activate")).toBe("refused activate from active");
    expect(run(base, "resume")).toBe("refused resume from active");
    expect(run(base, "suspend", "deactivate")).toBe("refused deactivate from suspended");
    expect(run(base, "suspend", "suspend")).toBe("refused suspend from suspended");
    expect(run(base, "revoke", "resume")).toBe("refused resume from revoked");
    expect(run(base, "revoke", "revoke")).toBe("refused revoke from revoked");
    expect(run({ ...base, expiresAt: 1 }, "suspend")).toBe("refused suspend from expired");
  });

  it("requires suspension before revocation when the organisation says so", () => {
    const strict = { revokeRequiresSuspension: true };
    expect(applyTransition(base, "revoke", now, strict).ok).toBe(false);
    expect(applyTransition({ ...base, suspendedAt: 1 }, "revoke", now, strict).ok).toBe(true);
  });
});
