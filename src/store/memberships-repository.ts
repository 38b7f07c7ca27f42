import type { Role } from "../core/roles.js";
import { insertOrConflict } from "./conflicts.js";
import type { Db } from "./database.js";

export interface MemberRecord {
  orgId: string;
  userId: string;
  email: string;
  name: string;
  role: Role;
  disabledAt: number | null;
  createdAt: number;
}

function memberQuery(db: Db) {
  return db
    .selectFrom("memberships")
    .innerJoin("users", "users.id", "memberships.user_id")
    .select([
      "memberships.org_id as orgId",
      "memberships.user_id as userId",
      "users.email as email",
      "users.name as name",
      "memberships.role as role",
      "users.disabled_at as disabledAt",
      "memberships.created_at as createdAt",
    ]);
}

/** A concurrent twin (the same person added twice at once) is a `conflict`, never a 500. */
export async function insertMembership(db: Db, orgId: string, userId: string, role: Role, now: number): Promise<void> {
  await insertOrConflict(
    db.insertInto("memberships").values({ org_id: orgId, user_id: userId, role, created_at: now }).execute(),
    "This person is already a member of the organisation",
  );
}

export async function findMember(db: Db, orgId: string, userId: string): Promise<MemberRecord | undefined> {
  const row = await memberQuery(db)
    .where("memberships.org_id", "=", orgId)
    .where("memberships.user_id", "=", userId)
    .executeTakeFirst();
  return row as MemberRecord | undefined;
}

export async function listMembers(db: Db, orgId: string): Promise<MemberRecord[]> {
  const rows = await memberQuery(db).where("memberships.org_id", "=", orgId).orderBy("memberships.created_at").execute();
  return rows as MemberRecord[];
}

export async function updateRole(db: Db, orgId: string, userId: string, role: Role): Promise<void> {
  await db.updateTable("memberships").set({ role }).where("org_id", "=", orgId).where("user_id", "=", userId).execute();
}

export async function deleteMembership(db: Db, orgId: string, userId: string): Promise<void> {
  await db.deleteFrom("memberships").where("org_id", "=", orgId).where("user_id", "=", userId).execute();
}

export async function countOwners(db: Db, orgId: string): Promise<number> {
  const row = await db
    .selectFrom("memberships")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("org_id", "=", orgId)
    .where("role", "=", "owner")
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export interface UserMembership {
  orgId: string;
  orgName: string;
  role: Role;
}

export async function listMembershipsOfUser(db: Db, userId: string): Promise<UserMembership[]> {
  const rows = await db
    .selectFrom("memberships")
    .innerJoin("organizations", "organizations.id", "memberships.org_id")
    .select(["memberships.org_id as orgId", "organizations.name as orgName", "memberships.role as role"])
    .where("memberships.user_id", "=", userId)
    .orderBy("memberships.created_at")
    .execute();
  return rows as UserMembership[];
}
