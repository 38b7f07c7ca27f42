import { Alert, Button, Center, Group, NativeSelect, Paper, Stack, Text, TextInput, Title } from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { IconChevronLeft, IconChevronRight, IconPlus, IconSearch } from "@tabler/icons-react";
import { useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { TOKEN_STATUSES, type TokenKind, type TokenStatus } from "../../api/types";
import { ErrorAlert } from "../../components/error-alert";
import { PageLoader } from "../../components/loading";
import { can } from "../../lib/permissions";
import { useCurrentOrg } from "../orgs/org-context";
import { Forbidden } from "../orgs/org-layout";
import { type TokenFilters, useTokens } from "./api";
import { CreateTokenDialog } from "./create-token-dialog";
import { useTokenActions } from "./token-actions";
import { TokensTable } from "./tokens-table";

/** Settings → API tokens. */
export function TokensPage() {
  const { role } = useCurrentOrg();
  if (!can.seeTokens(role)) return <Forbidden />;
  return <TokensScreen />;
}

function TokensScreen() {
  const { t } = useTranslation();
  const { org, role } = useCurrentOrg();
  const [query, setQuery] = useState("");
  const [debouncedQuery] = useDebouncedValue(query.trim(), 300);
  const [status, setStatus] = useState<TokenStatus | null>(null);
  const [kind, setKind] = useState<TokenKind | null>(null);
  // Cursor pagination: the cursors of the pages before the current one.
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const cursor = cursors[cursors.length - 1] ?? null;
  const [createOpen, setCreateOpen] = useState(false);
  const actions = useTokenActions();

  const filters: TokenFilters = {
    ...(debouncedQuery ? { q: debouncedQuery } : {}),
    ...(status ? { status } : {}),
    ...(kind ? { kind } : {}),
  };
  const tokens = useTokens(org.id, filters, cursor);

  // Any filter change starts again from the first page.
  // biome-ignore lint/correctness/useExhaustiveDependencies: reset on filter change only
  useEffect(() => setCursors([null]), [debouncedQuery, status, kind, org.id]);

  const mayCreate = can.createTokens(role, org.settings);
  const filtered = Boolean(debouncedQuery || status || kind);

  return (
    <Stack gap="lg">
      <Group justify="space-between" align="flex-end">
        <Stack gap={4}>
          <Text size="sm" c="dimmed">
            {t("nav.settings")} · {org.name}
          </Text>
          <Title order={1} size="h2">
            {t("tokens.title")}
          </Title>
          <Text c="dimmed" size="sm" maw={640}>
            {can.seeAllTokens(role) ? t("tokens.introAll") : t("tokens.introOwn")}
          </Text>
        </Stack>
        {mayCreate && (
          <Button leftSection={<IconPlus size={16} />} onClick={() => setCreateOpen(true)}>
            {t("tokens.create.open")}
          </Button>
        )}
      </Group>

      {!mayCreate && (
        <Alert color="gray" variant="light">
          {t("tokens.membersCannotCreate")}
        </Alert>
      )}

      <Paper withBorder p="md" radius="md">
        <Stack>
          <Group align="flex-end" gap="sm">
            <TextInput
              label={t("tokens.filters.name")}
              placeholder={t("tokens.filters.namePlaceholder")}
              leftSection={<IconSearch size={16} />}
              value={query}
              onChange={(e) => setQuery(e.currentTarget.value)}
              w={260}
              type="search"
            />
            <NativeSelect
              label={t("tokens.filters.status")}
              data={[
                { value: "", label: t("tokens.filters.any") },
                ...TOKEN_STATUSES.map((s) => ({ value: s, label: t(`status.${s}`) })),
              ]}
              value={status ?? ""}
              onChange={(e) => setStatus((e.currentTarget.value || null) as TokenStatus | null)}
              w={180}
            />
            {can.seeAllTokens(role) && (
              <NativeSelect
                label={t("tokens.filters.kind")}
                data={[
                  { value: "", label: t("tokens.filters.any") },
                  ...(["personal", "service"] as const).map((k) => ({ value: k, label: t(`kind.${k}`) })),
                ]}
                value={kind ?? ""}
                onChange={(e) => setKind((e.currentTarget.value || null) as TokenKind | null)}
                w={180}
              />
            )}
          </Group>

          {tokens.isPending ? (
            <PageLoader />
          ) : tokens.isError ? (
            <ErrorAlert error={tokens.error} />
          ) : tokens.data.items.length === 0 ? (
            <Center py="xl">
              <Stack align="center" gap="xs">
                <Text fw={600}>{filtered ? t("tokens.emptyFiltered") : t("tokens.empty")}</Text>
                {!filtered && mayCreate && (
                  <Text size="sm" c="dimmed">
                    {t("tokens.emptyHint")}
                  </Text>
                )}
              </Stack>
            </Center>
          ) : (
            <div aria-busy={tokens.isFetching}>
              <TokensTable orgId={org.id} tokens={tokens.data.items} menu={(token) => actions.menu(token, { showDetails: true })} />
            </div>
          )}

          {tokens.data && (cursors.length > 1 || tokens.data.nextCursor) && (
            <Group justify="space-between">
              <Text size="sm" c="dimmed">
                {t("common.page", { page: cursors.length })}
              </Text>
              <Group gap="xs">
                <Button
                  variant="default"
                  size="xs"
                  leftSection={<IconChevronLeft size={14} />}
                  disabled={cursors.length <= 1}
                  onClick={() => setCursors((c) => c.slice(0, -1))}
                >
                  {t("common.previous")}
                </Button>
                <Button
                  variant="default"
                  size="xs"
                  rightSection={<IconChevronRight size={14} />}
                  disabled={!tokens.data.nextCursor}
                  onClick={() => {
                    const next = tokens.data?.nextCursor;
                    if (next) setCursors((c) => [...c, next]);
                  }}
                >
                  {t("common.next")}
                </Button>
              </Group>
            </Group>
          )}
        </Stack>
      </Paper>

      <CreateTokenDialog opened={createOpen} onClose={() => setCreateOpen(false)} />
      {actions.dialogs}
    </Stack>
  );
}
