import { ActionIcon, Badge, Button, Group, Paper, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { schemaResolver, useForm } from "@mantine/form";
import { IconPlus, IconTrash } from "@tabler/icons-react";
import { useTranslation } from "react-i18next";
import { z } from "../../lib/zod";
import type { Scope } from "../../api/types";
import { ErrorAlert } from "../../components/error-alert";
import { PageLoader } from "../../components/loading";
import { notifySuccess } from "../../components/notify";
import { useReplaceProductScopes, useScopes } from "./api";

/** Scope names are `resource:action` (lowercase, digits, `_`, `-`, `.`), action may be `*`. */
const SCOPE_NAME = /^[a-z0-9][a-z0-9_.-]*:([a-z0-9][a-z0-9_.-]*|\*)$/;

/** The organisation's product scopes (editable) beside Tessera's built-in management scopes. */
export function ScopeCatalogue({ orgId }: { orgId: string }) {
  const { t } = useTranslation();
  const scopes = useScopes(orgId);
  return (
    <Paper withBorder p="md" radius="md">
      <Stack>
        <Stack gap={4}>
          <Title order={2} size="h4">
            {t("scopes.title")}
          </Title>
          <Text size="sm" c="dimmed">
            {t("scopes.intro")}
          </Text>
        </Stack>
        {scopes.isPending ? (
          <PageLoader />
        ) : scopes.isError ? (
          <ErrorAlert error={scopes.error} />
        ) : (
          <ScopeEditor
            key={JSON.stringify(scopes.data)}
            orgId={orgId}
            catalogue={scopes.data}
          />
        )}
      </Stack>
    </Paper>
  );
}

function ScopeEditor({ orgId, catalogue }: { orgId: string; catalogue: Scope[] }) {
  const { t } = useTranslation();
  const replace = useReplaceProductScopes(orgId);
  const management = catalogue.filter((s) => s.kind === "management");
  const reserved = new Set(management.map((s) => s.name));
  const schema = z.object({
    scopes: z
      .array(
        z.object({
          name: z
            .string()
            .trim()
            .regex(SCOPE_NAME, t("scopes.nameRule"))
            .refine((n) => !reserved.has(n), t("scopes.reserved")),
          description: z.string().max(200, t("validation.maxLength", { count: 200 })),
        }),
      )
      .refine((list) => new Set(list.map((s) => s.name.trim())).size === list.length, t("scopes.duplicate")),
  });
  const form = useForm({
    initialValues: {
      scopes: catalogue.filter((s) => s.kind === "product").map((s) => ({ name: s.name, description: s.description })),
    },
    validate: schemaResolver(schema, { sync: true }),
  });

  return (
    <form
      noValidate
      onSubmit={form.onSubmit((v) =>
        replace.mutate(
          v.scopes.map((s) => ({ name: s.name.trim(), description: s.description.trim() })),
          { onSuccess: () => notifySuccess(t("scopes.saved")) },
        ),
      )}
    >
      <Stack>
        <ErrorAlert error={replace.error} />
        <Text size="xs" fw={700} c="dimmed" tt="uppercase">
          {t("scopes.product")}
        </Text>
        {form.values.scopes.length === 0 && (
          <Text size="sm" c="dimmed">
            {t("scopes.noProduct")}
          </Text>
        )}
        {form.values.scopes.map((_, index) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: rows are edited in place; the index is their identity
          <Group key={index} align="flex-start" wrap="nowrap">
            <TextInput
              label={t("scopes.name")}
              placeholder="messages:send"
              className="mono"
              w={240}
              {...form.getInputProps(`scopes.${index}.name`)}
            />
            <TextInput
              label={t("scopes.description")}
              style={{ flex: 1 }}
              {...form.getInputProps(`scopes.${index}.description`)}
            />
            <ActionIcon
              mt={26}
              variant="subtle"
              color="red"
              aria-label={t("scopes.remove", { name: form.values.scopes[index]?.name || index + 1 })}
              onClick={() => form.removeListItem("scopes", index)}
            >
              <IconTrash size={16} />
            </ActionIcon>
          </Group>
        ))}
        {typeof form.errors.scopes === "string" && (
          <Text c="red" size="sm" role="alert">
            {form.errors.scopes}
          </Text>
        )}
        <Group justify="space-between">
          <Button
            variant="light"
            leftSection={<IconPlus size={14} />}
            onClick={() => form.insertListItem("scopes", { name: "", description: "" })}
          >
            {t("scopes.add")}
          </Button>
          <Button type="submit" loading={replace.isPending}>
            {t("scopes.save")}
          </Button>
        </Group>
        <Text size="xs" fw={700} c="dimmed" tt="uppercase" mt="sm">
          {t("scopes.management")}
        </Text>
        <Table aria-label={t("scopes.management")}>
          <Table.Tbody>
            {management.map((s) => (
              <Table.Tr key={s.name}>
                <Table.Td w={200}>
                  <span className="mono">{s.name}</span>
                </Table.Td>
                <Table.Td>
                  <Text size="sm">{s.description}</Text>
                </Table.Td>
                <Table.Td w={100}>
                  <Badge size="xs" variant="light" color="gray">
                    {t("scopes.builtIn")}
                  </Badge>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Stack>
    </form>
  );
}
