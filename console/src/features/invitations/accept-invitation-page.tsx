import { Alert, Button, Divider, PasswordInput, Stack, Table, Text, TextInput } from "@mantine/core";
import { schemaResolver, useForm } from "@mantine/form";
import { IconAlertCircle, IconUserCheck } from "@tabler/icons-react";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { Link, useLocation, useNavigate } from "react-router-dom";
import { z } from "../../lib/zod";
import { ApiError } from "../../api/client";
import type { InvitationPreview, Me } from "../../api/types";
import { ErrorAlert } from "../../components/error-alert";
import { PageLoader } from "../../components/loading";
import { notifySuccess } from "../../components/notify";
import { useFormat } from "../../lib/format";
import { applyServerFieldErrors } from "../../lib/forms";
import { tokenFromFragment, useLogout, useMe } from "../session/api";
import { AuthFrame } from "../session/auth-frame";
import { LoginPage } from "../session/login-page";
import { OidcSignIn, usePasswordsEnabled } from "../session/oidc-sign-in";
import { MIN_PASSWORD } from "../session/setup-page";
import { useAcceptInvitation, useInvitationPreview } from "./api";

const sameEmail = (a: string, b: string) => a.trim().toLowerCase() === b.trim().toLowerCase();

/**
 * `/accept-invitation#token=…`, with or without a session. The secret stays in the fragment: it is
 * sent only in the API calls' path/body, never as a page request or a Referer.
 */
export function AcceptInvitationPage() {
  const { t } = useTranslation();
  const token = tokenFromFragment(useLocation().hash);
  const me = useMe();
  const preview = useInvitationPreview(token);
  const [signingIn, setSigningIn] = useState(false);
  const passwords = usePasswordsEnabled();

  if (!token) {
    return (
      <AuthFrame title={t("invitation.missingTitle")} subtitle={t("invitation.missing")}>
        <BackHome />
      </AuthFrame>
    );
  }
  if (preview.isPending || me.isPending) return <PageLoader />;
  if (preview.isError) {
    const gone = preview.error instanceof ApiError && preview.error.status === 404;
    return (
      <AuthFrame title={t("invitation.invalidTitle")} subtitle={gone ? t("invitation.invalid") : ""}>
        <Stack>
          {!gone && <ErrorAlert error={preview.error} />}
          <BackHome />
        </Stack>
      </AuthFrame>
    );
  }
  const invitation = preview.data;
  const signedIn = me.data ?? null;

  // Without passwords (TESSERA_OIDC_ONLY) the invited person signs in with the provider, then joins here.
  if (!signedIn && (signingIn || !passwords)) {
    return (
      <LoginPage
        email={invitation.email}
        title={t("invitation.signInTitle")}
        subtitle={t("invitation.signInSubtitle", { email: invitation.email })}
        footer={
          passwords ? (
            <Button variant="subtle" onClick={() => setSigningIn(false)}>
              {t("invitation.backToInvitation")}
            </Button>
          ) : undefined
        }
      />
    );
  }

  return (
    <AuthFrame title={t("invitation.title", { org: invitation.organization.name })} subtitle={t("invitation.subtitle")}>
      <Stack>
        <Summary invitation={invitation} />
        <Divider />
        {signedIn ? (
          sameEmail(signedIn.user.email, invitation.email) ? (
            <Join token={token} invitation={invitation} />
          ) : (
            <OtherAccount me={signedIn} invitation={invitation} />
          )
        ) : (
          <CreateAccount token={token} invitation={invitation} onSignIn={() => setSigningIn(true)} />
        )}
      </Stack>
    </AuthFrame>
  );
}

function BackHome() {
  const { t } = useTranslation();
  return (
    <Button component={Link} to="/" variant="default">
      {t("common.backHome")}
    </Button>
  );
}

