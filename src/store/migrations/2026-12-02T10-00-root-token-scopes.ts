import { randomBytes } from "node:crypto";
import { type Kysely, sql } from "kysely";
import { newId } from "../../core/ids.js";

/**
 * Root tokens used to hold organisation management scopes (any list, unvalidated) and could verify
 * whatever they held. They now hold instance scopes (SPEC §2). This maps each stored root token's list
 * so that it gains no authority it did not have:
 *
 * - `instance:admin` (every management operation in every organisation) only if the old list granted
 *   every management scope (each by name or through `resource:*`): such a token could already do every
 *   management operation in every organisation. The one thing it gains is listing and revoking root
 *   tokens, which the CLI on the server could always do, and which is how a leak is contained.
 * - `tokens:verify` only if the old list granted `tokens:verify` (by name or `tokens:*`). Old root tokens
 *   verified whatever they held (finding 9): tokens without it lose verification.
 * - `orgs:provision` never (embed sessions did not exist).
 * - Anything else is dropped. A token left with no scope stays listed (and revocable) but can do nothing;
 *   the operator makes a new one with `tessera root-token create`.
 *
 * Frozen on purpose: it repeats the management scope list as it stood, rather than importing it.
 */
const LEGACY_MANAGEMENT_SCOPES = [
  "tokens:read",
  "tokens:write",
  "tokens:verify",
  "members:read",
  "members:write",
  "audit:read",
  "org:read",
  "org:write",
];

/** The instance scopes for a legacy root token's scope list (pure; exported for its test). */
export function instanceScopesFor(legacy: readonly string[]): string[] {
  const grants = (scope: string) => legacy.includes(scope) || legacy.includes(`${scope.slice(0, scope.indexOf(":"))}:*`);
  const mapped: string[] = [];
  if (LEGACY_MANAGEMENT_SCOPES.every(grants)) mapped.push("instance:admin");
  if (grants("tokens:verify")) mapped.push("tokens:verify");
  return mapped;
}

function parseList(text: string): string[] {
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? value.filter((s): s is string => typeof s === "string") : [];
  } catch {
    return [];
  }
}

interface RootRow {
  id: string;
  name: string;
  scopes: string;
}

export async function up(db: Kysely<unknown>): Promise<void> {
  const rows = (
    await sql<RootRow>`select id, name, scopes from tokens where kind = 'root' and org_id is null order by id`.execute(db)
  ).rows;
  const now = Date.now();
  const traceId = randomBytes(16).toString("hex");
  for (const row of rows) {
    const from = parseList(row.scopes);
    const to = instanceScopesFor(from);
    if (JSON.stringify(from) === JSON.stringify(to)) continue;
    await sql`update tokens set scopes = ${JSON.stringify(to)}, updated_at = ${now} where id = ${row.id}`.execute(db);
    // The change is the operator's to see: one audit event per token, as for any scope change.
    await sql`insert into audit_events (id, at, org_id, action, actor_type, actor_id, actor_name, target_type, target_id, target_name, ip, user_agent, trace_id, details)
      values (${newId("event")}, ${now}, ${null}, 'token.scopes_changed', 'system', ${null}, 'migration 2026-12-02T10-00-root-token-scopes', 'token', ${row.id}, ${row.name}, ${null}, ${null}, ${traceId}, ${JSON.stringify({ from, to, reason: "root tokens hold instance scopes" })})`.execute(
      db,
    );
  }
}

/** Not reversible: the old lists are in the audit events, and restoring them would restore finding 9. */
export async function down(): Promise<void> {}
