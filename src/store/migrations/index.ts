import type { Migration, MigrationProvider } from "kysely";
import * as initial from "./2026-11-23T12-00-initial.js";
import * as rootTokenScopes from "./2026-12-02T10-00-root-token-scopes.js";
import * as invitations from "./2026-12-02T11-00-invitations.js";
import * as retentionIndexes from "./2026-12-02T12-00-retention-indexes.js";
import * as embed from "./2026-12-03T11-00-embed.js";
import * as oidcIdentities from "./2026-12-03T11-30-oidc-identities.js";
import * as governance from "./2026-12-03T12-00-governance.js";
import * as limits from "./2026-12-04T10-00-limits.js";
import * as webhooks from "./2026-12-04T11-00-webhooks.js";
import * as notices from "./2026-12-04T12-00-notices.js";
import * as tokenSearch from "./2026-12-04T13-00-token-search.js";
import * as requestBatches from "./2026-12-04T14-00-request-batches.js";

/**
 * Migrations are code, named by timestamp, listed here so that they work from the compiled package
 * (no directory scanning). Kysely runs them in name order and records them in `kysely_migration`.
 */
const MIGRATIONS: Record<string, Migration> = {
  "2026-11-23T12-00-initial": initial,
  "2026-12-02T10-00-root-token-scopes": rootTokenScopes,
  "2026-12-02T11-00-invitations": invitations,
  "2026-12-02T12-00-retention-indexes": retentionIndexes,
  "2026-12-03T11-00-embed": embed,
  "2026-12-03T11-30-oidc-identities": oidcIdentities,
  "2026-12-03T12-00-governance": governance,
  "2026-12-04T10-00-limits": limits,
  "2026-12-04T11-00-webhooks": webhooks,
  "2026-12-04T12-00-notices": notices,
  "2026-12-04T13-00-token-search": tokenSearch,
  "2026-12-04T14-00-request-batches": requestBatches,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => MIGRATIONS,
};
