import {
  Alert,
  Badge,
  Button,
  Checkbox,
  Code,
  Group,
  Paper,
  SimpleGrid,
  Stack,
  Switch,
  Table,
  Text,
  Textarea,
  TextInput,
  Title,
} from "@mantine/core";
import { IconAlertTriangle } from "@tabler/icons-react";
import { type FormEvent, useState } from "react";
import { useTranslation } from "react-i18next";
import { ConfirmDialog } from "../../components/confirm-dialog";
import { CopyTextButton } from "../../components/copy-button";
import { Dialog } from "../../components/dialog";
import { ErrorAlert } from "../../components/error-alert";
import { PageLoader } from "../../components/loading";
import { notifySuccess } from "../../components/notify";
import { useFormat } from "../../lib/format";
import { can } from "../../lib/permissions";
import { useCurrentOrg } from "../orgs/org-context";
import { Forbidden } from "../orgs/org-layout";
import {
  useCreateWebhook,
  useDeleteWebhook,
  useDeliveries,
  useRetryDelivery,
  useTestWebhook,
  useUpdateWebhook,
  useWebhooks,
  isWebhookEventType,
  WEBHOOK_EVENT_TYPES,
  type WebhookEventType,
  type Webhook,
  type WebhookInput,
} from "./api";

/** SPEC §10: the organisation's webhook endpoints, owners and admins only (like the audit log). */
export function WebhooksPage() {
  const { role } = useCurrentOrg();
  if (!can.readAudit(role)) return <Forbidden />;
  return <Webhooks />;
}

