import { TesseraError } from "../core/errors.js";
import type { Decision } from "../core/policy.js";
import { MANAGEMENT_SCOPE_NAMES } from "../core/scopes.js";
import type { Db } from "../store/database.js";
import { listProductScopes } from "../store/orgs-repository.js";

/**
 * Turns a policy refusal into the error the HTTP layer maps (403, 404 or 400 naming the field). Every use
 * case calls it with the policy's decision before it acts.
 */
export function enforce(decision: Decision): void {
  if (decision.allowed) return;
  if (decision.code === "validation_failed") {
    const field = decision.field ?? "body";
    throw new TesseraError("validation_failed", `${field}: ${decision.reason}`, {
      fields: [{ field, message: decision.reason }],
    });
  }
  throw new TesseraError(
    decision.code,
    decision.reason,
    decision.missingScope === undefined ? {} : { missingScope: decision.missingScope },
  );
}

/**
 * The organisation's scope names (management + product), read with `db` — pass the use case's
 * transaction when inside one (SQLite has one connection: a read on the outer handle would wait forever).
 */
export async function catalogueNames(db: Db, orgId: string): Promise<string[]> {
  const product = await listProductScopes(db, orgId);
  return [...MANAGEMENT_SCOPE_NAMES, ...product.map((s) => s.name)];
}
