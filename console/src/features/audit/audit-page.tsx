import { Button, Group, NativeSelect, Paper, Stack, Text, Title } from "@mantine/core";
import { DatePickerInput, type DatesRangeValue } from "@mantine/dates";
import { IconDownload } from "@tabler/icons-react";
import { withQuery } from "../../api/client";
import { useEffect, useMemo, useState } from "react";
import { useTranslation } from "react-i18next";
import { CursorPager, useCursorStack } from "../../components/cursor-pager";
import { ErrorAlert } from "../../components/error-alert";
import { PageLoader } from "../../components/loading";
import { can } from "../../lib/permissions";
import { useMembers } from "../members/api";
import { useCurrentOrg } from "../orgs/org-context";
import { Forbidden } from "../orgs/org-layout";
import { type AuditFilters, useOrgAudit } from "./api";
import { AuditTable, useActionLabel } from "./audit-table";

/** Actions the console can name; the filter still accepts any action the server reports. */
export const KNOWN_ACTIONS = [
  "token.created",
  "token.updated",
  "token.scopes_changed",
  "token.regenerated",
  "token.deactivated",
  "token.activated",
  "token.suspended",
  "token.resumed",
  "token.revoked",
  "member.added",
  "member.role_changed",
  "member.removed",
  "org.created",
  "org.settings_changed",
  "org.scopes_changed",
  "instance.setup",
  "auth.login",
  "auth.login_failed",
] as const;

export function AuditPage() {
  const { role } = useCurrentOrg();
  if (!can.readAudit(role)) return <Forbidden />;
  return <AuditLog />;
}

function AuditLog() {
  const { t } = useTranslation();
  const { org } = useCurrentOrg();
  const actionLabel = useActionLabel();
  const members = useMembers(org.id);
  const [action, setAction] = useState<string | null>(null);
  const [actorId, setActorId] = useState<string | null>(null);
  const [range, setRange] = useState<DatesRangeValue<string>>([null, null]);
  const pages = useCursorStack();

  const filters = useMemo<AuditFilters>(() => {
    const [from, to] = range;
    return {
      ...(action ? { action } : {}),
      ...(actorId ? { actorId } : {}),
      ...(from ? { from: new Date(`${from}T00:00:00`).toISOString() } : {}),
      ...(to ? { to: new Date(`${to}T23:59:59.999`).toISOString() } : {}),
    };
  }, [action, actorId, range]);
  const audit = useOrgAudit(org.id, filters, pages.cursor);
  const resetPages = pages.reset;
  useEffect(() => resetPages(), [filters, resetPages]);

  return (
    <Stack gap="lg">
      <Group justify="space-between" align="flex-end">
        <Stack gap={4}>
          <Title order={1} size="h2">
            {t("audit.title")}
          </Title>
          <Text c="dimmed" size="sm">
            {t("audit.intro")}
          </Text>
        </Stack>
        {/* A plain link: the export is a streamed GET that the session cookie authorises (no CSRF for reads). */}
        <Group gap="xs" role="group" aria-label={t("audit.export.label")}>
          {(["csv", "ndjson"] as const).map((format) => (
            <Button
              key={format}
              component="a"
              variant="default"
              leftSection={<IconDownload size={16} />}
              href={withQuery(`/v1/orgs/${encodeURIComponent(org.id)}/audit/export`, { format, ...filters })}
              download
            >
              {t(`audit.export.${format}`)}
            </Button>
          ))}
        </Group>
      </Group>
      <Paper withBorder p="md" radius="md">
        <Stack>
          <Group align="flex-end" gap="sm">
            <NativeSelect
              label={t("audit.filters.action")}
              data={[
                { value: "", label: t("audit.filters.anyAction") },
                ...KNOWN_ACTIONS.map((a) => ({ value: a, label: actionLabel(a) })),
              ]}
              value={action ?? ""}
              onChange={(e) => setAction(e.currentTarget.value || null)}
              w={240}
            />
            <NativeSelect
              label={t("audit.filters.actor")}
              data={[
                { value: "", label: t("audit.filters.anyActor") },
                ...(members.data ?? []).map((m) => ({ value: m.userId, label: `${m.name} (${m.email})` })),
              ]}
              value={actorId ?? ""}
              onChange={(e) => setActorId(e.currentTarget.value || null)}
              w={260}
            />
            <DatePickerInput
              type="range"
              label={t("audit.filters.dates")}
              placeholder={t("audit.filters.anyDate")}
              value={range}
              onChange={setRange}
              clearable
              allowSingleDateInRange
              maxDate={new Date()}
              valueFormat="ll"
              w={280}
            />
          </Group>
          {audit.isPending ? (
            <PageLoader />
          ) : audit.isError ? (
            <ErrorAlert error={audit.error} />
          ) : audit.data.items.length === 0 ? (
            <Text c="dimmed" ta="center" py="lg">
              {t("audit.empty")}
            </Text>
          ) : (
            <div aria-busy={audit.isFetching}>
              <AuditTable events={audit.data.items} />
            </div>
          )}
          <CursorPager stack={pages} nextCursor={audit.data?.nextCursor} />
        </Stack>
      </Paper>
    </Stack>
  );
}
