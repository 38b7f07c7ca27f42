import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ERROR_CODES } from "../core/errors.js";
import { problemOf, redactSecrets, STATUS_OF } from "./problem.js";

describe("error codes", () => {
  const doc = readFileSync(new URL("../../docs/api.md", import.meta.url), "utf8");

  it("are all mapped to a status and documented in docs/api.md", () => {
    for (const code of ERROR_CODES) {
      expect(STATUS_OF[code], code).toBeGreaterThanOrEqual(400);
      expect(doc, `docs/api.md documents ${code}`).toContain(`| \`${code}\` | ${STATUS_OF[code]} |`);
    }
  });

  it("build RFC 9457 problems", () => {
    expect(problemOf("not_found", "No such token")).toEqual({
      type: "urn:tessera:problem:not_found",
      title: "Not found",
      status: 404,
      detail: "No such token",
      code: "not_found",
    });
  });

  it("never carry a token", () => {
    expect(redactSecrets("unknown scope(s): tsr_live_0123456789abcdefghijABCDEFGHIJ012345")).toBe(
      "unknown scope(s): [redacted token]",
    );
  });

  it("redact token shapes in any letter case, for any organisation prefix and both environments", () => {
    const bodies = ["0123456789abcdefghijABCDEFGHIJ012345", "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ", "abcdefghij0123456789"];
    for (const prefix of ["tsr", "TSR", "Tsr", "ab", "ACMECORP", "xY"]) {
      for (const env of ["live", "test", "LIVE", "Test", "lIvE"]) {
        for (const body of bodies) {
          const token = `${prefix}_${env}_${body}`;
          const out = redactSecrets(`unknown scope(s): ${token}, other`);
          expect(out, token).toBe("unknown scope(s): [redacted token], other");
          expect(redactSecrets(`/v1/x?token=${token}`)).not.toContain(body);
        }
      }
    }
    // Not token-shaped: left alone.
    expect(redactSecrets("tokens:read, tsr_live_short")).toBe("tokens:read, tsr_live_short");
  });
});
