import { describe, expect, it } from "vitest";
import { loadConfig } from "../config.js";
import { DEFAULT_QUOTAS, QUOTA_CEILING, QUOTA_ENV, QUOTA_NAMES, quotaRefusal } from "./quotas.js";

describe("quotas", () => {
  it("refuse only past the maximum, naming the quota and its maximum", () => {
    expect(quotaRefusal("tokensPerOrganization", 10, 9)).toBeNull();
    const refusal = quotaRefusal("tokensPerOrganization", 10, 10);
    expect(refusal?.code).toBe("quota_exceeded");
    expect(refusal?.limit).toEqual({ name: "tokensPerOrganization", max: 10 });
    expect(refusal?.message).toContain("(tokensPerOrganization)");
    expect(quotaRefusal("membersPerOrganization", 10, 8, 3)?.limit?.name).toBe("membersPerOrganization");
    // A catalogue is a size: exactly the maximum fits.
    expect(quotaRefusal("scopesPerCatalogue", 500, 500, 0)).toBeNull();
    expect(quotaRefusal("scopesPerCatalogue", 500, 501, 0)?.code).toBe("quota_exceeded");
  });

  it("are read from the environment, with generous defaults and bounded values", () => {
    expect(loadConfig({}).quotas).toEqual(DEFAULT_QUOTAS);
    for (const name of QUOTA_NAMES) expect(DEFAULT_QUOTAS[name]).toBeLessThanOrEqual(QUOTA_CEILING[name]);
    expect(loadConfig({ TESSERA_MAX_TOKENS_PER_ORG: "25" }).quotas.tokensPerOrganization).toBe(25);
    for (const bad of ["0", "-1", "1.5", "lots", String(QUOTA_CEILING.scopesPerCatalogue + 1)]) {
      expect(() => loadConfig({ [QUOTA_ENV.scopesPerCatalogue]: bad })).toThrow(/TESSERA_MAX_CATALOGUE_SCOPES/);
    }
  });

  it("come with retention periods read from the environment", () => {
    const defaults = loadConfig({});
    expect(defaults).toMatchObject({ retentionIntervalMs: 3_600_000, usageRetentionDays: 400, instanceAuditRetentionDays: 90 });
    const set = loadConfig({
      TESSERA_USAGE_RETENTION_DAYS: "30",
      TESSERA_INSTANCE_AUDIT_RETENTION_DAYS: "7",
      TESSERA_RETENTION_INTERVAL_SECONDS: "60",
    });
    expect(set).toMatchObject({ retentionIntervalMs: 60_000, usageRetentionDays: 30, instanceAuditRetentionDays: 7 });
    expect(() => loadConfig({ TESSERA_USAGE_RETENTION_DAYS: "0" })).toThrow(/TESSERA_USAGE_RETENTION_DAYS/);
  });
});
