import { Anchor, Badge, Breadcrumbs, Button, Code, Group, Paper, SimpleGrid, Stack, Text, Title } from "@mantine/core";
import { IconPencil } from "@tabler/icons-react";
import { lazy, type ReactNode, Suspense } from "react";
import { useTranslation } from "react-i18next";
import { Link, useParams } from "react-router-dom";
import { ApiError } from "../../api/client";
import { CopyIconButton } from "../../components/copy-button";
import { ErrorAlert } from "../../components/error-alert";
import { PageLoader } from "../../components/loading";
import { StatusBadge } from "../../components/status-badge";
import { isWithinDays, useFormat } from "../../lib/format";
import { can } from "../../lib/permissions";
import { AuditTable } from "../audit/audit-table";
import { useTokenAudit } from "../audit/api";
import { useCurrentOrg } from "../orgs/org-context";
import { Forbidden } from "../orgs/org-layout";
import { useToken } from "./api";
import { useTokenActions } from "./token-actions";
import { EXPIRY_WARNING_DAYS } from "./tokens-table";
import { LimitsSummary } from "./limits-fields";
import { RecentRequests } from "./recent-requests";

// Recharts is only in the chart's chunk, loaded after the rest of the page.
const UsageChart = lazy(() => import("./usage-chart").then((m) => ({ default: m.UsageChart })));

export function TokenDetailPage() {
  const { org, role } = useCurrentOrg();
  if (!can.seeTokens(role, org.settings)) return <Forbidden />;
  return <TokenDetail />;
}

function Field({ label, children }: { label: string; children: ReactNode }) {
  return (
    <Stack gap={2}>
      <Text size="xs" c="dimmed" fw={600} tt="uppercase" component="dt">
        {label}
      </Text>
      <Text size="sm" component="dd" m={0}>
        {children}
      </Text>
    </Stack>
  );
}

