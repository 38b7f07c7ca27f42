import { Alert, Button, Center, Group, NativeSelect, Paper, Stack, Text, TextInput, Title } from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { IconPlus, IconSearch } from "@tabler/icons-react";
import { useEffect, useMemo, useState } from "react";
import { useTranslation } from "react-i18next";
import { TOKEN_STATUSES, type TokenKind, type TokenStatus, type TokenView } from "../../api/types";
import { CursorPager, useCursorStack } from "../../components/cursor-pager";
import { ErrorAlert } from "../../components/error-alert";
import { lazyDialog } from "../../components/lazy-dialog";
import { PageLoader } from "../../components/loading";
import { can } from "../../lib/permissions";
import { useCurrentOrg } from "../orgs/org-context";
import { Forbidden } from "../orgs/org-layout";
import { useMembers } from "../members/api";
import { TOKEN_SORTS, type TokenFilters, type TokenSort, useTokens } from "./api";
import { BulkActionBar } from "./bulk-actions";
import { useTokenActions } from "./token-actions";
import { type TableSelection, TokensTable } from "./tokens-table";

/** Choices of the "not used for" filter, in days. */
const STALE_DAYS = [7, 30, 90, 180, 365] as const;

const CreateTokenDialog = lazyDialog(
  () => import("./create-token-dialog").then((m) => m.CreateTokenDialog),
  (p) => p.opened,
);

/** Settings → API tokens. */
export function TokensPage() {
  const { org, role } = useCurrentOrg();
  if (!can.seeTokens(role, org.settings)) return <Forbidden />;
  return <TokensScreen />;
}

function TokensScreen() {
  const { t } = useTranslation();
  const { org, role } = useCurrentOrg();
  const [query, setQuery] = useState("");
  const [debouncedQuery] = useDebouncedValue(query.trim(), 300);
  const [status, setStatus] = useState<TokenStatus | null>(null);
  const [kind, setKind] = useState<TokenKind | null>(null);
  const [creator, setCreator] = useState<string | null>(null);
  const [unusedForDays, setUnusedForDays] = useState<number | null>(null);
  const [sort, setSort] = useState<TokenSort>("createdAt");
  const [order, setOrder] = useState<"asc" | "desc">("desc");
  // Selected rows, kept with their view so the bulk bar can name them and offer what applies.
  const [selected, setSelected] = useState<Map<string, TokenView>>(new Map());
  const seeAll = can.seeAllTokens(role);
  const members = useMembers(org.id, seeAll);
  // Cursor pagination: the cursors of the pages before the current one.
  const pages = useCursorStack();
  const [createOpen, setCreateOpen] = useState(false);
  const actions = useTokenActions();

  const filters: TokenFilters = {
    ...(debouncedQuery ? { q: debouncedQuery } : {}),
    ...(status ? { status } : {}),
    ...(kind ? { kind } : {}),
    ...(creator ? { createdById: creator } : {}),
    ...(unusedForDays ? { unusedForDays } : {}),
    ...(sort !== "createdAt" ? { sort } : {}),
    ...(order !== "desc" ? { order } : {}),
  };
  const tokens = useTokens(org.id, filters, pages.cursor);

  // Any filter change starts again from the first page.
  // biome-ignore lint/correctness/useExhaustiveDependencies: reset on filter change only
  useEffect(() => {
    pages.reset();
    setSelected(new Map());
  }, [debouncedQuery, status, kind, creator, unusedForDays, sort, order, org.id]);

  const selection: TableSelection = useMemo(
    () => ({
      selected: new Set(selected.keys()),
      toggle: (token) =>
        setSelected((current) => {
          const next = new Map(current);
          if (next.has(token.id)) next.delete(token.id);
          else next.set(token.id, token);
          return next;
        }),
      toggleAll: (tokens, on) =>
        setSelected((current) => {
          const next = new Map(current);
          for (const token of tokens) {
            if (on) next.set(token.id, token);
            else next.delete(token.id);
          }
          return next;
        }),
    }),
    [selected],
  );

  const mayCreate = can.createTokens(role, org.settings);
  const filtered = Boolean(debouncedQuery || status || kind || creator || unusedForDays);

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
              placeholder={t("tokens.filters.searchPlaceholder")}
              leftSection={<IconSearch size={16} />}
              value={query}
              onChange={(e) => setQuery(e.currentTarget.value)}
              w={240}
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
              w={150}
            />
            {seeAll && (
              <NativeSelect
                label={t("tokens.filters.kind")}
                data={[
                  { value: "", label: t("tokens.filters.any") },
                  ...(["personal", "service"] as const).map((k) => ({ value: k, label: t(`kind.${k}`) })),
                ]}
                value={kind ?? ""}
                onChange={(e) => setKind((e.currentTarget.value || null) as TokenKind | null)}
                w={150}
              />
            )}
            {seeAll && (
              <NativeSelect
                label={t("tokens.filters.creator")}
                data={[
                  { value: "", label: t("tokens.filters.anyone") },
                  ...(members.data ?? []).map((m) => ({ value: m.userId, label: m.name })),
                ]}
                value={creator ?? ""}
                onChange={(e) => setCreator(e.currentTarget.value || null)}
                w={180}
              />
            )}
            <NativeSelect
              label={t("tokens.filters.unused")}
              data={[
                { value: "", label: t("tokens.filters.any") },
                ...STALE_DAYS.map((d) => ({ value: String(d), label: t("tokens.filters.unusedDays", { count: d }) })),
              ]}
              value={unusedForDays ? String(unusedForDays) : ""}
              onChange={(e) => setUnusedForDays(Number(e.currentTarget.value) || null)}
              w={170}
            />
            <NativeSelect
              label={t("tokens.filters.sort")}
              data={TOKEN_SORTS.map((s) => ({ value: s, label: t(`tokens.sort.${s}`) }))}
              value={sort}
              onChange={(e) => setSort(e.currentTarget.value as TokenSort)}
              w={170}
            />
            <NativeSelect
              label={t("tokens.filters.order")}
              data={[
                { value: "desc", label: t("tokens.sort.desc") },
                { value: "asc", label: t("tokens.sort.asc") },
              ]}
              value={order}
              onChange={(e) => setOrder(e.currentTarget.value === "asc" ? "asc" : "desc")}
              w={150}
            />
          </Group>

          <BulkActionBar orgId={org.id} tokens={[...selected.values()]} onClear={() => setSelected(new Map())} />

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
              <TokensTable
                orgId={org.id}
                tokens={tokens.data.items}
                menu={(token) => actions.menu(token, { showDetails: true })}
                selection={selection}
              />
            </div>
          )}

          <CursorPager stack={pages} nextCursor={tokens.data?.nextCursor} />
        </Stack>
      </Paper>

      <CreateTokenDialog opened={createOpen} onClose={() => setCreateOpen(false)} />
      {actions.dialogs}
    </Stack>
  );
}
