import { Button, Checkbox, Group, Radio, ScrollArea, Stack, Text, Textarea, TextInput } from "@mantine/core";
import { DatePickerInput, TimeInput } from "@mantine/dates";
import { schemaResolver, useForm } from "@mantine/form";
import { useMemo } from "react";
import { useTranslation } from "react-i18next";
import type { Scope, TokenView } from "../../api/types";
import { Dialog } from "../../components/dialog";
import { ErrorAlert } from "../../components/error-alert";
import { PageLoader } from "../../components/loading";
import { notifySuccess } from "../../components/notify";
import { useFormat } from "../../lib/format";
import { applyServerFieldErrors } from "../../lib/forms";
import { can, grantableScopes } from "../../lib/permissions";
import { z } from "../../lib/zod";
import { useScopes } from "../orgs/api";
import { useCurrentOrg } from "../orgs/org-context";
import { type TokenUpdate, useUpdateToken } from "./api";
import { expiryPolicy } from "./expiry";
import { LimitsFields, limitsChanges, limitsOf, limitsPayload } from "./limits-fields";

/** "Edit token": everything SPEC §4 lets PATCH change, offering only what the API would accept. */
export function EditTokenDialog({ token, onClose }: { token: TokenView | null; onClose: () => void }) {
  const { t } = useTranslation();
  const { org } = useCurrentOrg();
  const scopes = useScopes(org.id, token !== null);
  return (
    <Dialog opened={token !== null} onClose={onClose} title={t("tokens.edit.title")} size="lg">
      {token &&
        (scopes.isPending ? (
          <PageLoader />
        ) : scopes.isError ? (
          <ErrorAlert error={scopes.error} />
        ) : (
          <EditTokenForm key={token.id} token={token} catalogue={scopes.data} onDone={onClose} />
        ))}
    </Dialog>
  );
}

const pad = (n: number) => String(n).padStart(2, "0");
const localDay = (d: Date) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
const localTime = (d: Date) => `${pad(d.getHours())}:${pad(d.getMinutes())}`;

