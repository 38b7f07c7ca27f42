import { Anchor, Badge, Checkbox, Group, Stack, Text } from "@mantine/core";
import type { ReactNode } from "react";
import { useTranslation } from "react-i18next";
import { Link } from "react-router-dom";
import type { TokenView } from "../../api/types";
import { CopyIconButton } from "../../components/copy-button";
import { StatusBadge } from "../../components/status-badge";
import { isWithinDays, useFormat } from "../../lib/format";

/** Days before `expiresAt` from which a token carries an "expires soon" badge. */
export const EXPIRY_WARNING_DAYS = 7;
const MAX_SCOPE_BADGES = 3;

/** Row selection for the bulk actions; revoked tokens cannot be selected (nothing applies to them). */
export interface TableSelection {
  selected: ReadonlySet<string>;
  toggle: (token: TokenView) => void;
  toggleAll: (tokens: TokenView[], on: boolean) => void;
}

interface Props {
  orgId: string;
  tokens: TokenView[];
  menu: (token: TokenView) => ReactNode;
  selection?: TableSelection;
}

/**
 * The tokens table: a native table styled in styles.css (Mantine's Table brings ScrollArea and
 * floating-ui, 19 KB gzip'd, into the first screen). It scrolls sideways inside its card when the window is narrow (1024 px with the
 * navigation), with the selection and name columns and the row actions kept in view (sticky).
 */
export function TokensTable({ orgId, tokens, menu, selection }: Props) {
  const { t } = useTranslation();
  const format = useFormat();
  const selectable = tokens.filter((tk) => tk.status !== "revoked");
  const selectedHere = selectable.filter((tk) => selection?.selected.has(tk.id)).length;

  return (
    <div className="table-scroll">
      <table className="tokens-table" aria-label={t("tokens.tableLabel")}>
        <thead>
          <tr>
            {selection && (
              <th className="sticky-start">
                <Checkbox
                  aria-label={t("tokens.bulk.selectAll")}
                  checked={selectable.length > 0 && selectedHere === selectable.length}
                  indeterminate={selectedHere > 0 && selectedHere < selectable.length}
                  disabled={selectable.length === 0}
                  onChange={(e) => selection.toggleAll(selectable, e.currentTarget.checked)}
                />
              </th>
            )}
            <th>{t("tokens.fields.name")}</th>
            <th>{t("tokens.fields.prefix")}</th>
            <th>{t("tokens.fields.scopes")}</th>
            <th>{t("tokens.fields.created")}</th>
            <th>{t("tokens.fields.lastUsed")}</th>
            <th>{t("tokens.fields.expires")}</th>
            <th className="numeric">{t("tokens.fields.usage")}</th>
            <th>{t("tokens.fields.status")}</th>
            <th className="sticky-end">
              <span className="visually-hidden">{t("tokens.actions.label")}</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {tokens.map((token) => {
            const revoked = token.status === "revoked";
            const expiringSoon = !revoked && isWithinDays(token.expiresAt, EXPIRY_WARNING_DAYS);
            const hiddenScopes = token.scopes.slice(MAX_SCOPE_BADGES);
            return (
              <tr key={token.id} className={revoked ? "token-row-revoked" : undefined}>
                {selection && (
                  <td className="sticky-start">
                    <Checkbox
                      aria-label={t("tokens.bulk.select", { name: token.name })}
                      checked={selection.selected.has(token.id)}
                      disabled={revoked}
                      onChange={() => selection.toggle(token)}
                    />
                  </td>
                )}
                <td>
                  <Stack gap={2}>
                    <Anchor
                      component={Link}
                      to={`/orgs/${encodeURIComponent(orgId)}/tokens/${encodeURIComponent(token.id)}`}
                      fw={600}
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
                </td>
                <td>
                  <Group gap={4} wrap="nowrap">
                    <span className="mono">{token.prefix}</span>
                    <CopyIconButton value={token.prefix} label={t("tokens.copyPrefix", { name: token.name })} />
                  </Group>
                </td>
                <td>
                  {token.scopes.length === 0 ? (
                    <Text size="sm" c="dimmed">
                      {t("tokens.noScopes")}
                    </Text>
                  ) : (
                    <Group gap={4} maw={220}>
                      {token.scopes.slice(0, MAX_SCOPE_BADGES).map((scope) => (
                        <Badge key={scope} size="sm" variant="light" color="gray" tt="none">
                          {scope}
                        </Badge>
                      ))}
                      {hiddenScopes.length > 0 && (
                        <Badge size="sm" variant="transparent" color="gray" tt="none" title={hiddenScopes.join(", ")}>
                          {t("tokens.moreScopes", { count: hiddenScopes.length })}
                          <span className="visually-hidden">: {hiddenScopes.join(", ")}</span>
                        </Badge>
                      )}
                    </Group>
                  )}
                </td>
                <td>
                  <Text size="sm" className="nowrap">
                    {format.dateTime(token.createdAt)}
                  </Text>
                  <Text size="xs" c="dimmed">
                    {t("tokens.createdBy", { name: token.createdBy?.name ?? t("common.unknown") })}
                  </Text>
                </td>
                <td>
                  <Text size="sm" className="nowrap">
                    {format.relative(token.lastUsedAt)}
                  </Text>
                  {token.lastUsedAt && (
                    <Text size="xs" c="dimmed" className="nowrap">
                      {format.dateTime(token.lastUsedAt)}
                    </Text>
                  )}
                </td>
                <td>
                  <Stack gap={2} align="flex-start">
                    <Text size="sm" className="nowrap">
                      {token.expiresAt ? format.dateTime(token.expiresAt) : t("common.never")}
                    </Text>
                    {expiringSoon && (
                      <Badge size="xs" color="orange" variant="filled">
                        {t("tokens.expiresSoon", { relative: format.relative(token.expiresAt) })}
                      </Badge>
                    )}
                  </Stack>
                </td>
                <td className="numeric">
                  <Text size="sm">{format.number(token.usageCount)}</Text>
                </td>
                <td>
                  <Stack gap={2} align="flex-start">
                    <StatusBadge status={token.status} />
                    {token.leakedAt && (
                      <Badge color="red" variant="light" size="sm" title={t("notices.leakedTitle")}>
                        {t("notices.leaked")}
                      </Badge>
                    )}
                    {revoked && token.revokedAt && (
                      <Text size="xs" c="dimmed">
                        {token.revokedBy
                          ? t("tokens.revokedAtBy", { date: format.dateTime(token.revokedAt), name: token.revokedBy.name })
                          : t("tokens.revokedAt", { date: format.dateTime(token.revokedAt) })}
                      </Text>
                    )}
                  </Stack>
                </td>
                <td className="sticky-end">{menu(token)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
