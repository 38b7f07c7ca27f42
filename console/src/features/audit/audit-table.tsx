import { Badge, Code, Popover, Table, Text, UnstyledButton } from "@mantine/core";
import { useTranslation } from "react-i18next";
import type { AuditEvent } from "../../api/types";
import { useFormat } from "../../lib/format";

/** The action in the user's language when the console knows it, otherwise the raw code. */
export function useActionLabel() {
  const { t, i18n } = useTranslation();
  return (action: string) => {
    const key = `audit.actions.${action.replace(/\./g, "_")}`;
    return i18n.exists(key) ? t(key) : action;
  };
}

export function AuditTable({ events, showTarget = true }: { events: AuditEvent[]; showTarget?: boolean }) {
  const { t } = useTranslation();
  const format = useFormat();
  const actionLabel = useActionLabel();
  return (
    <Table.ScrollContainer minWidth={760}>
      <Table verticalSpacing="xs" striped aria-label={t("audit.tableLabel")}>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>{t("audit.fields.at")}</Table.Th>
            <Table.Th>{t("audit.fields.action")}</Table.Th>
            <Table.Th>{t("audit.fields.actor")}</Table.Th>
            {showTarget && <Table.Th>{t("audit.fields.target")}</Table.Th>}
            <Table.Th>{t("audit.fields.ip")}</Table.Th>
            <Table.Th>{t("audit.fields.details")}</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {events.map((event) => {
            const hasDetails = event.details && Object.keys(event.details).length > 0;
            return (
              <Table.Tr key={event.id}>
                <Table.Td>
                  <Text size="sm" title={event.at}>
                    {format.dateTime(event.at)}
                  </Text>
                </Table.Td>
                <Table.Td>
                  <Badge variant="light" tt="none" color={event.action.includes("fail") || event.action.endsWith("revoked") ? "red" : "blue"}>
                    {actionLabel(event.action)}
                  </Badge>
                </Table.Td>
                <Table.Td>
                  <Text size="sm">{event.actor.name ?? event.actor.id ?? t(`audit.actorType.${event.actor.type}`, event.actor.type)}</Text>
                  <Text size="xs" c="dimmed">
                    {t(`audit.actorType.${event.actor.type}`, event.actor.type)}
                  </Text>
                </Table.Td>
                {showTarget && (
                  <Table.Td>
                    {event.target ? (
                      <>
                        <Text size="sm">{event.target.name ?? event.target.id}</Text>
                        <Text size="xs" c="dimmed">
                          {t(`audit.targetType.${event.target.type}`, event.target.type)}
                        </Text>
                      </>
                    ) : (
                      "—"
                    )}
                  </Table.Td>
                )}
                <Table.Td>
                  <Text size="sm" className="mono">
                    {event.ip ?? "—"}
                  </Text>
                </Table.Td>
                <Table.Td>
                  {hasDetails || event.traceId ? (
                    <Popover width={380} position="left" withArrow shadow="md">
                      <Popover.Target>
                        <UnstyledButton fz="sm" c="blue" aria-label={t("audit.showDetails", { action: actionLabel(event.action) })}>
                          {t("audit.show")}
                        </UnstyledButton>
                      </Popover.Target>
                      <Popover.Dropdown>
                        {event.traceId && (
                          <Text size="xs" mb={4}>
                            {t("audit.fields.traceId")}: <span className="mono">{event.traceId}</span>
                          </Text>
                        )}
                        {event.userAgent && (
                          <Text size="xs" mb={4}>
                            {t("audit.fields.userAgent")}: {event.userAgent}
                          </Text>
                        )}
                        {hasDetails && <Code block>{JSON.stringify(event.details, null, 2)}</Code>}
                      </Popover.Dropdown>
                    </Popover>
                  ) : (
                    "—"
                  )}
                </Table.Td>
              </Table.Tr>
            );
          })}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
