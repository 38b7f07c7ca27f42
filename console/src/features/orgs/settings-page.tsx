import { Button, Group, NativeSelect, NumberInput, Paper, Stack, Switch, Table, Text, TextInput, Title } from "@mantine/core";
import { schemaResolver, useForm } from "@mantine/form";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { z } from "../../lib/zod";
import type { Organization } from "../../api/types";
import { ErrorAlert } from "../../components/error-alert";
import { notifySuccess } from "../../components/notify";
import { applyServerFieldErrors } from "../../lib/forms";
import { can } from "../../lib/permissions";
import { LeaveOrgDialog } from "../members/leave-org-dialog";
import { useUpdateOrg } from "./api";
import { useCurrentOrg } from "./org-context";
import { ScopeCatalogue } from "./scope-catalogue";

/** Longest expiry the API accepts (ten years). */
const MAX_EXPIRY_DAYS = 3650;
/** `expiryNoticeDays` as typed: up to five whole numbers separated by commas, or nothing (no notices). */
const NOTICE_DAYS_RE = /^\s*(\d{1,4}\s*(,\s*\d{1,4}\s*){0,4})?$/;

function parseNoticeDays(text: string): number[] {
  return [
    ...new Set(
      text
        .split(",")
        .map((part) => part.trim())
        .filter((part) => part !== "")
        .map(Number),
    ),
  ];
}

export function SettingsPage() {
  const { t } = useTranslation();
  const { org, role } = useCurrentOrg();
  const edit = can.editSettings(role);
  return (
    <Stack gap="lg" maw={880}>
      <Stack gap={4}>
        <Title order={1} size="h2">
          {t("settings.title")}
        </Title>
        <Text c="dimmed" size="sm">
          {t("settings.yourRole", { role: t(`roles.${role}`) })}
        </Text>
      </Stack>
      {edit ? (
        <>
          <SettingsForm key={org.updatedAt} org={org} />
          <ScopeCatalogue orgId={org.id} />
        </>
      ) : (
        <Paper withBorder p="md" radius="md">
          <Stack gap="xs">
            <Text size="xs" c="dimmed" fw={600} tt="uppercase">
              {t("settings.name")}
            </Text>
            <Text fw={600}>{org.name}</Text>
            {role === "viewer" ? (
              <Text size="sm" c="dimmed">
                {t("settings.viewerNote")}
              </Text>
            ) : (
              <ReadOnlyPolicy org={org} />
            )}
          </Stack>
        </Paper>
      )}
      <LeaveOrgSection />
    </Stack>
  );
}

/** Every role may leave (viewers too, who have no members page); the server keeps the last owner. */
function LeaveOrgSection() {
  const { t } = useTranslation();
  const [open, setOpen] = useState(false);
  return (
    <Paper withBorder p="md" radius="md">
      <Group justify="space-between">
        <Text size="sm">{t("members.leaveFor")}</Text>
        <Button variant="outline" color="red" onClick={() => setOpen(true)}>
          {t("members.leave.open")}
        </Button>
      </Group>
      <LeaveOrgDialog opened={open} onClose={() => setOpen(false)} />
    </Paper>
  );
}

