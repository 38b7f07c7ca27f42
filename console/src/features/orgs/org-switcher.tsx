import { NativeSelect } from "@mantine/core";
import { IconBuilding } from "@tabler/icons-react";
import { useTranslation } from "react-i18next";
import { useNavigate } from "react-router-dom";
import type { Membership } from "../../api/types";

/** Switches between the organisations the user belongs to. */
export function OrgSwitcher({ memberships, currentOrgId }: { memberships: Membership[]; currentOrgId: string }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  return (
    <NativeSelect
      label={t("orgs.switcher")}
      labelProps={{ className: "visually-hidden" }}
      data={memberships.map((m) => ({ value: m.orgId, label: m.orgName }))}
      value={currentOrgId}
      onChange={(e) => {
        const orgId = e.currentTarget.value;
        if (orgId !== currentOrgId) navigate(`/orgs/${encodeURIComponent(orgId)}`);
      }}
      leftSection={<IconBuilding size={16} />}
      w={240}
      size="xs"
    />
  );
}