function Webhooks() {
  const { t } = useTranslation();
  const { org } = useCurrentOrg();
  const list = useWebhooks(org.id);
  const update = useUpdateWebhook(org.id);
  const test = useTestWebhook(org.id);
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<Webhook | null>(null);
  const [deleting, setDeleting] = useState<Webhook | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const remove = useDeleteWebhook(org.id);

  if (list.isPending) return <PageLoader />;
  if (list.isError) return <ErrorAlert error={list.error} />;
  const shown = list.data.find((w) => w.id === selected) ?? null;

  return (
    <Stack>
      <Group justify="space-between">
        <Title order={1} size="h2">
          {t("webhooks.title")}
        </Title>
        <Button onClick={() => setCreating(true)}>{t("webhooks.add")}</Button>
      </Group>
      <Text c="dimmed" size="sm">
        {t("webhooks.intro")}
      </Text>
      <Paper withBorder>
        {list.data.length === 0 ? (
          <Text p="md">{t("webhooks.empty")}</Text>
        ) : (
          <Table.ScrollContainer minWidth={720}>
            <Table verticalSpacing="sm" aria-label={t("webhooks.tableLabel")}>
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>{t("webhooks.fields.url")}</Table.Th>
                  <Table.Th>{t("webhooks.fields.events")}</Table.Th>
                  <Table.Th>{t("webhooks.fields.status")}</Table.Th>
                  <Table.Th>{t("webhooks.fields.enabled")}</Table.Th>
                  <Table.Th>
                    <span className="visually-hidden">{t("webhooks.fields.actions")}</span>
                  </Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {list.data.map((w) => (
                  <Table.Tr key={w.id}>
                    <Table.Td>
                      <Text size="sm" fw={500} style={{ wordBreak: "break-all" }}>
                        {w.url}
                      </Text>
                      {w.description && (
                        <Text size="xs" c="dimmed">
                          {w.description}
                        </Text>
                      )}
                    </Table.Td>
                    <Table.Td>
                      <Text size="sm">{w.eventTypes.length === 0 ? t("webhooks.allEvents") : w.eventTypes.join(", ")}</Text>
                    </Table.Td>
                    <Table.Td>
                      <Badge color={w.status === "failing" ? "red" : "green"} variant="light">
                        {t(`webhooks.status.${w.status}`)}
                      </Badge>
                    </Table.Td>
                    <Table.Td>
                      <Switch
                        checked={w.enabled}
                        aria-label={t("webhooks.enabledFor", { url: w.url })}
                        onChange={(e) => update.mutate({ id: w.id, enabled: e.currentTarget.checked })}
                      />
                    </Table.Td>
                    <Table.Td>
                      <Group gap="xs" justify="flex-end" wrap="nowrap">
                        <Button
                          size="xs"
                          variant="default"
                          loading={test.isPending && test.variables === w.id}
                          onClick={() =>
                            test.mutate(w.id, {
                              onSuccess: () => {
                                setSelected(w.id);
                                notifySuccess(t("webhooks.testQueued"));
                              },
                            })
                          }
                        >
                          {t("webhooks.test")}
                        </Button>
                        <Button size="xs" variant="default" onClick={() => setSelected(w.id)} aria-pressed={selected === w.id}>
                          {t("webhooks.deliveries")}
                        </Button>
                        <Button size="xs" variant="default" onClick={() => setEditing(w)}>
                          {t("webhooks.edit")}
                        </Button>
                        <Button size="xs" color="red" variant="light" onClick={() => setDeleting(w)}>
                          {t("webhooks.delete")}
                        </Button>
                      </Group>
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        )}
      </Paper>
      {test.isError && <ErrorAlert error={test.error} />}
      {update.isError && <ErrorAlert error={update.error} />}
      {shown && <DeliveryLog webhook={shown} />}
      {creating && <CreateDialog onClose={() => setCreating(false)} />}
      {editing && <EditDialog webhook={editing} onClose={() => setEditing(null)} />}
      <ConfirmDialog
        opened={deleting !== null}
        title={t("webhooks.deleteTitle")}
        body={t("webhooks.deleteBody", { url: deleting?.url ?? "" })}
        confirmLabel={t("webhooks.delete")}
        error={remove.error}
        pending={remove.isPending}
        onConfirm={() =>
          deleting &&
          remove.mutate(deleting.id, {
            onSuccess: () => {
              if (selected === deleting.id) setSelected(null);
              setDeleting(null);
              notifySuccess(t("webhooks.deleted"));
            },
          })
        }
        onClose={() => {
          remove.reset();
          setDeleting(null);
        }}
      />
    </Stack>
  );
}

function DeliveryLog({ webhook }: { webhook: Webhook }) {
  const { t } = useTranslation();
  const { org } = useCurrentOrg();
  const format = useFormat();
  const deliveries = useDeliveries(org.id, webhook.id);
  const retry = useRetryDelivery(org.id);
  return (
    <Stack gap="xs">
      <Title order={2} size="h3">
        {t("webhooks.logTitle", { url: webhook.url })}
      </Title>
      {deliveries.isPending ? (
        <PageLoader />
      ) : deliveries.isError ? (
        <ErrorAlert error={deliveries.error} />
      ) : deliveries.data.length === 0 ? (
        <Text size="sm">{t("webhooks.noDeliveries")}</Text>
      ) : (
        <Paper withBorder>
          <Table.ScrollContainer minWidth={720}>
            <Table verticalSpacing="xs" aria-label={t("webhooks.logLabel")} data-testid="webhook-deliveries">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>{t("webhooks.fields.event")}</Table.Th>
                  <Table.Th>{t("webhooks.fields.state")}</Table.Th>
                  <Table.Th>{t("webhooks.fields.attempts")}</Table.Th>
                  <Table.Th>{t("webhooks.fields.response")}</Table.Th>
                  <Table.Th>{t("webhooks.fields.when")}</Table.Th>
                  <Table.Th>
                    <span className="visually-hidden">{t("webhooks.fields.actions")}</span>
                  </Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {deliveries.data.map((d) => (
                  <Table.Tr key={d.id}>
                    <Table.Td>
                      <Text size="sm">{d.type}</Text>
                    </Table.Td>
                    <Table.Td>
                      <Badge color={d.state === "delivered" ? "green" : d.state === "failed" ? "red" : "gray"} variant="light">
                        {t(`webhooks.state.${d.state}`)}
                      </Badge>
                    </Table.Td>
                    <Table.Td>{d.attempts}</Table.Td>
                    <Table.Td>
                      <Text size="sm">
                        {d.lastStatus ?? "—"}
                        {d.lastDurationMs !== null && ` · ${d.lastDurationMs} ms`}
                      </Text>
                      {d.lastError && (
                        <Text size="xs" c="dimmed">
                          {d.lastError}
                        </Text>
                      )}
                    </Table.Td>
                    <Table.Td>
                      <Text size="sm">{format.dateTime(d.lastAttemptAt ?? d.createdAt)}</Text>
                      {d.nextAttemptAt && (
                        <Text size="xs" c="dimmed">
                          {t("webhooks.nextAttempt", { when: format.dateTime(d.nextAttemptAt) })}
                        </Text>
                      )}
                    </Table.Td>
                    <Table.Td>
                      <Button
                        size="xs"
                        variant="default"
                        loading={retry.isPending && retry.variables?.id === d.id}
                        onClick={() => retry.mutate(d, { onSuccess: () => notifySuccess(t("webhooks.retryQueued")) })}
                      >
                        {t("webhooks.retry")}
                      </Button>
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        </Paper>
      )}
      {retry.isError && <ErrorAlert error={retry.error} />}
    </Stack>
  );
}

function EndpointForm({
  initial,
  submitLabel,
  pending,
  error,
  onSubmit,
  onCancel,
}: {
  initial: WebhookInput;
  submitLabel: string;
  pending: boolean;
  error: unknown;
  onSubmit: (input: WebhookInput) => void;
  onCancel: () => void;
}) {
  const { t } = useTranslation();
  const [url, setUrl] = useState(initial.url);
  const [description, setDescription] = useState(initial.description ?? "");
  const [eventTypes, setEventTypes] = useState<WebhookEventType[]>(initial.eventTypes);
  const [enabled, setEnabled] = useState(initial.enabled);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onSubmit({ url: url.trim(), description: description.trim() || null, eventTypes, enabled });
  };
  return (
    <form onSubmit={submit} noValidate>
      <Stack>
        <TextInput
          label={t("webhooks.fields.url")}
          description={t("webhooks.urlHelp")}
          required
          type="url"
          value={url}
          onChange={(e) => setUrl(e.currentTarget.value)}
          data-autofocus
        />
        <Textarea
          label={t("webhooks.fields.description")}
          value={description}
          onChange={(e) => setDescription(e.currentTarget.value)}
          maxLength={500}
          autosize
          minRows={1}
        />
        <Checkbox.Group label={t("webhooks.fields.events")} description={t("webhooks.eventsHelp")} value={eventTypes}
          onChange={(values) => setEventTypes(values.filter(isWebhookEventType))}
        >
          <SimpleGrid cols={{ base: 1, xs: 2 }} spacing={6} mt="xs">
            {WEBHOOK_EVENT_TYPES.map((type) => (
              <Checkbox key={type} value={type} label={type} />
            ))}
          </SimpleGrid>
        </Checkbox.Group>
        <Switch label={t("webhooks.fields.enabled")} checked={enabled} onChange={(e) => setEnabled(e.currentTarget.checked)} />
        {error ? <ErrorAlert error={error} /> : null}
        <Group justify="flex-end">
          <Button variant="default" onClick={onCancel}>
            {t("common.cancel")}
          </Button>
          <Button type="submit" loading={pending} disabled={url.trim() === ""}>
            {submitLabel}
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

function CreateDialog({ onClose }: { onClose: () => void }) {
  const { t } = useTranslation();
  const { org } = useCurrentOrg();
  const create = useCreateWebhook(org.id);
  const secret = create.data?.secret;
  return (
    <Dialog opened onClose={onClose} title={secret ? t("webhooks.secretTitle") : t("webhooks.createTitle")} size="lg">
      {secret ? (
        <Stack>
          <Alert color="yellow" variant="light" icon={<IconAlertTriangle />} title={t("webhooks.secretWarningTitle")} role="alert">
            {t("webhooks.secretWarning")}
          </Alert>
          <Code block className="secret-box" data-testid="webhook-secret" aria-label={t("webhooks.secretLabel")}>
            {secret}
          </Code>
          <Group justify="space-between">
            <CopyTextButton value={secret} label={t("webhooks.copySecret")} />
            <Button variant="default" onClick={onClose}>
              {t("webhooks.secretDone")}
            </Button>
          </Group>
        </Stack>
      ) : (
        <EndpointForm
          initial={{ url: "", description: null, eventTypes: [], enabled: true }}
          submitLabel={t("webhooks.create")}
          pending={create.isPending}
          error={create.error}
          onSubmit={(input) => create.mutate(input)}
          onCancel={onClose}
        />
      )}
    </Dialog>
  );
}

function EditDialog({ webhook, onClose }: { webhook: Webhook; onClose: () => void }) {
  const { t } = useTranslation();
  const { org } = useCurrentOrg();
  const update = useUpdateWebhook(org.id);
  return (
    <Dialog opened onClose={onClose} title={t("webhooks.editTitle")} size="lg">
      <EndpointForm
        initial={webhook}
        submitLabel={t("webhooks.save")}
        pending={update.isPending}
        error={update.error}
        onSubmit={(input) =>
          update.mutate(
            { id: webhook.id, ...input },
            {
              onSuccess: () => {
                notifySuccess(t("webhooks.saved"));
                onClose();
              },
            },
          )
        }
        onCancel={onClose}
      />
    </Dialog>
  );
}