function Summary({ invitation }: { invitation: InvitationPreview }) {
  const { t } = useTranslation();
  const format = useFormat();
  const rows: [string, string][] = [
    [t("invitation.organization"), invitation.organization.name],
    [t("invitation.role"), t(`roles.${invitation.role}`)],
    [t("invitation.email"), invitation.email],
    [t("invitation.invitedBy"), invitation.invitedBy.name ?? t("common.unknown")],
    [t("invitation.expires"), format.dateTime(invitation.expiresAt)],
  ];
  return (
    <Table variant="vertical" layout="fixed" withTableBorder={false} verticalSpacing={6}>
      <Table.Tbody>
        {rows.map(([label, value]) => (
          <Table.Tr key={label}>
            <Table.Th w={130} bg="transparent" fw={400} c="dimmed">
              {label}
            </Table.Th>
            <Table.Td fw={500} style={{ overflowWrap: "anywhere" }}>
              {value}
            </Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

/** After accepting, `me` already lists the new membership (the mutation awaited it). */
function useJoined() {
  const { t } = useTranslation();
  const navigate = useNavigate();
  return (org: { id: string; name: string }) => {
    notifySuccess(t("invitation.joined", { org: org.name }));
    navigate(`/orgs/${encodeURIComponent(org.id)}`, { replace: true });
  };
}

function Join({ token, invitation }: { token: string; invitation: InvitationPreview }) {
  const { t } = useTranslation();
  const accept = useAcceptInvitation();
  const joined = useJoined();
  return (
    <Stack>
      <ErrorAlert error={accept.error} />
      <Button
        leftSection={<IconUserCheck size={16} />}
        loading={accept.isPending}
        onClick={async () => {
          try {
            joined((await accept.mutateAsync({ token })).organization);
          } catch {
            // shown by the ErrorAlert
          }
        }}
      >
        {t("invitation.join", { org: invitation.organization.name })}
      </Button>
    </Stack>
  );
}

function OtherAccount({ me, invitation }: { me: Me; invitation: InvitationPreview }) {
  const { t } = useTranslation();
  const logout = useLogout();
  return (
    <Stack>
      <Alert color="yellow" variant="light" icon={<IconAlertCircle />} title={t("invitation.otherAccountTitle")} role="alert">
        {t("invitation.otherAccount", { current: me.user.email, email: invitation.email })}
      </Alert>
      <Button variant="default" loading={logout.isPending} onClick={() => logout.mutate()}>
        {t("invitation.signOut")}
      </Button>
    </Stack>
  );
}

function CreateAccount({
  token,
  invitation,
  onSignIn,
}: {
  token: string;
  invitation: InvitationPreview;
  onSignIn: () => void;
}) {
  const { t } = useTranslation();
  const accept = useAcceptInvitation();
  const joined = useJoined();
  const schema = z
    .object({
      name: z.string().trim().min(1, t("validation.required")),
      password: z.string().min(MIN_PASSWORD, t("validation.passwordLength", { count: MIN_PASSWORD })),
      confirm: z.string(),
    })
    .refine((v) => v.confirm === v.password, { path: ["confirm"], message: t("validation.passwordMismatch") });
  const form = useForm({
    initialValues: { name: "", password: "", confirm: "" },
    validate: schemaResolver(schema, { sync: true }),
  });
  const conflict = accept.error instanceof ApiError && accept.error.status === 409;

  return (
    <Stack>
      <form
        noValidate
        aria-labelledby="create-account-title"
        onSubmit={form.onSubmit(async (values) => {
          try {
            const result = await accept.mutateAsync({ token, name: values.name.trim(), password: values.password });
            joined(result.organization);
          } catch (error) {
            applyServerFieldErrors(form, error);
          }
        })}
      >
        <Stack>
          <Text fw={600} id="create-account-title">
            {t("invitation.createTitle")}
          </Text>
          <ErrorAlert error={accept.error} title={conflict ? t("invitation.conflictTitle") : undefined} />
          <TextInput
            label={t("invitation.email")}
            value={invitation.email}
            autoComplete="username"
            variant="filled"
            readOnly
          />
          <TextInput label={t("invitation.name")} autoComplete="name" required {...form.getInputProps("name")} />
          <PasswordInput
            label={t("invitation.password")}
            description={t("invitation.passwordHint", { count: MIN_PASSWORD })}
            autoComplete="new-password"
            required
            {...form.getInputProps("password")}
          />
          <PasswordInput
            label={t("invitation.confirm")}
            autoComplete="new-password"
            required
            {...form.getInputProps("confirm")}
          />
          <Button type="submit" loading={accept.isPending}>
            {t("invitation.create")}
          </Button>
        </Stack>
      </form>
      <Divider />
      <Stack gap={4} align="center">
        <Text size="sm" c="dimmed">
          {t("invitation.haveAccount")}
        </Text>
        <Button variant={conflict ? "filled" : "light"} onClick={onSignIn}>
          {t("invitation.signInAs", { email: invitation.email })}
        </Button>
      </Stack>
      <OidcSignIn />
    </Stack>
  );
}
