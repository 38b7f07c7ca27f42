import { AppShell, Burger, Button, Group, NavLink, Text, UnstyledButton } from "@mantine/core";
import { useDisclosure } from "@mantine/hooks";
import {
  IconBuilding,
  IconChevronDown,
  IconKey,
  IconListDetails,
  IconLogout,
  IconPlus,
  IconUserCircle,
  IconUsers,
  IconWebhook,
} from "@tabler/icons-react";
import { type ReactNode, useState } from "react";
import { useTranslation } from "react-i18next";
import { NavLink as RouterNavLink } from "react-router-dom";
import type { Me, OrgSettings, Role } from "../api/types";
import { OrgSwitcher } from "../features/orgs/org-switcher";
import { useLogout } from "../features/session/api";
import { can } from "../lib/permissions";
import { ActionMenu } from "./action-menu";
import { LanguageSwitcher } from "./language-switcher";
import { lazyDialog } from "./lazy-dialog";
import { Logo } from "./logo";

const CreateOrgDialog = lazyDialog(
  () => import("../features/orgs/create-org-dialog").then((m) => m.CreateOrgDialog),
  (p) => p.opened,
);

interface Props {
  me: Me;
  orgId?: string;
  role?: Role;
  /** The organisation's settings once loaded (they can hide the tokens screen from members). */
  settings?: OrgSettings;
  children: ReactNode;
}

/** Header (organisation switcher, language, account) + "Settings" navigation for the current organisation. */
export function AppLayout({ me, orgId, role, settings, children }: Props) {
  const { t } = useTranslation();
  const [opened, { toggle, close }] = useDisclosure();
  const [createOrgOpen, setCreateOrgOpen] = useState(false);
  const logout = useLogout();
  const base = orgId ? `/orgs/${encodeURIComponent(orgId)}` : "";

  const links =
    orgId && role
      ? [
          can.seeTokens(role, settings) && { to: `${base}/tokens`, label: t("nav.tokens"), icon: IconKey },
          can.seeMembers(role) && { to: `${base}/members`, label: t("nav.members"), icon: IconUsers },
          can.readAudit(role) && { to: `${base}/audit`, label: t("nav.audit"), icon: IconListDetails },
          can.readAudit(role) && { to: `${base}/webhooks`, label: t("webhooks.nav"), icon: IconWebhook },
          { to: `${base}/settings`, label: t("nav.organization"), icon: IconBuilding },
        ].filter((l): l is { to: string; label: string; icon: typeof IconKey } => Boolean(l))
      : [];

  return (
    <AppShell
      header={{ height: 60 }}
      navbar={{ width: 240, breakpoint: "sm", collapsed: { mobile: !opened } }}
      padding="lg"
    >
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="md" wrap="nowrap">
            <Burger
              opened={opened}
              onClick={toggle}
              hiddenFrom="sm"
              size="sm"
              aria-label={t("nav.toggle")}
            />
            <Logo />
            {orgId && me.memberships.length > 0 && <OrgSwitcher memberships={me.memberships} currentOrgId={orgId} />}
          </Group>
          <Group gap="sm" wrap="nowrap">
            <LanguageSwitcher forAccount />
            <ActionMenu
              heading={me.user.email}
              trigger={
                <UnstyledButton aria-label={t("account.menu", { name: me.user.name })}>
                  <Group gap={4} wrap="nowrap">
                    <Text size="sm" fw={500} visibleFrom="sm">
                      {me.user.name}
                    </Text>
                    <IconChevronDown size={14} />
                  </Group>
                </UnstyledButton>
              }
              items={[
                {
                  key: "account",
                  label: t("account.open"),
                  icon: <IconUserCircle size={14} />,
                  to: "/account",
                  state: orgId ? { orgId } : undefined,
                },
                { key: "org", label: t("orgs.createTitle"), icon: <IconPlus size={14} />, onClick: () => setCreateOrgOpen(true) },
                { key: "logout", label: t("account.signOut"), icon: <IconLogout size={14} />, onClick: () => logout.mutate() },
              ]}
            />
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="sm" aria-label={t("nav.label")} style={{ overflowY: "auto" }}>
        <div>
          {links.length > 0 && (
            <>
              <Text size="xs" fw={700} c="dimmed" tt="uppercase" px="sm" py="xs">
                {t("nav.settings")}
              </Text>
              {links.map((link) => (
                <NavLink
                  key={link.to}
                  component={RouterNavLink}
                  to={link.to}
                  label={link.label}
                  leftSection={<link.icon size={16} />}
                  onClick={close}
                />
              ))}
            </>
          )}
          {!orgId && (
            <Button variant="light" fullWidth leftSection={<IconPlus size={14} />} onClick={() => setCreateOrgOpen(true)}>
              {t("orgs.createTitle")}
            </Button>
          )}
        </div>
      </AppShell.Navbar>
      <AppShell.Main>{children}</AppShell.Main>
      <CreateOrgDialog opened={createOrgOpen} onClose={() => setCreateOrgOpen(false)} />
    </AppShell>
  );
}
