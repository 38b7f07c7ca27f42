import { createContext, useContext } from "react";
import type { Me, Organization, Role } from "../../api/types";

export interface OrgContextValue {
  org: Organization;
  role: Role;
  me: Me;
}

export const OrgContext = createContext<OrgContextValue | null>(null);

/** The organisation picked in the URL, the signed-in user's role in it, and the user. */
export function useCurrentOrg(): OrgContextValue {
  const value = useContext(OrgContext);
  if (!value) throw new Error("useCurrentOrg must be used inside an organisation route");
  return value;
}
