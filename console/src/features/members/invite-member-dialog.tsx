import { Alert, Button, Code, Group, NativeSelect, Stack, Text, TextInput } from "@mantine/core";
import { schemaResolver, useForm } from "@mantine/form";
import { IconAlertTriangle } from "@tabler/icons-react";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { z } from "../../lib/zod";
import type { Locale, Role } from "../../api/types";
import { CopyTextButton } from "../../components/copy-button";
import { Dialog } from "../../components/dialog";
import { ErrorAlert } from "../../components/error-alert";
import { notifySuccess } from "../../components/notify";
import { LANGUAGES } from "../../i18n";
import { applyServerFieldErrors } from "../../lib/forms";
import { can } from "../../lib/permissions";
import { useCurrentOrg } from "../orgs/org-context";
import { useInvite } from "./api";

/**
 * Invite by email with a role the viewer may grant. Without SMTP the server returns the accept link
 * once: it lives only in this dialog's state, like a token secret, and is gone when the dialog closes.
 */
export function InviteMemberDialog({ opened, onClose }: { opened: boolean; onClose: () => void }) {
  const { t, i18n } = useTranslation();
  const { org, role } = useCurrentOrg();
  const invite = useInvite(org.id);
  const roles = can.assignableRoles(role);
  const [link, setLink] = useState<{ email: string; url: string } | null>(null);
  const schema = z.object({
    email: z.email(t("validation.email")),
    role: z.enum(roles as [Role, ...Role[]]),
    locale: z.enum(["en", "it"]),
  });
  const form = useForm({
    initialValues: {
      email: "",
      role: (roles.includes("member") ? "member" : roles[0]) as Role,
      locale: (i18n.language === "it" ? "it" : "en") as Locale,
    },
    validate: schemaResolver(schema, { sync: true }),
  });
  const close = () => {
    form.reset();
    invite.reset();
    setLink(null);
    onClose();
  };

  return (
    <Dialog
      opened={opened}
      onClose={close}
      title={link ? t("members.invite.linkTitle") : t("members.invite.title")}
      size={link ? "lg" : "md"}
    >
      {link ? (
        <Stack>
          <Alert
            color="yellow"
            variant="light"
            icon={<IconAlertTriangle />}
            title={t("members.invite.linkWarningTitle")}
            role="alert"
          >
            {t("members.invite.linkWarning", { email: link.email })}
          </Alert>
          <Stack gap={4}>
            <Text size="sm" fw={500} id="invitation-link-label">
              {t("members.invite.linkLabel", { email: link.email })}
            </Text>
            <Code block className="secret-box" aria-labelledby="invitation-link-label" data-testid="invitation-link">
              {link.url}
            </Code>
          </Stack>
          <Group justify="space-between">
            <CopyTextButton value={link.url} label={t("members.invite.copy")} />
            <Button variant="default" onClick={close}>
              {t("members.invite.done")}
            </Button>
          </Group>
        </Stack>
      ) : (
        <form
          noValidate
          onSubmit={form.onSubmit(async (values) => {
            const email = values.email.trim();
            try {
              const created = await invite.mutateAsync({ email, role: values.role, locale: values.locale });
              if (created.acceptUrl) {
                setLink({ email: created.invitation.email, url: created.acceptUrl });
              } else {
                notifySuccess(t("members.invite.sent", { email: created.invitation.email }));
                close();
              }
            } catch (error) {
              applyServerFieldErrors(form, error);
            }
          })}
        >
          <Stack>
            <Text size="sm" c="dimmed">
              {t("members.invite.intro")}
            </Text>
            <ErrorAlert error={invite.error} />
            <TextInput
              label={t("members.fields.email")}
              type="email"
              autoComplete="off"
              required
              data-autofocus
              {...form.getInputProps("email")}
            />
            <NativeSelect
              label={t("members.fields.role")}
              data={roles.map((r) => ({ value: r, label: t(`roles.${r}`) }))}
              required
              {...form.getInputProps("role")}
            />
            <NativeSelect
              label={t("members.invite.locale")}
              data={LANGUAGES.map((l) => ({ value: l.code, label: l.label }))}
              {...form.getInputProps("locale")}
            />
            <Group justify="flex-end">
              <Button variant="default" onClick={close}>
                {t("common.cancel")}
              </Button>
              <Button type="submit" loading={invite.isPending}>
                {t("members.invite.submit")}
              </Button>
            </Group>
          </Stack>
        </form>
      )}
    </Dialog>
  );
}
