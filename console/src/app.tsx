import { Button, Stack, Text, Title } from "@mantine/core";
import { type ComponentType, type LazyExoticComponent, lazy, Suspense } from "react";
import { useTranslation } from "react-i18next";
import { Link, Navigate, Route, Routes, useLocation } from "react-router-dom";
import type { Me } from "./api/types";
import { AppLayout } from "./components/app-layout";
import { ErrorAlert } from "./components/error-alert";
import { PageLoader } from "./components/loading";
import { OrgIndexRedirect, OrgLayout } from "./features/orgs/org-layout";
import { useHealth, useMe } from "./features/session/api";

/**
 * Every page is its own chunk (SPEC §7: the first screen loads at most 200 KB of gzip'd JavaScript):
 * the entry holds the shell, and a page's libraries (date pickers, charts, forms) load with the page.
 */
function page<K extends string>(load: () => Promise<Record<K, ComponentType>>, name: K): LazyExoticComponent<ComponentType> {
  return lazy(() => load().then((m) => ({ default: m[name] })));
}

const SetupPage = page(() => import("./features/session/setup-page"), "SetupPage");
const LoginPage = page(() => import("./features/session/login-page"), "LoginPage");
const TokensPage = page(() => import("./features/tokens/tokens-page"), "TokensPage");
const TokenDetailPage = page(() => import("./features/tokens/token-detail-page"), "TokenDetailPage");
const MembersPage = page(() => import("./features/members/members-page"), "MembersPage");
const AuditPage = page(() => import("./features/audit/audit-page"), "AuditPage");
const WebhooksPage = page(() => import("./features/webhooks/webhooks-page"), "WebhooksPage");
const SettingsPage = page(() => import("./features/orgs/settings-page"), "SettingsPage");
const AcceptInvitationPage = page(() => import("./features/invitations/accept-invitation-page"), "AcceptInvitationPage");
const ResetPasswordPage = page(() => import("./features/session/reset-password-page"), "ResetPasswordPage");
const AccountPage = lazy(() => import("./features/account/account-page").then((m) => ({ default: m.AccountPage })));

function Lazy({ page: Page }: { page: LazyExoticComponent<ComponentType> }) {
  return (
    <Suspense fallback={<PageLoader />}>
      <Page />
    </Suspense>
  );
}

/** Pages that work with or without a session; each decides what to show for either. */
const PUBLIC_PAGES: Record<string, LazyExoticComponent<ComponentType>> = {
  "/accept-invitation": AcceptInvitationPage,
  "/reset-password": ResetPasswordPage,
};

// The embedded tokens screen (SPEC §9): its own bearer, no cookie session; loaded only inside the frame.
const EmbedPage = lazy(() => import("./features/embed/embed-page").then((m) => ({ default: m.EmbedPage })));

/** Session gate: public pages, first-run setup, sign-in, or the console. */
export function App() {
  const { pathname } = useLocation();
  // The real address, not the router's: /embed navigates in memory (main.tsx).
  if (window.location.pathname.replace(/\/+$/, "") === "/embed") {
    return (
      <Suspense fallback={<PageLoader />}>
        <EmbedPage />
      </Suspense>
    );
  }
  const Public = PUBLIC_PAGES[pathname.replace(/\/+$/, "")];
  if (Public) return <Lazy page={Public} />;
  return <Gate />;
}

function Gate() {
  const me = useMe();
  const health = useHealth(me.data === null);

  if (me.isPending) return <PageLoader />;
  if (me.isError) return <FatalError error={me.error} />;
  if (me.data === null) {
    if (health.isPending) return <PageLoader />;
    return <Lazy page={health.data?.setupRequired ? SetupPage : LoginPage} />;
  }
  return <SignedIn me={me.data} />;
}

function SignedIn({ me }: { me: Me }) {
  const first = me.memberships[0];
  return (
    <Routes>
      <Route
        path="/"
        element={first ? <Navigate replace to={`/orgs/${encodeURIComponent(first.orgId)}`} /> : <NoOrganization me={me} />}
      />
      <Route
        path="/account"
        element={
          <Suspense fallback={<PageLoader />}>
            <AccountPage me={me} />
          </Suspense>
        }
      />
      <Route path="/orgs/:orgId" element={<OrgLayout me={me} />}>
        <Route index element={<OrgIndexRedirect />} />
        <Route path="tokens" element={<Lazy page={TokensPage} />} />
        <Route path="tokens/:tokenId" element={<Lazy page={TokenDetailPage} />} />
        <Route path="members" element={<Lazy page={MembersPage} />} />
        <Route path="audit" element={<Lazy page={AuditPage} />} />
        <Route path="webhooks" element={<Lazy page={WebhooksPage} />} />
        <Route path="settings" element={<Lazy page={SettingsPage} />} />
        <Route path="*" element={<NotFound />} />
      </Route>
      <Route path="*" element={<Navigate replace to="/" />} />
    </Routes>
  );
}

function NoOrganization({ me }: { me: Me }) {
  const { t } = useTranslation();
  return (
    <AppLayout me={me}>
      <Stack maw={560}>
        <Title order={1} size="h2">
          {t("orgs.noneTitle")}
        </Title>
        <Text>{t("orgs.none")}</Text>
      </Stack>
    </AppLayout>
  );
}

function NotFound() {
  const { t } = useTranslation();
  return (
    <Stack maw={560}>
      <Title order={1} size="h2">
        {t("errors.notFoundTitle")}
      </Title>
      <Button component={Link} to="/" w="fit-content">
        {t("common.backHome")}
      </Button>
    </Stack>
  );
}

function FatalError({ error }: { error: unknown }) {
  const { t } = useTranslation();
  return (
    <Stack p="xl" maw={640} mx="auto">
      <ErrorAlert error={error} />
      <Button onClick={() => window.location.reload()} w="fit-content">
        {t("common.retry")}
      </Button>
    </Stack>
  );
}
