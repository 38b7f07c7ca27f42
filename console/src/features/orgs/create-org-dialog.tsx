import { Button, Group, Stack, TextInput } from "@mantine/core";
import { Dialog } from "../../components/dialog";
import { schemaResolver, useForm } from "@mantine/form";
import { useTranslation } from "react-i18next";
import { useNavigate } from "react-router-dom";
import { z } from "../../lib/zod";
import { ErrorAlert } from "../../components/error-alert";
import { notifySuccess } from "../../components/notify";
import { useCreateOrg } from "./api";

export function CreateOrgDialog({ opened, onClose }: { opened: boolean; onClose: () => void }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const create = useCreateOrg();
  const form = useForm({
    initialValues: { name: "" },
    validate: schemaResolver(z.object({ name: z.string().trim().min(1, t("validation.required")) }), { sync: true }),
  });
  const close = () => {
    form.reset();
    create.reset();
    onClose();
  };
  return (
    <Dialog opened={opened} onClose={close} title={t("orgs.createTitle")}>
      <form
        noValidate
        onSubmit={form.onSubmit(async (values) => {
          const org = await create.mutateAsync({ name: values.name.trim() }).catch(() => null);
          if (!org) return;
          notifySuccess(t("orgs.created", { name: org.name }));
          close();
          navigate(`/orgs/${encodeURIComponent(org.id)}`);
        })}
      >
        <Stack>
          <ErrorAlert error={create.error} />
          <TextInput label={t("orgs.name")} required data-autofocus {...form.getInputProps("name")} />
          <Group justify="flex-end">
            <Button variant="default" onClick={close}>
              {t("common.cancel")}
            </Button>
            <Button type="submit" loading={create.isPending}>
              {t("orgs.create")}
            </Button>
          </Group>
        </Stack>
      </form>
    </Dialog>
  );
}
