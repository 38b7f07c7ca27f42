import { Select } from "@mantine/core";
import { IconBuilding } from "@tabler/icons-react";
import { useTranslation } from "react-i18next";
import { useNavigate } from "react-router-dom";
import type { Membership } from "../../api/types";

/** Shown whenever the user belongs to at least one organisation; switching keeps the current section. */
export function OrgSwitcher({ memberships, currentOrgId }: { memberships: Membership[]; currentOrgId: string }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  return (
    <Select
      label={t("orgs.switcher")}
      labelProps={{ className: "visually-hidden" }}
      data={memberships.map((m) => ({ value: m.orgId, label: m.orgName }))}
      value={currentOrgId}
      onChange={(orgId) => {
        if (orgId && orgId !== currentOrgId) navigate(`/orgs/${encodeURIComponent(orgId)}`);
      }}
      allowDeselect={false}
      searchable={memberships.length > 6}
      leftSection={<IconBuilding size={16} />}
      w={240}
      size="xs"
    />
  );
}