function TokenDetail() {
  const { t } = useTranslation();
  const format = useFormat();
  const { org } = useCurrentOrg();
  const { tokenId = "" } = useParams();
  const token = useToken(org.id, tokenId);
  const audit = useTokenAudit(org.id, tokenId);
  const actions = useTokenActions();
  const tokensPath = `/orgs/${encodeURIComponent(org.id)}/tokens`;

  if (token.isPending) return <PageLoader />;
  if (token.isError) {
    return (
      <Stack>
        <Anchor component={Link} to={tokensPath}>
          {t("tokens.backToList")}
        </Anchor>
        <ErrorAlert error={token.error} />
      </Stack>
    );
  }
  const tk = token.data;
  const none = "—";

  return (
    <Stack gap="lg">
      <Breadcrumbs>
        <Anchor component={Link} to={tokensPath}>
          {t("tokens.title")}
        </Anchor>
        <Text size="sm">{tk.name}</Text>
      </Breadcrumbs>
      <Group justify="space-between" align="flex-start">
        <Stack gap={4}>
          <Group gap="sm">
            <Title order={1} size="h2">
              {tk.name}
            </Title>
            <StatusBadge status={tk.status} />
            {isWithinDays(tk.expiresAt, EXPIRY_WARNING_DAYS) && tk.status !== "revoked" && (
              <Badge color="orange">{t("tokens.expiresSoon", { relative: format.relative(tk.expiresAt) })}</Badge>
            )}
          </Group>
          {tk.description && <Text c="dimmed">{tk.description}</Text>}
        </Stack>
        <Group gap="xs">
          {can.edit(tk) && (
            <Button variant="default" leftSection={<IconPencil size={16} />} onClick={() => actions.edit(tk)}>
              {t("tokens.actions.edit")}
            </Button>
          )}
          {actions.menu(tk)}
        </Group>
      </Group>

      <Paper withBorder p="md" radius="md">
        <SimpleGrid cols={{ base: 1, sm: 2, md: 3 }} spacing="md" component="dl" m={0}>
          <Field label={t("tokens.fields.token")}>
            <Group gap={4} component="span" wrap="nowrap">
              <Code>{tk.maskedToken}</Code>
              <CopyIconButton value={tk.prefix} label={t("tokens.copyPrefix", { name: tk.name })} />
            </Group>
          </Field>
          <Field label={t("tokens.fields.id")}>
            <span className="mono">{tk.id}</span>
          </Field>
          <Field label={t("tokens.fields.kind")}>
            {t(`kind.${tk.kind}`)}
            {tk.issuedFor ? ` · ${t("tokens.issuedForShort", { name: tk.issuedFor })}` : ""}
          </Field>
          <Field label={t("tokens.fields.environment")}>{t(`environment.${tk.environment}`)}</Field>
          <Field label={t("tokens.fields.created")}>
            {format.dateTime(tk.createdAt)} · {t("tokens.createdBy", { name: tk.createdBy?.name ?? t("common.unknown") })}
          </Field>
          <Field label={t("tokens.fields.expires")}>{tk.expiresAt ? format.dateTime(tk.expiresAt) : t("common.never")}</Field>
          <Field label={t("tokens.fields.lastUsed")}>
            {format.relative(tk.lastUsedAt)}
            {tk.lastUsedIp ? ` · ${tk.lastUsedIp}` : ""}
          </Field>
          <Field label={t("tokens.fields.usage")}>{format.number(tk.usageCount)}</Field>
          <Field label={t("tokens.fields.regenerated")}>
            {tk.regeneratedAt ? format.dateTime(tk.regeneratedAt) : none}
            {tk.status !== "revoked" && tk.previousSecretExpiresAt && new Date(tk.previousSecretExpiresAt).getTime() > Date.now()
              ? ` · ${t("tokens.previousSecretUntil", { date: format.dateTime(tk.previousSecretExpiresAt) })}`
              : ""}
          </Field>
          {tk.leakedAt && (
            <Field label={t("notices.leakedAt")}>
              <Badge color="red" variant="light" mr={6}>
                {t("notices.leaked")}
              </Badge>
              {format.dateTime(tk.leakedAt)}
              {tk.leakUrl ? " · " : ""}
              {tk.leakUrl &&
                (/^https:\/\//.test(tk.leakUrl) ? (
                  <Anchor href={tk.leakUrl} target="_blank" rel="noopener noreferrer" size="sm">
                    {t("notices.leakSource")}
                  </Anchor>
                ) : (
                  <span className="mono">{tk.leakUrl}</span>
                ))}
            </Field>
          )}
          {tk.suspendedAt && <Field label={t("tokens.fields.suspended")}>{format.dateTime(tk.suspendedAt)}</Field>}
          {tk.revokedAt && (
            <Field label={t("tokens.fields.revoked")}>
              {format.dateTime(tk.revokedAt)}
              {tk.revokedBy ? ` · ${tk.revokedBy.name}` : ""}
              {tk.revokeReason ? ` · “${tk.revokeReason}”` : ""}
            </Field>
          )}
          <Field label={t("tokens.fields.allowedIps")}>
            {tk.allowedIps && tk.allowedIps.length > 0 ? tk.allowedIps.join(", ") : t("tokens.anyIp")}
          </Field>
          <Field label={t("limits.legend")}>
            <LimitsSummary token={tk} />
          </Field>
        </SimpleGrid>
        <Stack gap={4} mt="md">
          <Text size="xs" c="dimmed" fw={600} tt="uppercase">
            {t("tokens.fields.scopes")}
          </Text>
          <Group gap={4}>
            {tk.scopes.length === 0 ? (
              <Text size="sm">{t("tokens.noScopes")}</Text>
            ) : (
              tk.scopes.map((s) => (
                <Badge key={s} variant="light" color="gray" tt="none">
                  {s}
                </Badge>
              ))
            )}
          </Group>
        </Stack>
        {tk.metadata && Object.keys(tk.metadata).length > 0 && (
          <Stack gap={4} mt="md">
            <Text size="xs" c="dimmed" fw={600} tt="uppercase">
              {t("tokens.fields.metadata")}
            </Text>
            <Code block>{JSON.stringify(tk.metadata, null, 2)}</Code>
          </Stack>
        )}
      </Paper>

      <Paper withBorder p="md" radius="md">
        <Suspense fallback={<PageLoader />}>
          <UsageChart orgId={org.id} tokenId={tk.id} limits={tk.rateLimits ?? []} />
        </Suspense>
      </Paper>

      <Paper withBorder p="md" radius="md">
        <RecentRequests orgId={org.id} tokenId={tk.id} />
      </Paper>

      <Paper withBorder p="md" radius="md">
        <Stack gap="sm">
          <Title order={2} size="h4">
            {t("tokens.history")}
          </Title>
          {audit.isPending ? (
            <PageLoader />
          ) : audit.isError ? (
            audit.error instanceof ApiError && audit.error.status === 403 ? (
              <Text size="sm" c="dimmed">
                {t("tokens.historyForbidden")}
              </Text>
            ) : (
              <ErrorAlert error={audit.error} />
            )
          ) : audit.data.items.length === 0 ? (
            <Text size="sm" c="dimmed">
              {t("audit.empty")}
            </Text>
          ) : (
            <AuditTable events={audit.data.items} showTarget={false} />
          )}
        </Stack>
      </Paper>
      {actions.dialogs}
    </Stack>
  );
}
