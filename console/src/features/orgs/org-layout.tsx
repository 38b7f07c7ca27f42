import { Alert, Button, Stack, Text, Title } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { Link, Navigate, Outlet, useParams } from "react-router-dom";
import type { Me } from "../../api/types";
import { AppLayout } from "../../components/app-layout";
import { ErrorAlert } from "../../components/error-alert";
import { PageLoader } from "../../components/loading";
import { can } from "../../lib/permissions";
import { useOrg } from "./api";
import { OrgContext, useCurrentOrg } from "./org-context";

/** Resolves `/orgs/:orgId`: the membership (role) from `/v1/me` and the organisation with its settings. */
export function OrgLayout({ me }: { me: Me }) {
  const { t } = useTranslation();
  const { orgId = "" } = useParams();
  const membership = me.memberships.find((m) => m.orgId === orgId);
  const org = useOrg(orgId);

  if (!membership) {
    return (
      <AppLayout me={me}>
        <Stack maw={560}>
          <Title order={1} size="h2">
            {t("orgs.notFoundTitle")}
          </Title>
          <Text>{t("orgs.notFound")}</Text>
          <Button component={Link} to="/" w="fit-content">
            {t("common.backHome")}
          </Button>
        </Stack>
      </AppLayout>
    );
  }

  return (
    <AppLayout me={me} orgId={orgId} role={membership.role} settings={org.data?.settings}>
      {org.isPending ? (
        <PageLoader />
      ) : org.isError ? (
        <ErrorAlert error={org.error} />
      ) : (
        <OrgContext.Provider value={{ org: org.data, role: membership.role, me }}>
          <Outlet />
        </OrgContext.Provider>
      )}
    </AppLayout>
  );
}

/** `/orgs/:orgId` → the first section the role may open. */
export function OrgIndexRedirect() {
  const { org, role } = useCurrentOrg();
  const base = `/orgs/${encodeURIComponent(org.id)}`;
  return <Navigate replace to={can.seeTokens(role, org.settings) ? `${base}/tokens` : `${base}/settings`} />;
}

/** Rendered in place of a section the role may not open (e.g. a viewer typing the tokens URL). */
export function Forbidden() {
  const { t } = useTranslation();
  return (
    <Alert color="gray" title={t("errors.forbiddenTitle")} role="alert">
      {t("errors.forbidden")}
    </Alert>
  );
}