function ReadOnlyPolicy({ org }: { org: Organization }) {
  const { t } = useTranslation();
  const s = org.settings;
  const days = (n: number | null) => (n === null ? t("settings.none") : t("tokens.create.days", { count: n }));
  const yes = (b: boolean) => (b ? t("common.yes") : t("common.no"));
  const rows: [string, string][] = [
    [t("settings.tokenPrefix"), s.tokenPrefix],
    [t("settings.defaultExpiryDays"), days(s.defaultExpiryDays)],
    [t("settings.maxExpiryDays"), days(s.maxExpiryDays)],
    [t("settings.requireExpiry"), yes(s.requireExpiry)],
    [t("settings.membersCanSeeTokens"), yes(s.membersCanSeeTokens)],
    [t("settings.membersCanCreateTokens"), yes(s.membersCanCreateTokens)],
    [t("settings.revokeRequiresSuspension"), yes(s.revokeRequiresSuspension)],
    [t("notices.expiryNoticeDays"), s.expiryNoticeDays.length > 0 ? s.expiryNoticeDays.join(", ") : t("notices.off")],
    [t("notices.staleAfterDays"), s.staleAfterDays === null ? t("notices.off") : days(s.staleAfterDays)],
    [
      t("notices.autoDeactivateUnusedDays"),
      s.autoDeactivateUnusedDays === null ? t("notices.off") : days(s.autoDeactivateUnusedDays),
    ],
    [t("notices.onLeak"), t(`notices.onLeakValue.${s.onLeak}`)],
  ];
  return (
    <Table mt="sm" aria-label={t("settings.policy")}>
      <Table.Tbody>
        {rows.map(([label, value]) => (
          <Table.Tr key={label}>
            <Table.Th w="50%">{label}</Table.Th>
            <Table.Td>{value}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  );
}

function SettingsForm({ org }: { org: Organization }) {
  const { t } = useTranslation();
  const update = useUpdateOrg(org.id);
  const optionalDays = z.union([z.number().int().min(1).max(MAX_EXPIRY_DAYS), z.literal("")]);
  const schema = z
    .object({
      name: z.string().trim().min(1, t("validation.required")).max(100, t("validation.maxLength", { count: 100 })),
      tokenPrefix: z.string().regex(/^[a-z]{2,8}$/, t("settings.prefixRule")),
      defaultExpiryDays: optionalDays,
      maxExpiryDays: optionalDays,
      requireExpiry: z.boolean(),
      membersCanSeeTokens: z.boolean(),
      membersCanCreateTokens: z.boolean(),
      revokeRequiresSuspension: z.boolean(),
      expiryNoticeDays: z.string().regex(NOTICE_DAYS_RE, t("notices.expiryNoticeDaysRule")),
      staleAfterDays: optionalDays,
      autoDeactivateUnusedDays: optionalDays,
      onLeak: z.enum(["revoke", "suspend", "notify"]),
    })
    .refine(
      (v) => v.defaultExpiryDays === "" || v.maxExpiryDays === "" || v.defaultExpiryDays <= v.maxExpiryDays,
      { path: ["defaultExpiryDays"], message: t("settings.defaultBeyondMax") },
    );
  const s = org.settings;
  const form = useForm({
    initialValues: {
      name: org.name,
      tokenPrefix: s.tokenPrefix,
      defaultExpiryDays: (s.defaultExpiryDays ?? "") as number | "",
      maxExpiryDays: (s.maxExpiryDays ?? "") as number | "",
      requireExpiry: s.requireExpiry,
      membersCanSeeTokens: s.membersCanSeeTokens,
      membersCanCreateTokens: s.membersCanCreateTokens,
      revokeRequiresSuspension: s.revokeRequiresSuspension,
      expiryNoticeDays: s.expiryNoticeDays.join(", "),
      staleAfterDays: (s.staleAfterDays ?? "") as number | "",
      autoDeactivateUnusedDays: (s.autoDeactivateUnusedDays ?? "") as number | "",
      onLeak: s.onLeak,
    },
    validate: schemaResolver(schema, { sync: true }),
  });

  return (
    <Paper withBorder p="md" radius="md">
      <form
        noValidate
        onSubmit={form.onSubmit(async (v) => {
          try {
            await update.mutateAsync({
              name: v.name.trim(),
              settings: {
                tokenPrefix: v.tokenPrefix,
                defaultExpiryDays: v.defaultExpiryDays === "" ? null : v.defaultExpiryDays,
                maxExpiryDays: v.maxExpiryDays === "" ? null : v.maxExpiryDays,
                requireExpiry: v.requireExpiry,
                membersCanSeeTokens: v.membersCanSeeTokens,
                membersCanCreateTokens: v.membersCanCreateTokens,
                revokeRequiresSuspension: v.revokeRequiresSuspension,
                expiryNoticeDays: parseNoticeDays(v.expiryNoticeDays),
                staleAfterDays: v.staleAfterDays === "" ? null : v.staleAfterDays,
                autoDeactivateUnusedDays: v.autoDeactivateUnusedDays === "" ? null : v.autoDeactivateUnusedDays,
                onLeak: v.onLeak,
              },
            });
            notifySuccess(t("settings.saved"));
          } catch (error) {
            applyServerFieldErrors(form, error, {
              "settings.tokenPrefix": "tokenPrefix",
              "settings.defaultExpiryDays": "defaultExpiryDays",
              "settings.maxExpiryDays": "maxExpiryDays",
              "settings.expiryNoticeDays": "expiryNoticeDays",
              "settings.staleAfterDays": "staleAfterDays",
              "settings.autoDeactivateUnusedDays": "autoDeactivateUnusedDays",
            });
          }
        })}
      >
        <Stack>
          <Title order={2} size="h4">
            {t("settings.general")}
          </Title>
          <ErrorAlert error={update.error} />
          <TextInput label={t("settings.name")} required {...form.getInputProps("name")} />
          <TextInput
            label={t("settings.tokenPrefix")}
            description={t("settings.tokenPrefixHint")}
            required
            maxLength={8}
            w={260}
            {...form.getInputProps("tokenPrefix")}
          />
          <Title order={2} size="h4" mt="sm">
            {t("settings.policy")}
          </Title>
          <Group grow align="flex-start">
            <NumberInput
              label={t("settings.defaultExpiryDays")}
              description={t("settings.defaultExpiryHint")}
              min={1}
              max={MAX_EXPIRY_DAYS}
              allowDecimal={false}
              allowNegative={false}
              {...form.getInputProps("defaultExpiryDays")}
            />
            <NumberInput
              label={t("settings.maxExpiryDays")}
              description={t("settings.maxExpiryHint")}
              min={1}
              max={MAX_EXPIRY_DAYS}
              allowDecimal={false}
              allowNegative={false}
              {...form.getInputProps("maxExpiryDays")}
            />
          </Group>
          <Switch
            label={t("settings.requireExpiry")}
            description={t("settings.requireExpiryHint")}
            {...form.getInputProps("requireExpiry", { type: "checkbox" })}
          />
          <Switch
            label={t("settings.membersCanSeeTokens")}
            description={t("settings.membersCanSeeTokensHint")}
            {...form.getInputProps("membersCanSeeTokens", { type: "checkbox" })}
          />
          <Switch
            label={t("settings.membersCanCreateTokens")}
            description={t("settings.membersCanCreateTokensHint")}
            {...form.getInputProps("membersCanCreateTokens", { type: "checkbox" })}
          />
          <Switch
            label={t("settings.revokeRequiresSuspension")}
            description={t("settings.revokeRequiresSuspensionHint")}
            {...form.getInputProps("revokeRequiresSuspension", { type: "checkbox" })}
          />
          <Title order={2} size="h4" mt="sm">
            {t("notices.title")}
          </Title>
          <TextInput
            label={t("notices.expiryNoticeDays")}
            description={t("notices.expiryNoticeDaysHint")}
            w={360}
            {...form.getInputProps("expiryNoticeDays")}
          />
          <Group grow align="flex-start">
            <NumberInput
              label={t("notices.staleAfterDays")}
              description={t("notices.staleAfterDaysHint")}
              min={1}
              max={MAX_EXPIRY_DAYS}
              allowDecimal={false}
              allowNegative={false}
              {...form.getInputProps("staleAfterDays")}
            />
            <NumberInput
              label={t("notices.autoDeactivateUnusedDays")}
              description={t("notices.autoDeactivateUnusedDaysHint")}
              min={1}
              max={MAX_EXPIRY_DAYS}
              allowDecimal={false}
              allowNegative={false}
              {...form.getInputProps("autoDeactivateUnusedDays")}
            />
          </Group>
          <NativeSelect
            label={t("notices.onLeak")}
            description={t("notices.onLeakHint")}
            w={360}
            data={(["revoke", "suspend", "notify"] as const).map((value) => ({
              value,
              label: t(`notices.onLeakValue.${value}`),
            }))}
            {...form.getInputProps("onLeak")}
          />
          <Group justify="flex-end">
            <Button type="button" variant="default" onClick={() => form.reset()} disabled={!form.isDirty()}>
              {t("common.reset")}
            </Button>
            <Button type="submit" loading={update.isPending}>
              {t("common.save")}
            </Button>
          </Group>
        </Stack>
      </form>
    </Paper>
  );
}

