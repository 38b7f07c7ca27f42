import { Badge, Button, Group, Paper, PasswordInput, Stack, Table, Text, Title } from "@mantine/core";
import { schemaResolver, useForm } from "@mantine/form";
import { IconLogout } from "@tabler/icons-react";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { useLocation } from "react-router-dom";
import { z } from "../../lib/zod";
import type { Me, SessionView } from "../../api/types";
import { AppLayout } from "../../components/app-layout";
import { ConfirmDialog } from "../../components/confirm-dialog";
import { ErrorAlert, useErrorMessage } from "../../components/error-alert";
import { PageLoader } from "../../components/loading";
import { notifyError, notifySuccess } from "../../components/notify";
import { useFormat } from "../../lib/format";
import { applyServerFieldErrors } from "../../lib/forms";
import { MIN_PASSWORD } from "../session/setup-page";
import { useChangePassword, useEndAllSessions, useEndSession, useSessions } from "./api";

/** `/account`: own password and sessions. Keeps the organisation the user came from in the header. */
export function AccountPage({ me }: { me: Me }) {
  const { t } = useTranslation();
  const from = (useLocation().state as { orgId?: string } | null)?.orgId;
  const membership = me.memberships.find((m) => m.orgId === from) ?? me.memberships[0];
  return (
    <AppLayout me={me} orgId={membership?.orgId} role={membership?.role}>
      <Stack gap="lg" maw={980}>
        <Stack gap={4}>
          <Title order={1} size="h2">
            {t("account.title")}
          </Title>
          <Text c="dimmed" size="sm">
            {t("account.intro")}
          </Text>
        </Stack>
        <ChangePassword />
        <Sessions />
      </Stack>
    </AppLayout>
  );
}

function ChangePassword() {
  const { t } = useTranslation();
  const change = useChangePassword();
  const schema = z
    .object({
      currentPassword: z.string().min(1, t("validation.required")),
      newPassword: z.string().min(MIN_PASSWORD, t("validation.passwordLength", { count: MIN_PASSWORD })),
      confirm: z.string(),
    })
    .refine((v) => v.confirm === v.newPassword, { path: ["confirm"], message: t("validation.passwordMismatch") });
  const form = useForm({
    initialValues: { currentPassword: "", newPassword: "", confirm: "" },
    validate: schemaResolver(schema, { sync: true }),
  });

  return (
    <Paper withBorder p="md" radius="md" component="section" aria-labelledby="password-title" maw={520}>
      <form
        noValidate
        onSubmit={form.onSubmit(async (values) => {
          try {
            await change.mutateAsync({ currentPassword: values.currentPassword, newPassword: values.newPassword });
            form.reset();
            notifySuccess(t("account.password.done"));
          } catch (error) {
            applyServerFieldErrors(form, error);
          }
        })}
      >
        <Stack>
          <Title order={2} size="h4" id="password-title">
            {t("account.password.title")}
          </Title>
          <ErrorAlert error={change.error} />
          {/* Lets password managers tie the new password to the right account. */}
          <input type="email" name="username" autoComplete="username" hidden readOnly />
          <PasswordInput
            label={t("account.password.current")}
            autoComplete="current-password"
            required
            {...form.getInputProps("currentPassword")}
          />
          <PasswordInput
            label={t("account.password.new")}
            description={t("account.password.newHint", { count: MIN_PASSWORD })}
            autoComplete="new-password"
            required
            {...form.getInputProps("newPassword")}
          />
          <PasswordInput
            label={t("account.password.confirm")}
            autoComplete="new-password"
            required
            {...form.getInputProps("confirm")}
          />
          <Button type="submit" loading={change.isPending} w="fit-content">
            {t("account.password.submit")}
          </Button>
        </Stack>
      </form>
    </Paper>
  );
}

function Sessions() {
  const { t } = useTranslation();
  const format = useFormat();
  const message = useErrorMessage();
  const sessions = useSessions();
  const end = useEndSession();
  const endAll = useEndAllSessions();
  const [confirmAll, setConfirmAll] = useState(false);
  const device = (s: SessionView) => s.userAgent || t("account.sessions.unknownDevice");

  return (
    <Paper withBorder p="md" radius="md" component="section" aria-labelledby="sessions-title">
      <Stack gap="sm">
        <Group justify="space-between" align="flex-end">
          <Stack gap={4}>
            <Title order={2} size="h4" id="sessions-title">
              {t("account.sessions.title")}
            </Title>
            <Text c="dimmed" size="sm">
              {t("account.sessions.intro")}
            </Text>
          </Stack>
          <Button color="red" variant="outline" leftSection={<IconLogout size={16} />} onClick={() => setConfirmAll(true)}>
            {t("account.sessions.everywhere")}
          </Button>
        </Group>
        {sessions.isPending ? (
          <PageLoader />
        ) : sessions.isError ? (
          <ErrorAlert error={sessions.error} />
        ) : (
          <Table.ScrollContainer minWidth={760}>
            <Table verticalSpacing="sm" aria-label={t("account.sessions.tableLabel")}>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>{t("account.sessions.device")}</Table.Th>
                  <Table.Th>{t("account.sessions.ip")}</Table.Th>
                  <Table.Th>{t("account.sessions.created")}</Table.Th>
                  <Table.Th>{t("account.sessions.lastSeen")}</Table.Th>
                  <Table.Th>{t("account.sessions.expires")}</Table.Th>
                  <Table.Th>
                    <span className="visually-hidden">{t("members.actions")}</span>
                  </Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {sessions.data.map((session) => (
                  <Table.Tr key={session.id}>
                    <Table.Td maw={360}>
                      <Stack gap={4} align="flex-start">
                        {session.current && (
                          <Badge size="sm" variant="light" color="teal">
                            {t("account.sessions.thisDevice")}
                          </Badge>
                        )}
                        <Text size="sm" lineClamp={2} title={session.userAgent ?? undefined}>
                          {device(session)}
                        </Text>
                      </Stack>
                    </Table.Td>
                    <Table.Td>
                      <Text size="sm" ff="monospace">
                        {session.ip ?? t("common.unknown")}
                      </Text>
                    </Table.Td>
                    <Table.Td>
                      <Text size="sm">{format.dateTime(session.createdAt)}</Text>
                    </Table.Td>
                    <Table.Td>
                      <Text size="sm">{session.lastSeenAt ? format.relative(session.lastSeenAt) : "—"}</Text>
                    </Table.Td>
                    <Table.Td>
                      <Text size="sm">{format.dateTime(session.expiresAt)}</Text>
                    </Table.Td>
                    <Table.Td>
                      {!session.current && (
                        <Button
                          variant="subtle"
                          color="red"
                          size="compact-sm"
                          aria-label={t("account.sessions.signOutFor", { device: device(session) })}
                          loading={end.isPending && end.variables === session.id}
                          onClick={() =>
                            end.mutate(session.id, {
                              onSuccess: () => notifySuccess(t("account.sessions.signedOut")),
                              onError: (error) => notifyError(t("account.sessions.failed"), message(error)),
                            })
                          }
                        >
                          {t("account.sessions.signOut")}
                        </Button>
                      )}
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        )}
      </Stack>
      <ConfirmDialog
        opened={confirmAll}
        onClose={() => {
          endAll.reset();
          setConfirmAll(false);
        }}
        title={t("account.sessions.everywhereTitle")}
        body={t("account.sessions.everywhereBody")}
        confirmLabel={t("account.sessions.everywhere")}
        error={endAll.error}
        pending={endAll.isPending}
        onConfirm={() => endAll.mutate()}
      />
    </Paper>
  );
}
