import { Anchor, Button, PasswordInput, Stack, TextInput } from "@mantine/core";
import { isEmail, isNotEmpty, useForm } from "@mantine/form";
import type { ReactNode } from "react";
import { useTranslation } from "react-i18next";
import { Link } from "react-router-dom";
import { ErrorAlert } from "../../components/error-alert";
import { useLogin } from "./api";
import { AuthFrame } from "./auth-frame";
import { OidcSignIn, usePasswordsEnabled } from "./oidc-sign-in";

interface Props {
  /** Prefilled email (signing in to accept an invitation for it). */
  email?: string;
  title?: string;
  subtitle?: string;
  /** Extra content under the form (e.g. "back to the invitation"). */
  footer?: ReactNode;
}

export function LoginPage({ email = "", title, subtitle, footer }: Props) {
  const { t } = useTranslation();
  const login = useLogin();
  const passwords = usePasswordsEnabled();
  // Mantine's own validators rather than zod: this is a first screen, and zod is 31 KB gzip'd.
  const form = useForm({
    initialValues: { email, password: "" },
    validate: { email: isEmail(t("validation.email")), password: isNotEmpty(t("validation.required")) },
  });

  return (
    <AuthFrame title={title ?? t("login.title")} subtitle={subtitle ?? t("login.subtitle")}>
      <OidcSignIn divider />
      {!passwords && footer && <Stack mt="md">{footer}</Stack>}
      {passwords && (
        <form
          noValidate
          onSubmit={form.onSubmit((values) => {
            login.mutate({ email: values.email.trim(), password: values.password });
          })}
        >
          <Stack>
            <ErrorAlert error={login.error} title={t("login.failed")} />
            <TextInput
              label={t("login.email")}
              type="email"
              autoComplete="username"
              required
              {...form.getInputProps("email")}
            />
            <PasswordInput
              label={t("login.password")}
              autoComplete="current-password"
              required
              data-autofocus={email ? true : undefined}
              autoFocus={Boolean(email)}
              {...form.getInputProps("password")}
            />
            <Button type="submit" loading={login.isPending}>
              {t("login.submit")}
            </Button>
            <Anchor component={Link} to="/reset-password" size="sm" ta="center">
              {t("login.forgot")}
            </Anchor>
            {footer}
          </Stack>
        </form>
      )}
    </AuthFrame>
  );
}
