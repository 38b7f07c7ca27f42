import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "./config.js";

/** `TESSERA_OIDC_*` (SPEC §9): parsed once at start-up; every mistake names its variable. */
describe("OpenID Connect configuration", () => {
  const base = { TESSERA_DATA_DIR: "/tmp/tessera-config-test" };
  const load = (env: Record<string, string>) => loadConfig({ ...base, ...env });

  it("is off without an issuer, and complete with one", () => {
    expect(load({}).oidc).toBeUndefined();
    expect(load({ TESSERA_OIDC_ISSUER: "https://id.example.com/realms/acme", TESSERA_OIDC_CLIENT_ID: "tessera" }).oidc).toEqual({
      issuer: "https://id.example.com/realms/acme",
      clientId: "tessera",
      clientSecret: undefined,
      name: "id.example.com",
      scopes: ["openid", "email", "profile"],
      only: false,
    });
    const full = load({
      TESSERA_OIDC_ISSUER: "http://127.0.0.1:9000",
      TESSERA_OIDC_CLIENT_ID: "tessera",
      TESSERA_OIDC_CLIENT_SECRET: "s3cret",
      TESSERA_OIDC_NAME: "Acme SSO",
      TESSERA_OIDC_SCOPES: "openid email",
      TESSERA_OIDC_ONLY: "true",
    }).oidc;
    // The issuer stays exactly as written: identifiers are compared as strings (no trailing slash added).
    expect(full).toEqual({
      issuer: "http://127.0.0.1:9000",
      clientId: "tessera",
      clientSecret: "s3cret",
      name: "Acme SSO",
      scopes: ["openid", "email"],
      only: true,
    });
  });

  it.each([
    [
      { TESSERA_OIDC_ISSUER: "http://id.example.com", TESSERA_OIDC_CLIENT_ID: "c" },
      /TESSERA_OIDC_ISSUER.*https.*got http:\/\/id\.example\.com/,
    ],
    [{ TESSERA_OIDC_ISSUER: "not a url", TESSERA_OIDC_CLIENT_ID: "c" }, /TESSERA_OIDC_ISSUER/],
    [{ TESSERA_OIDC_ISSUER: "https://id.example.com?x=1", TESSERA_OIDC_CLIENT_ID: "c" }, /TESSERA_OIDC_ISSUER/],
    [{ TESSERA_OIDC_ISSUER: "https://id.example.com" }, /TESSERA_OIDC_CLIENT_ID is required/],
    [{ TESSERA_OIDC_CLIENT_ID: "c" }, /TESSERA_OIDC_CLIENT_ID is set but TESSERA_OIDC_ISSUER is not/],
    [{ TESSERA_OIDC_CLIENT_SECRET: "s" }, /TESSERA_OIDC_CLIENT_SECRET is set but TESSERA_OIDC_ISSUER is not/],
    [{ TESSERA_OIDC_ONLY: "true" }, /TESSERA_OIDC_ONLY=true needs TESSERA_OIDC_ISSUER/],
    [{ TESSERA_OIDC_ONLY: "yes" }, /TESSERA_OIDC_ONLY must be true or false \(got yes\)/],
    [
      { TESSERA_OIDC_ISSUER: "https://id.example.com", TESSERA_OIDC_CLIENT_ID: "c", TESSERA_OIDC_SCOPES: "email profile" },
      /TESSERA_OIDC_SCOPES.*openid/,
    ],
    [
      { TESSERA_OIDC_ISSUER: "https://id.example.com", TESSERA_OIDC_CLIENT_ID: "c", TESSERA_OIDC_NAME: "Acme\u202eOSS" },
      /TESSERA_OIDC_NAME/,
    ],
  ])("refuses %j", (env, message) => {
    expect(() => load(env)).toThrow(ConfigError);
    expect(() => load(env)).toThrow(message);
  });

  it("never repeats the client secret in an error", () => {
    expect(() => load({ TESSERA_OIDC_CLIENT_SECRET: "do-not-print-me" })).toThrow(/^(?!.*do-not-print-me)/);
  });
});
