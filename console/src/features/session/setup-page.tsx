import { Button, PasswordInput, Stack, TextInput } from "@mantine/core";
import { hasLength, isEmail, isNotEmpty, useForm } from "@mantine/form";
import { useTranslation } from "react-i18next";
import { ErrorAlert } from "../../components/error-alert";
import { applyServerFieldErrors } from "../../lib/forms";
import { useSetup } from "./api";
import { AuthFrame } from "./auth-frame";

export const MIN_PASSWORD = 12;

export function SetupPage() {
  const { t } = useTranslation();
  const setup = useSetup();
  // Mantine's own validators rather than zod: this is a first screen, and zod is 31 KB gzip'd.
  const form = useForm({
    initialValues: { name: "", email: "", password: "", organization: "" },
    validate: {
      name: isNotEmpty(t("validation.required")),
      email: isEmail(t("validation.email")),
      password: hasLength({ min: MIN_PASSWORD }, t("validation.passwordLength", { count: MIN_PASSWORD })),
      organization: isNotEmpty(t("validation.required")),
    },
  });

  const submit = form.onSubmit(async (values) => {
    try {
      await setup.mutateAsync({
        name: values.name.trim(),
        email: values.email.trim(),
        password: values.password,
        organization: { name: values.organization.trim() },
      });
    } catch (error) {
      applyServerFieldErrors(form, error, { "organization.name": "organization" });
    }
  });

  return (
    <AuthFrame title={t("setup.title")} subtitle={t("setup.subtitle")}>
      <form onSubmit={submit} noValidate>
        <Stack>
          <ErrorAlert error={setup.error} title={t("setup.failed")} />
          <TextInput label={t("setup.name")} autoComplete="name" required {...form.getInputProps("name")} />
          <TextInput
            label={t("setup.email")}
            type="email"
            autoComplete="email"
            required
            {...form.getInputProps("email")}
          />
          <PasswordInput
            label={t("setup.password")}
            description={t("setup.passwordHint", { count: MIN_PASSWORD })}
            autoComplete="new-password"
            required
            {...form.getInputProps("password")}
          />
          <TextInput
            label={t("setup.organization")}
            autoComplete="organization"
            required
            {...form.getInputProps("organization")}
          />
          <Button type="submit" loading={setup.isPending}>
            {t("setup.submit")}
          </Button>
        </Stack>
      </form>
    </AuthFrame>
  );
}