function EditTokenForm({ token, catalogue, onDone }: { token: TokenView; catalogue: Scope[]; onDone: () => void }) {
  const { t } = useTranslation();
  const format = useFormat();
  const { org, role, me } = useCurrentOrg();
  const update = useUpdateToken(org.id);
  const policy = useMemo(() => expiryPolicy(org.settings), [org.settings]);
  const mayAddScopes = can.addScopes(role, me.user.id, token);
  const mayExtend = can.extendExpiry(role, org.settings);

  // Scopes it holds stay listed (to be removed); others only when the caller may add them.
  const offered = useMemo(() => {
    const names = new Set(token.scopes);
    if (mayAddScopes) for (const s of grantableScopes(role, catalogue)) names.add(s.name);
    const described = new Map(catalogue.map((s) => [s.name, s.description]));
    return [...names].sort().map((name) => ({ name, description: described.get(name) ?? "" }));
  }, [token.scopes, mayAddScopes, role, catalogue]);

  const expires = token.expiresAt ? new Date(token.expiresAt) : null;
  const schema = z
    .object({
      name: z.string().trim().min(1, t("validation.required")).max(100, t("validation.maxLength", { count: 100 })),
      description: z.string().max(500, t("validation.maxLength", { count: 500 })),
      scopes: z.array(z.string()),
      allowedIps: z.string(),
      metadata: z.string().refine((v) => {
        if (!v.trim()) return true;
        try {
          const parsed: unknown = JSON.parse(v);
          return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed);
        } catch {
          return false;
        }
      }, t("tokens.edit.metadataInvalid")),
      expiry: z.enum(["keep", "custom", "never"]),
      day: z.string().nullable(),
      time: z.string(),
    })
    .refine((v) => v.expiry !== "custom" || Boolean(v.day), { path: ["day"], message: t("tokens.create.dateRequired") });

  const form = useForm({
    initialValues: {
      name: token.name,
      description: token.description ?? "",
      scopes: token.scopes,
      allowedIps: (token.allowedIps ?? []).join("\n"),
      limits: limitsOf(token),
      metadata: token.metadata && Object.keys(token.metadata).length > 0 ? JSON.stringify(token.metadata, null, 2) : "",
      expiry: "keep" as "keep" | "custom" | "never",
      day: expires ? localDay(expires) : (null as string | null),
      time: expires ? localTime(expires) : "23:59",
    },
    validate: schemaResolver(schema, { sync: true }),
  });

  const submit = form.onSubmit(async (v) => {
    const limits = limitsPayload(v.limits, t);
    if (!limits.ok) return form.setFieldError("limits", limits.error);
    const changes: TokenUpdate = limitsChanges(token, limits);
    if (v.name.trim() !== token.name) changes.name = v.name.trim();
    if (v.description.trim() !== (token.description ?? "")) changes.description = v.description.trim() || null;
    if ([...v.scopes].sort().join() !== [...token.scopes].sort().join()) changes.scopes = v.scopes;
    const ips = v.allowedIps
      .split(/[\s,]+/)
      .map((s) => s.trim())
      .filter(Boolean);
    if (ips.join() !== (token.allowedIps ?? []).join()) changes.allowedIps = ips;
    const metadata = v.metadata.trim() ? (JSON.parse(v.metadata) as Record<string, unknown>) : {};
    if (JSON.stringify(metadata) !== JSON.stringify(token.metadata ?? {})) changes.metadata = metadata;
    if (v.expiry === "never") changes.expiresAt = null;
    if (v.expiry === "custom" && v.day) changes.expiresAt = new Date(`${v.day}T${v.time || "23:59"}`).toISOString();
    if (Object.keys(changes).length === 0) return onDone();
    try {
      await update.mutateAsync({ tokenId: token.id, ...changes });
      notifySuccess(t("tokens.edit.saved", { name: v.name.trim() }));
      onDone();
    } catch (error) {
      applyServerFieldErrors(form, error, { expiresAt: "day", rateLimits: "limits", credits: "limits" });
    }
  });

  // Shortening is always allowed; a later date or "never" only within the policy (SPEC §4).
  const latest = mayExtend ? policy.maxDate : expires;
  const offerNever = token.expiresAt !== null && mayExtend && policy.allowNever;

  return (
    <form onSubmit={submit} noValidate>
      <Stack>
        <ErrorAlert error={update.error} title={t("tokens.edit.failed")} />
        <TextInput label={t("tokens.fields.name")} required data-autofocus autoFocus {...form.getInputProps("name")} />
        <Textarea label={t("tokens.fields.description")} autosize minRows={2} maxRows={4} {...form.getInputProps("description")} />
        <Checkbox.Group
          label={t("tokens.fields.scopes")}
          description={mayAddScopes ? t("tokens.edit.scopesHint") : t("tokens.edit.scopesNarrowOnly")}
          {...form.getInputProps("scopes")}
        >
          <ScrollArea.Autosize mah={200} mt="xs" type="auto" offsetScrollbars>
            <Stack gap={6}>
              {offered.map((scope) => (
                <Checkbox
                  key={scope.name}
                  value={scope.name}
                  label={<span className="mono">{scope.name}</span>}
                  description={scope.description || undefined}
                />
              ))}
            </Stack>
          </ScrollArea.Autosize>
        </Checkbox.Group>
        <Textarea
          label={t("tokens.fields.allowedIps")}
          description={t("tokens.edit.allowedIpsHint")}
          autosize
          minRows={2}
          maxRows={5}
          className="mono-input"
          {...form.getInputProps("allowedIps")}
        />
        <LimitsFields
          value={form.values.limits}
          onChange={(limits) => form.setFieldValue("limits", limits)}
          error={typeof form.errors.limits === "string" ? form.errors.limits : undefined}
        />
        <Textarea
          label={t("tokens.fields.metadata")}
          description={t("tokens.edit.metadataHint")}
          autosize
          minRows={2}
          maxRows={8}
          className="mono-input"
          {...form.getInputProps("metadata")}
        />
        <Radio.Group
          label={t("tokens.create.expiry")}
          description={mayExtend ? undefined : t("tokens.edit.shortenOnly")}
          {...form.getInputProps("expiry")}
        >
          <Group mt="xs" gap="md">
            <Radio value="keep" label={t("tokens.edit.keepExpiry", { date: token.expiresAt ? format.dateTime(token.expiresAt) : t("common.never") })} />
            <Radio value="custom" label={t("tokens.edit.newExpiry")} />
            {offerNever && <Radio value="never" label={t("tokens.create.never")} />}
          </Group>
        </Radio.Group>
        {form.values.expiry === "custom" && (
          <Group align="flex-start" gap="sm" grow>
            <DatePickerInput
              label={t("tokens.create.expiryDate")}
              placeholder={t("tokens.create.pickDate")}
              minDate={new Date()}
              maxDate={latest ?? undefined}
              required
              valueFormat="LL"
              {...form.getInputProps("day")}
            />
            <TimeInput label={t("tokens.create.expiryTime")} required {...form.getInputProps("time")} />
          </Group>
        )}
        {form.values.expiry === "custom" && latest && (
          <Text size="xs" c="dimmed">
            {t("tokens.create.maxExpiry", { date: format.dateTime(latest.toISOString()) })}
          </Text>
        )}
        <Group justify="flex-end" mt="sm">
          <Button variant="default" onClick={onDone}>
            {t("common.cancel")}
          </Button>
          <Button type="submit" loading={update.isPending}>
            {t("tokens.edit.submit")}
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
