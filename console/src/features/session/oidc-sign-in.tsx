import { Alert, Button, Divider, Stack } from "@mantine/core";
import { IconAlertCircle, IconKey } from "@tabler/icons-react";
import { useTranslation } from "react-i18next";
import { useLocation } from "react-router-dom";
import { ErrorAlert } from "../../components/error-alert";
import { SIGNIN_ERROR_PARAM, useSignInMethods, useStartOidcSignIn } from "./api";

const REASONS = [
  "state_mismatch",
  "expired",
  "provider_error",
  "issuer_mismatch",
  "nonce_mismatch",
  "code_rejected",
  "invalid_response",
  "email_not_verified",
  "no_account",
  "account_disabled",
  "account_linked",
  "rate_limited",
] as const;

/**
 * "Sign in with <provider>" when the server has an OpenID Connect provider (nothing otherwise), with the
 * reason of a sign-in the provider's answer was refused for. Comes back to the current page.
 */
export function OidcSignIn({ divider = false }: { divider?: boolean }) {
  const { t } = useTranslation();
  const methods = useSignInMethods();
  const start = useStartOidcSignIn();
  const location = useLocation();
  const params = new URLSearchParams(location.search);
  const reason = params.get(SIGNIN_ERROR_PARAM);
  const provider = methods.data?.oidc;
  if (!provider) return null;
  params.delete(SIGNIN_ERROR_PARAM);
  const search = params.toString();
  const returnTo = `${location.pathname}${search ? `?${search}` : ""}${location.hash}`;
  const known = (REASONS as readonly string[]).includes(reason ?? "");
  return (
    <Stack>
      {reason && (
        <Alert
          role="alert"
          color="red"
          variant="light"
          icon={<IconAlertCircle />}
          title={t("oidc.failed", { name: provider.name })}
        >
          {t(`oidc.errors.${known ? (reason as (typeof REASONS)[number]) : "invalid_response"}`)}
        </Alert>
      )}
      <ErrorAlert error={start.error} />
      <Button
        variant="default"
        leftSection={<IconKey size={16} />}
        loading={start.isPending || start.isSuccess}
        onClick={() => start.mutate({ returnTo })}
      >
        {t("oidc.signIn", { name: provider.name })}
      </Button>
      {divider && methods.data?.password && <Divider label={t("oidc.or")} labelPosition="center" />}
    </Stack>
  );
}

/** Whether password sign-in is on (true while the server has not said: the form shows at once). */
export function usePasswordsEnabled(): boolean {
  return useSignInMethods().data?.password ?? true;
}
