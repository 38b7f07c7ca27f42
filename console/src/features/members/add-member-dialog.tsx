import { Button, Group, NativeSelect, PasswordInput, Stack, TextInput } from "@mantine/core";
import { Dialog } from "../../components/dialog";
import { schemaResolver, useForm } from "@mantine/form";
import { useTranslation } from "react-i18next";
import { z } from "zod";
import type { Role } from "../../api/types";
import { ErrorAlert } from "../../components/error-alert";
import { notifySuccess } from "../../components/notify";
import { applyServerFieldErrors } from "../../lib/forms";
import { can } from "../../lib/permissions";
import { useCurrentOrg } from "../orgs/org-context";
import { MIN_PASSWORD } from "../session/setup-page";
import { useAddMember } from "./api";

export function AddMemberDialog({ opened, onClose }: { opened: boolean; onClose: () => void }) {
  const { t } = useTranslation();
  const { org, role } = useCurrentOrg();
  const add = useAddMember(org.id);
  const roles = can.assignableRoles(role);
  const schema = z.object({
    email: z.email(t("validation.email")),
    name: z.string().trim().min(1, t("validation.required")),
    role: z.enum(["owner", "admin", "member", "viewer"]),
    password: z.string().min(MIN_PASSWORD, t("validation.passwordLength", { count: MIN_PASSWORD })),
  });
  const form = useForm({
    initialValues: { email: "", name: "", role: "member" as Role, password: "" },
    validate: schemaResolver(schema, { sync: true }),
  });
  const close = () => {
    form.reset();
    add.reset();
    onClose();
  };

  return (
    <Dialog opened={opened} onClose={close} title={t("members.add.title")}>
      <form
        noValidate
        onSubmit={form.onSubmit(async (values) => {
          try {
            const member = await add.mutateAsync({ ...values, email: values.email.trim(), name: values.name.trim() });
            notifySuccess(t("members.add.done", { name: member.name }));
            close();
          } catch (error) {
            applyServerFieldErrors(form, error);
          }
        })}
      >
        <Stack>
          <ErrorAlert error={add.error} />
          <TextInput label={t("members.fields.email")} type="email" required data-autofocus {...form.getInputProps("email")} />
          <TextInput label={t("members.fields.name")} required {...form.getInputProps("name")} />
          <NativeSelect
            label={t("members.fields.role")}
            data={roles.map((r) => ({ value: r, label: t(`roles.${r}`) }))}
            required
            {...form.getInputProps("role")}
          />
          <PasswordInput
            label={t("members.fields.password")}
            description={t("members.add.passwordHint", { count: MIN_PASSWORD })}
            autoComplete="new-password"
            required
            {...form.getInputProps("password")}
          />
          <Group justify="flex-end">
            <Button variant="default" onClick={close}>
              {t("common.cancel")}
            </Button>
            <Button type="submit" loading={add.isPending}>
              {t("members.add.submit")}
            </Button>
          </Group>
        </Stack>
      </form>
    </Dialog>
  );
}
