import { DEFAULT_ORG_SETTINGS, type OrgSettings } from "../core/settings.js";
import type { Db } from "./database.js";
import { fromJson, toJson } from "./json.js";
import type { OrganizationRow } from "./schema.js";

export interface OrgRecord {
  id: string;
  name: string;
  settings: OrgSettings;
  createdAt: number;
  updatedAt: number;
  /** The host's id when the host provisioned this organisation (SPEC §9). */
  externalId?: string | null;
}

export function orgFromRow(row: OrganizationRow): OrgRecord {
  return {
    id: row.id,
    name: row.name,
    // Settings added by later versions take their defaults on older rows.
    settings: { ...DEFAULT_ORG_SETTINGS, ...fromJson<Partial<OrgSettings>>(row.settings, {}) },
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    // Only when set: records of everyone else keep their shape.
    ...(row.external_id !== null ? { externalId: row.external_id } : {}),
  };
}

export async function insertOrg(db: Db, org: OrgRecord): Promise<void> {
  await db
    .insertInto("organizations")
    .values({
      id: org.id,
      name: org.name,
      settings: toJson(org.settings),
      created_at: org.createdAt,
      updated_at: org.updatedAt,
    })
    .execute();
}

export async function findOrg(db: Db, id: string): Promise<OrgRecord | undefined> {
  const row = await db.selectFrom("organizations").selectAll().where("id", "=", id).executeTakeFirst();
  return row ? orgFromRow(row) : undefined;
}

export async function listAllOrgs(db: Db): Promise<OrgRecord[]> {
  const rows = await db.selectFrom("organizations").selectAll().orderBy("id").execute();
  return rows.map(orgFromRow);
}

export async function updateOrg(db: Db, org: OrgRecord): Promise<void> {
  await db
    .updateTable("organizations")
    .set({ name: org.name, settings: toJson(org.settings), updated_at: org.updatedAt })
    .where("id", "=", org.id)
    .execute();
}

export async function listProductScopes(db: Db, orgId: string): Promise<{ name: string; description: string }[]> {
  return db.selectFrom("org_scopes").select(["name", "description"]).where("org_id", "=", orgId).orderBy("name").execute();
}

export async function replaceProductScopes(
  db: Db,
  orgId: string,
  scopes: readonly { name: string; description: string }[],
  now: number,
): Promise<void> {
  await db.deleteFrom("org_scopes").where("org_id", "=", orgId).execute();
  if (scopes.length === 0) return;
  await db
    .insertInto("org_scopes")
    .values(scopes.map((s) => ({ org_id: orgId, name: s.name, description: s.description, created_at: now })))
    .execute();
}

/** One page of organisations, oldest first (ids sort by creation time): those after `after`, at most `limit`. */
export interface OrgPageQuery {
  after?: string | undefined;
  limit: number;
}

/** Every organisation (a root token's view), one page, one query. */
export async function listOrgsPage(db: Db, page: OrgPageQuery): Promise<(OrgRecord & { role: null })[]> {
  let query = db.selectFrom("organizations").selectAll().orderBy("id").limit(page.limit);
  if (page.after) query = query.where("id", ">", page.after);
  return (await query.execute()).map((row) => ({ ...orgFromRow(row), role: null }));
}

/** The organisations a user belongs to, with their role in each: one page, one query (no lookup per membership). */
export async function listOrgsOfUser(db: Db, userId: string, page: OrgPageQuery): Promise<(OrgRecord & { role: string })[]> {
  let query = db
    .selectFrom("memberships")
    .innerJoin("organizations", "organizations.id", "memberships.org_id")
    .selectAll("organizations")
    .select("memberships.role as role")
    .where("memberships.user_id", "=", userId)
    .orderBy("organizations.id")
    .limit(page.limit);
  if (page.after) query = query.where("organizations.id", ">", page.after);
  return (await query.execute()).map(({ role, ...row }) => ({ ...orgFromRow(row), role }));
}

/**
 * Locks the organisation's row until the transaction ends (PostgreSQL; SQLite runs write transactions
 * one at a time already): member changes that count owners take it first, so two owners demoting or
 * removing each other at once are serialised and the second sees the first's result.
 */
export async function lockOrg(db: Db, id: string, dialect: "sqlite" | "postgres"): Promise<void> {
  if (dialect !== "postgres") return;
  await db.selectFrom("organizations").select("id").where("id", "=", id).forUpdate().execute();
}
