import { Button, PasswordInput, Stack, TextInput } from "@mantine/core";
import { schemaResolver, useForm } from "@mantine/form";
import { useTranslation } from "react-i18next";
import { z } from "zod";
import { ErrorAlert } from "../../components/error-alert";
import { useLogin } from "./api";
import { AuthFrame } from "./auth-frame";

export function LoginPage() {
  const { t } = useTranslation();
  const login = useLogin();
  const schema = z.object({
    email: z.email(t("validation.email")),
    password: z.string().min(1, t("validation.required")),
  });
  const form = useForm({
    initialValues: { email: "", password: "" },
    validate: schemaResolver(schema, { sync: true }),
  });

  return (
    <AuthFrame title={t("login.title")} subtitle={t("login.subtitle")}>
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
            {...form.getInputProps("password")}
          />
          <Button type="submit" loading={login.isPending}>
            {t("login.submit")}
          </Button>
        </Stack>
      </form>
    </AuthFrame>
  );
}
