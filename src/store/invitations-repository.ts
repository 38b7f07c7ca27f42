import type { Role } from "../core/roles.js";
import { insertOrConflict } from "./conflicts.js";
import type { Db } from "./database.js";
import type { InvitationsTable } from "./schema.js";

export interface InvitationRecord {
  id: string;
  orgId: string;
  email: string;
  role: Role;
  invitedById: string | null;
  invitedByName: string | null;
  createdAt: number;
  expiresAt: number;
  acceptedAt: number | null;
  acceptedById: string | null;
  revokedAt: number | null;
}

export type InvitationStatus = "pending" | "accepted" | "revoked" | "expired";

export function invitationStatus(i: InvitationRecord, now: number): InvitationStatus {
  if (i.acceptedAt !== null) return "accepted";
  if (i.revokedAt !== null) return "revoked";
  if (i.expiresAt <= now) return "expired";
  return "pending";
}

function fromRow(row: InvitationsTable): InvitationRecord {
  return {
    id: row.id,
    orgId: row.org_id,
    email: row.email,
    role: row.role as Role,
    invitedById: row.invited_by_id,
    invitedByName: row.invited_by_name,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    acceptedAt: row.accepted_at,
    acceptedById: row.accepted_by_id,
    revokedAt: row.revoked_at,
  };
}

export async function insertInvitation(db: Db, i: InvitationRecord, secretHash: string): Promise<void> {
  await insertOrConflict(
    db
      .insertInto("invitations")
      .values({
        id: i.id,
        org_id: i.orgId,
        email: i.email,
        role: i.role,
        secret_hash: secretHash,
        invited_by_id: i.invitedById,
        invited_by_name: i.invitedByName,
        created_at: i.createdAt,
        expires_at: i.expiresAt,
        accepted_at: null,
        accepted_by_id: null,
        revoked_at: null,
      })
      .execute(),
    "This email was invited at the same moment by someone else; reload the invitations",
  );
}

/** Revokes the open (not accepted, not revoked) invitations of `email`: a new invitation replaces them. */
export async function revokeOpenInvitations(db: Db, orgId: string, email: string, now: number): Promise<number> {
  const result = await db
    .updateTable("invitations")
    .set({ revoked_at: now })
    .where("org_id", "=", orgId)
    .where("email", "=", email)
    .where("accepted_at", "is", null)
    .where("revoked_at", "is", null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

export async function findInvitation(db: Db, orgId: string, id: string): Promise<InvitationRecord | undefined> {
  const row = await db.selectFrom("invitations").selectAll().where("org_id", "=", orgId).where("id", "=", id).executeTakeFirst();
  return row ? fromRow(row) : undefined;
}

export async function findInvitationBySecretHash(db: Db, secretHash: string): Promise<InvitationRecord | undefined> {
  const row = await db.selectFrom("invitations").selectAll().where("secret_hash", "=", secretHash).executeTakeFirst();
  return row ? fromRow(row) : undefined;
}

/** Newest first; the caller orders pending ones first. */
export async function listInvitations(db: Db, orgId: string): Promise<InvitationRecord[]> {
  const rows = await db
    .selectFrom("invitations")
    .selectAll()
    .where("org_id", "=", orgId)
    .orderBy("created_at", "desc")
    .orderBy("id", "desc")
    .limit(1000)
    .execute();
  return rows.map(fromRow);
}

/**
 * Marks the invitation used, only if it still is open and unexpired: of two concurrent accepts exactly
 * one sees `true` (PostgreSQL re-checks the condition after the first commits; SQLite is serial).
 */
export async function claimInvitation(db: Db, id: string, userId: string, now: number): Promise<boolean> {
  const result = await db
    .updateTable("invitations")
    .set({ accepted_at: now, accepted_by_id: userId })
    .where("id", "=", id)
    .where("accepted_at", "is", null)
    .where("revoked_at", "is", null)
    .where("expires_at", ">", now)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export async function revokeInvitation(db: Db, id: string, now: number): Promise<boolean> {
  const result = await db
    .updateTable("invitations")
    .set({ revoked_at: now })
    .where("id", "=", id)
    .where("accepted_at", "is", null)
    .where("revoked_at", "is", null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Whether `email` (stored lower-cased) has an invitation that can still be accepted, in any organisation. */
export async function hasPendingInvitation(db: Db, email: string, now: number): Promise<boolean> {
  const row = await db
    .selectFrom("invitations")
    .select("id")
    .where("email", "=", email)
    .where("accepted_at", "is", null)
    .where("revoked_at", "is", null)
    .where("expires_at", ">", now)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}
