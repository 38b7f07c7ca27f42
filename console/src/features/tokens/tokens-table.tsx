import { Anchor, Badge, Group, Stack, Table, Text, Tooltip } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { Link } from "react-router-dom";
import type { TokenView } from "../../api/types";
import { CopyIconButton } from "../../components/copy-button";
import { StatusBadge } from "../../components/status-badge";
import { isWithinDays, useFormat } from "../../lib/format";

/** Days before `expiresAt` from which a token carries an "expires soon" badge. */
export const EXPIRY_WARNING_DAYS = 7;
const MAX_SCOPE_BADGES = 3;

interface Props {
  orgId: string;
  tokens: TokenView[];
  menu: (token: TokenView) => React.ReactNode;
}

export function TokensTable({ orgId, tokens, menu }: Props) {
  const { t } = useTranslation();
  const format = useFormat();

  return (
    <Table.ScrollContainer minWidth={1000}>
      <Table verticalSpacing="sm" highlightOnHover className="tokens-table" aria-label={t("tokens.tableLabel")}>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>{t("tokens.fields.name")}</Table.Th>
            <Table.Th>{t("tokens.fields.prefix")}</Table.Th>
            <Table.Th>{t("tokens.fields.scopes")}</Table.Th>
            <Table.Th>{t("tokens.fields.created")}</Table.Th>
            <Table.Th>{t("tokens.fields.lastUsed")}</Table.Th>
            <Table.Th>{t("tokens.fields.expires")}</Table.Th>
            <Table.Th ta="right">{t("tokens.fields.usage")}</Table.Th>
            <Table.Th>{t("tokens.fields.status")}</Table.Th>
            <Table.Th>
              <span className="visually-hidden">{t("tokens.actions.label")}</span>
            </Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {tokens.map((token) => {
            const revoked = token.status === "revoked";
            const expiringSoon = !revoked && isWithinDays(token.expiresAt, EXPIRY_WARNING_DAYS);
            const hiddenScopes = token.scopes.length - MAX_SCOPE_BADGES;
            return (
              <Table.Tr key={token.id} className={revoked ? "token-row-revoked" : undefined}>
                <Table.Td>
                  <Stack gap={2}>
                    <Anchor
                      component={Link}
                      to={`/orgs/${encodeURIComponent(orgId)}/tokens/${encodeURIComponent(token.id)}`}
                      fw={600}
                      className="nowrap"
                    >
                      {token.name}
                    </Anchor>
                    <Group gap={4}>
                      <Badge size="xs" variant="outline" color={token.kind === "service" ? "violet" : "gray"}>
                        {t(`kind.${token.kind}`)}
                      </Badge>
                      {token.environment === "test" && (
                        <Badge size="xs" variant="outline" color="orange">
                          {t("environment.test")}
                        </Badge>
                      )}
                      {token.issuedFor && (
                        <Text size="xs" c="dimmed">
                          {t("tokens.issuedForShort", { name: token.issuedFor })}
                        </Text>
                      )}
                    </Group>
                  </Stack>
                </Table.Td>
                <Table.Td>
                  <Group gap={4} wrap="nowrap">
                    <span className="mono">{token.prefix}</span>
                    <CopyIconButton value={token.prefix} label={t("tokens.copyPrefix", { name: token.name })} />
                  </Group>
                </Table.Td>
                <Table.Td>
                  {token.scopes.length === 0 ? (
                    <Text size="sm" c="dimmed">
                      {t("tokens.noScopes")}
                    </Text>
                  ) : (
                    <Group gap={4} maw={260}>
                      {token.scopes.slice(0, MAX_SCOPE_BADGES).map((scope) => (
                        <Badge key={scope} size="sm" variant="light" color="gray" tt="none">
                          {scope}
                        </Badge>
                      ))}
                      {hiddenScopes > 0 && (
                        <Tooltip label={token.scopes.slice(MAX_SCOPE_BADGES).join(", ")} multiline maw={300}>
                          <Badge size="sm" variant="transparent" color="gray" tt="none" tabIndex={0}>
                            {t("tokens.moreScopes", { count: hiddenScopes })}
                          </Badge>
                        </Tooltip>
                      )}
                    </Group>
                  )}
                </Table.Td>
                <Table.Td>
                  <Text size="sm" className="nowrap">
                    {format.date(token.createdAt)}
                  </Text>
                  <Text size="xs" c="dimmed">
                    {t("tokens.createdBy", { name: token.createdBy?.name ?? t("common.unknown") })}
                  </Text>
                </Table.Td>
                <Table.Td>
                  <Tooltip label={token.lastUsedAt ? format.dateTime(token.lastUsedAt) : t("common.never")} withArrow>
                    <Text size="sm" tabIndex={0} w="fit-content" className="nowrap">
                      {format.relative(token.lastUsedAt)}
                    </Text>
                  </Tooltip>
                </Table.Td>
                <Table.Td>
                  <Stack gap={2} align="flex-start">
                    <Text size="sm" className="nowrap">
                      {token.expiresAt ? format.date(token.expiresAt) : t("common.never")}
                    </Text>
                    {expiringSoon && (
                      <Badge size="xs" color="orange" variant="filled">
                        {t("tokens.expiresSoon", { relative: format.relative(token.expiresAt) })}
                      </Badge>
                    )}
                  </Stack>
                </Table.Td>
                <Table.Td ta="right">
                  <Text size="sm">{format.number(token.usageCount)}</Text>
                </Table.Td>
                <Table.Td>
                  <Stack gap={2} align="flex-start">
                    <StatusBadge status={token.status} />
                    {revoked && token.revokedAt && (
                      <Text size="xs" c="dimmed">
                        {token.revokedBy
                          ? t("tokens.revokedAtBy", { date: format.dateTime(token.revokedAt), name: token.revokedBy.name })
                          : t("tokens.revokedAt", { date: format.dateTime(token.revokedAt) })}
                      </Text>
                    )}
                  </Stack>
                </Table.Td>
                <Table.Td>{menu(token)}</Table.Td>
              </Table.Tr>
            );
          })}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
