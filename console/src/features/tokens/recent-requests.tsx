import { Badge, Stack, Table, Text, Title } from "@mantine/core";
import { useTranslation } from "react-i18next";
import { CursorPager, useCursorStack } from "../../components/cursor-pager";
import { ErrorAlert } from "../../components/error-alert";
import { PageLoader } from "../../components/loading";
import { useFormat } from "../../lib/format";
import { useTokenRequests } from "./api";

/** "Recent requests": every verification of the token, newest first (kept 30 days / 10,000 per token). */
export function RecentRequests({ orgId, tokenId }: { orgId: string; tokenId: string }) {
  const { t } = useTranslation();
  const format = useFormat();
  const pages = useCursorStack();
  const requests = useTokenRequests(orgId, tokenId, pages.cursor);

  return (
    <Stack gap="sm">
      <Title order={2} size="h4">
        {t("tokens.requests.title")}
      </Title>
      <Text size="sm" c="dimmed">
        {t("tokens.requests.intro")}
      </Text>
      {requests.isPending ? (
        <PageLoader />
      ) : requests.isError ? (
        <ErrorAlert error={requests.error} />
      ) : requests.data.items.length === 0 ? (
        <Text size="sm" c="dimmed">
          {t("tokens.requests.empty")}
        </Text>
      ) : (
        <div className="table-scroll">
          <Table verticalSpacing="xs" aria-label={t("tokens.requests.title")}>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>{t("tokens.requests.at")}</Table.Th>
                <Table.Th>{t("tokens.requests.code")}</Table.Th>
                <Table.Th>{t("tokens.requests.ip")}</Table.Th>
                <Table.Th>{t("tokens.requests.userAgent")}</Table.Th>
                <Table.Th>{t("tokens.requests.scopes")}</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {requests.data.items.map((r, i) => (
                <Table.Tr key={`${r.at}-${i}`}>
                  <Table.Td className="nowrap">{format.dateTime(r.at)}</Table.Td>
                  <Table.Td>
                    <Badge variant="light" color={r.code === "VALID" ? "green" : "red"} tt="none">
                      {r.code}
                    </Badge>
                  </Table.Td>
                  <Table.Td className="mono">{r.ip ?? "—"}</Table.Td>
                  <Table.Td>
                    <Text size="sm" lineClamp={2} maw={280}>
                      {r.userAgent ?? "—"}
                    </Text>
                  </Table.Td>
                  <Table.Td>
                    <Text size="sm" className="mono">
                      {r.scopes.length > 0 ? r.scopes.join(", ") : "—"}
                    </Text>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </div>
      )}
      <CursorPager stack={pages} nextCursor={requests.data?.nextCursor} />
    </Stack>
  );
}
