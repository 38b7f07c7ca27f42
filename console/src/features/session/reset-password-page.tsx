import { Alert, Anchor, Button, PasswordInput, Stack, TextInput } from "@mantine/core";
import { schemaResolver, useForm } from "@mantine/form";
import { IconMailCheck } from "@tabler/icons-react";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { Link, useLocation } from "react-router-dom";
import { z } from "../../lib/zod";
import { ErrorAlert } from "../../components/error-alert";
import { applyServerFieldErrors } from "../../lib/forms";
import { tokenFromFragment, useConfirmPasswordReset, useRequestPasswordReset } from "./api";
import { AuthFrame } from "./auth-frame";
import { MIN_PASSWORD } from "./setup-page";

/**
 * `/reset-password`, reachable with or without a session: without a token it asks for the email;
 * the mailed link (`#token=…`) opens the form for the new password.
 */
export function ResetPasswordPage() {
  const token = tokenFromFragment(useLocation().hash);
  return token ? <ChooseNewPassword token={token} /> : <RequestReset />;
}

function BackToSignIn() {
  const { t } = useTranslation();
  return (
    <Anchor component={Link} to="/" size="sm" ta="center">
      {t("reset.backToSignIn")}
    </Anchor>
  );
}

function RequestReset() {
  const { t } = useTranslation();
  const request = useRequestPasswordReset();
  const [sentTo, setSentTo] = useState<string | null>(null);
  const schema = z.object({ email: z.email(t("validation.email")) });
  const form = useForm({ initialValues: { email: "" }, validate: schemaResolver(schema, { sync: true }) });

  return (
    <AuthFrame title={t("reset.title")} subtitle={t("reset.subtitle")}>
      {sentTo ? (
        <Stack>
          <Alert color="green" variant="light" icon={<IconMailCheck />} title={t("reset.sentTitle")} role="status">
            {t("reset.sent", { email: sentTo })}
          </Alert>
          <BackToSignIn />
        </Stack>
      ) : (
        <form
          noValidate
          onSubmit={form.onSubmit(async (values) => {
            const email = values.email.trim();
            try {
              await request.mutateAsync({ email });
              setSentTo(email);
            } catch (error) {
              applyServerFieldErrors(form, error);
            }
          })}
        >
          <Stack>
            <ErrorAlert error={request.error} />
            <TextInput
              label={t("reset.email")}
              type="email"
              autoComplete="username"
              required
              {...form.getInputProps("email")}
            />
            <Button type="submit" loading={request.isPending}>
              {t("reset.submit")}
            </Button>
            <BackToSignIn />
          </Stack>
        </form>
      )}
    </AuthFrame>
  );
}

function ChooseNewPassword({ token }: { token: string }) {
  const { t } = useTranslation();
  const confirm = useConfirmPasswordReset();
  const schema = z
    .object({
      password: z.string().min(MIN_PASSWORD, t("validation.passwordLength", { count: MIN_PASSWORD })),
      confirm: z.string(),
    })
    .refine((v) => v.confirm === v.password, { path: ["confirm"], message: t("validation.passwordMismatch") });
  const form = useForm({
    initialValues: { password: "", confirm: "" },
    validate: schemaResolver(schema, { sync: true }),
  });

  if (confirm.isSuccess) {
    return (
      <AuthFrame title={t("reset.doneTitle")} subtitle={t("reset.done")}>
        <Stack>
          {/* A full load: the session (if any) has just ended and the URL still holds the used token. */}
          <Button component="a" href="/">
            {t("reset.signIn")}
          </Button>
        </Stack>
      </AuthFrame>
    );
  }

  return (
    <AuthFrame title={t("reset.chooseTitle")} subtitle={t("reset.chooseSubtitle")}>
      <form
        noValidate
        onSubmit={form.onSubmit(async (values) => {
          try {
            await confirm.mutateAsync({ token, password: values.password });
          } catch (error) {
            applyServerFieldErrors(form, error);
          }
        })}
      >
        <Stack>
          <ErrorAlert error={confirm.error} />
          <PasswordInput
            label={t("reset.password")}
            description={t("invitation.passwordHint", { count: MIN_PASSWORD })}
            autoComplete="new-password"
            required
            {...form.getInputProps("password")}
          />
          <PasswordInput
            label={t("reset.confirm")}
            autoComplete="new-password"
            required
            {...form.getInputProps("confirm")}
          />
          <Button type="submit" loading={confirm.isPending}>
            {t("reset.save")}
          </Button>
          <BackToSignIn />
        </Stack>
      </form>
    </AuthFrame>
  );
}
